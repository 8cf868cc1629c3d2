#!/usr/bin/env bash
# The main job's survival of a cell that kills its process, checked on a few CPU cells: one
# cell is made to abort (HFZOO_TEST_INJECT_ABORT) in the middle of a column run as the main
# job runs its columns (nextest, a process per test, profile `zoo`). Every other cell of the
# column must be recorded, the aborted one `failed` in category `crash` with its signal and
# last lines (`hfzoo crashes`), and the report of the run, whose plan also holds a cell that
# never ran (a run cut short), must name that cell under "Did not run" and give no pass share
# for its column. Exit 0 when all hold. Built with the test command's features, so it reuses
# that build.
#   bash scripts/crash-check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo-nextest >/dev/null || { echo "error: cargo-nextest is needed (cargo install cargo-nextest --locked)" >&2; exit 1; }
features=cpu,openvino,qnn,webgpu,webnn
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HFZOO_RESULTS_DIR="$work/results" HFZOO_RUN_ID="crash-check-$$"
hfzoo() { cargo run -q -p hfzoo -- "$@"; }
filter='test(/^cpu::(bert|llama|vit)::tests::matches_reference$/)'
fail() { echo "error: $*" >&2; echo "--- report ---" >&2; cat "$work/report.md" >&2 2>/dev/null || true; exit 1; }

cargo nextest list -p generated --features "$features" -E "$filter" --message-format json --cargo-quiet > "$work/list.json"
hfzoo plan --run "$HFZOO_RUN_ID" --from "$work/list.json"
# A cell the run planned but never reached (as when a run is cut short).
cargo nextest list -p generated --features "$features" -E 'test(/^cpu::t5::tests::matches_reference$/)' --message-format json --cargo-quiet > "$work/cut.json"
hfzoo plan --run "$HFZOO_RUN_ID" --from "$work/cut.json"

echo "==> a column of bert, llama, vit on cpu with llama made to abort its process" >&2
status=0
HFZOO_TEST_INJECT_ABORT=llama:cpu cargo nextest run -p generated --features "$features" -E "$filter" --profile zoo \
  --no-fail-fast --show-progress none --status-level fail --final-status-level none --cargo-quiet -j 1 || status=$?
[ "$status" -ne 0 ] || fail "the column passed although one of its cells aborted"
hfzoo crashes --run "$HFZOO_RUN_ID" --junit target/nextest/zoo/junit.xml
hfzoo report --run "$HFZOO_RUN_ID" > "$work/report.md"

grep -q '^| bert (key) | passed' "$work/report.md" || fail "bert, before the aborted cell, has no pass recorded"
grep -q '^| vit (key) | passed' "$work/report.md" || fail "vit, after the aborted cell, has no pass recorded"
grep -q '^| llama (key) | failed' "$work/report.md" || fail "the aborted cell is not recorded as failed"
grep -E '^- llama on cpu: .*(SIGABRT|signal 6)' "$work/report.md" >/dev/null || fail "the aborted cell's record does not name its signal"
grep -q '^| t5 | did not run' "$work/report.md" || fail "the planned cell that never ran is not shown as such"
grep -q '^- t5 on cpu$' "$work/report.md" || fail "the planned cell that never ran is not listed under Did not run"
grep -q '^cpu: INCOMPLETE: 1 of 4 planned cells have no record' "$work/report.md" || fail "the incomplete column is given a pass share"
echo "crash check: the aborted cell is recorded as a crash with its signal, every other cell of its column is recorded, and the report names the planned cell that never ran" >&2
