#!/usr/bin/env bash
# The main job's survival of a cell that kills its process, checked on a few CPU cells with the
# main job's own column functions (scripts/columns.sh): one cell is made to abort
# (HFZOO_TEST_INJECT_ABORT) in the middle of a column run in one process, as the main job runs
# every column but WebGPU; every other cell of the column must be recorded, the aborted one
# `failed` in category `crash` with its signal and last lines; and the report of the run, whose
# plan also holds a cell that never ran (a run cut short), must name that cell under "Did not
# run" and give no pass share for its column. Then the same with a column run a process per
# cell, as the WebGPU column is. Last, a cell that outlives its limit (HFZOO_CELL_SECONDS; here
# vit slowed on purpose by HFZOO_TEST_INJECT_DELAY) in a column in one process: recorded
# `failed` in category `timeout`, every other cell recorded. Then a cell whose metadata expects
# the engine itself to fail (parakeet_tdt on OpenVINO, whose run leaves OpenVINO broken for later
# cells of its process), made to abort: it must run in a process of its own before the column,
# and the shared process must not die. Exit 0 when all hold. Built with the
# test command's features, so it reuses that build.
#   bash scripts/crash-check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo-nextest >/dev/null || { echo "error: cargo-nextest is needed (cargo install cargo-nextest --locked)" >&2; exit 1; }
features=cpu,openvino,qnn,webgpu,webnn
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HFZOO_RESULTS_DIR="$work/results" HFZOO_TEST_INJECT_ABORT=llama:cpu
source scripts/columns.sh
fail() { echo "error: $*" >&2; echo "--- report ---" >&2; cat "$work/report.md" >&2 2>/dev/null || true; exit 1; }
cells=(cpu::bert::tests::matches_reference cpu::llama::tests::matches_reference cpu::vit::tests::matches_reference)

echo "==> a column of bert, llama, vit on cpu in one process, llama made to abort it" >&2
export HFZOO_RUN_ID="crash-check-$$-one-process"
# A cell the run planned but never reached (as when a run is cut short).
plan_column "$features" 'test(=cpu::t5::tests::matches_reference)' >/dev/null
status=0
in_process_column check "$features" 'test(/^cpu::(bert|llama|vit)::tests::matches_reference$/)' "${cells[@]}"
[ "$status" -ne 0 ] || fail "the column passed although one of its cells aborted"
hfzoo report --run "$HFZOO_RUN_ID" > "$work/report.md"
grep -q '^| bert (key) | passed' "$work/report.md" || fail "bert has no pass recorded"
grep -q '^| vit (key) | passed' "$work/report.md" || fail "vit has no pass recorded"
grep -q '^| llama (key) | failed' "$work/report.md" || fail "the aborted cell is not recorded as failed"
grep -E '^- llama on cpu: .*(SIGABRT|signal 6)' "$work/report.md" >/dev/null || fail "the aborted cell's record does not name its signal"
grep -q '^| t5 | did not run' "$work/report.md" || fail "the planned cell that never ran is not shown as such"
grep -q '^- t5 on cpu$' "$work/report.md" || fail "the planned cell that never ran is not listed under Did not run"
grep -q '^cpu: INCOMPLETE: 1 of 4 planned cells have no record' "$work/report.md" || fail "the incomplete column is given a pass share"

echo "==> the same column a process per cell (as the WebGPU column runs)" >&2
export HFZOO_RUN_ID="crash-check-$$-per-cell"
status=0
nextest_column check "$features" 'test(/^cpu::(bert|llama|vit)::tests::matches_reference$/)'
[ "$status" -ne 0 ] || fail "the column passed although one of its cells aborted"
hfzoo report --run "$HFZOO_RUN_ID" > "$work/report.md"
grep -q '^| bert (key) | passed' "$work/report.md" && grep -q '^| vit (key) | passed' "$work/report.md" || fail "a cell beside the aborted one has no pass recorded"
grep -E '^- llama on cpu: .*(SIGABRT|signal 6)' "$work/report.md" >/dev/null || fail "the aborted cell's record does not name its signal"
grep -q '^cpu: 2 of 3 model types ran' "$work/report.md" || fail "the complete column has no pass share"

echo "==> the column in one process again, vit slowed past the cell limit (HFZOO_CELL_SECONDS=20, 20 s a timed run)" >&2
export HFZOO_RUN_ID="crash-check-$$-limit" HFZOO_CELL_SECONDS=20 HFZOO_TEST_INJECT_DELAY=vit:20000
unset HFZOO_TEST_INJECT_ABORT
status=0
in_process_column check "$features" 'test(/^cpu::(bert|llama|vit)::tests::matches_reference$/)' "${cells[@]}"
unset HFZOO_CELL_SECONDS HFZOO_TEST_INJECT_DELAY
[ "$status" -ne 0 ] || fail "the column passed although one of its cells ran past its limit"
hfzoo report --run "$HFZOO_RUN_ID" > "$work/report.md"
grep -q '^| bert (key) | passed' "$work/report.md" && grep -q '^| llama (key) | passed' "$work/report.md" || fail "a cell beside the slow one has no pass recorded"
grep -q '^| vit (key) | failed' "$work/report.md" || fail "the cell past its limit is not recorded as failed"
grep -E '^- vit on cpu: .*HFZOO_CELL_SECONDS' "$work/report.md" >/dev/null || fail "the cell past its limit does not say so"
echo "==> a column in one process with parakeet_tdt, whose metadata expects OpenVINO itself to fail, made to abort: it runs in a process of its own first, and the shared process never meets it" >&2
export HFZOO_RUN_ID="crash-check-$$-engine" HFZOO_TEST_INJECT_ABORT=parakeet_tdt:openvino
status=0
in_process_column check "$features" 'test(/^(openvino::parakeet_tdt|cpu::(bert|vit))::tests::matches_reference$/)' \
  openvino::parakeet_tdt::tests::matches_reference cpu::bert::tests::matches_reference cpu::vit::tests::matches_reference \
  > "$work/engine.log" 2>&1
unset HFZOO_TEST_INJECT_ABORT
cat "$work/engine.log" >&2
grep -q "1 cell(s) whose engine is expected to fail, each in a process of its own before the column: openvino::parakeet_tdt" "$work/engine.log" \
  || fail "parakeet_tdt on openvino did not run in a process of its own before the column"
! grep -q "the test process died" "$work/engine.log" || fail "the shared process met the cell whose engine is expected to fail, and died with it"
hfzoo report --run "$HFZOO_RUN_ID" > "$work/report.md"
grep -q '^| bert (key) | passed' "$work/report.md" && grep -q '^| vit (key) | passed' "$work/report.md" || fail "a cell of the shared process has no pass recorded"
grep -E '^- parakeet_tdt on openvino: .*(SIGABRT|signal 6)' "$work/report.md" >/dev/null || fail "the isolated cell's abort is not recorded with its signal"
echo "crash check: in one process and a process per cell, the aborted cell is recorded as a crash with its signal, every other cell of its column is recorded, and the report names the planned cell that never ran; a cell past its limit is recorded as a timeout and its column goes on; a cell whose engine is expected to fail runs in a process of its own" >&2
