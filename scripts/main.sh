#!/usr/bin/env bash
# The main job, the whole zoo (docs/tiers.md): set up, regenerate, export every missing artifact
# (into the user-level cache every checkout shares), run the suites of every backend on every
# model type (absent hardware is skipped with its reason), print the
# compatibility matrix and write the HTML report. Exits non-zero when any cell disagrees with
# its metadata expectation. Prints the wall time of each phase at the end.
#   bash scripts/main.sh          incremental: a cell whose verdict digest (request, artifact
#                                 content, exporter and packages, parity rule, engine, its version
#                                 and settings, check code) has a stored verdict is recorded
#                                 `reused`, naming the run that measured it; the rest run
#   bash scripts/main.sh --full   every cell runs again
#   bash scripts/main.sh --skip-webgpu
#                                 without the WebGPU column (headless Chromium: about 20 s a model
#                                 on a software adapter, hours cold on 2 cores; incremental like
#                                 the others once its verdicts are stored; docs/hardware.md)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/phases.sh
export HFZOO_REUSE_VERDICTS=1
with_webgpu=1
for arg in "$@"; do
  case "$arg" in
    --full) export HFZOO_REUSE_VERDICTS=0 ;;
    --skip-webgpu) with_webgpu=0 ;;
    *) echo "error: unknown argument \`$arg\` (usage: bash scripts/main.sh [--full] [--skip-webgpu])" >&2; exit 2 ;;
  esac
done

phase "set-up (scripts/setup.sh)"
bash scripts/setup.sh

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "==> installing cargo-nextest from crates.io (the zoo runs a process per test)" >&2
  cargo install cargo-nextest --locked
fi

phase "build (generator and runtime)"
# One invocation per crate, as the later phases run them: building them together would unify
# their dependencies' features differently and compile a third variant of DuckDB's bindings.
cargo build -q -p generator
cargo build -q -p hfzoo

phase "regenerate generated/ from metadata/ and templates/"
cargo run -q -p generator -- --all

phase "build (the generated suites)"
cargo test -q -p generated --features all --no-run

phase "artifacts: every missing one (cargo run -p hfzoo -- export --hardware cpu,openvino)"
cargo run -q -p hfzoo -- export --hardware cpu,openvino

# One run id for every phase below, so that the report of the latest run covers them all.
export HFZOO_RUN_ID="${HFZOO_RUN_ID:-main-$(date -u +%Y%m%dT%H%M%SZ)-$$}"
status=0
source scripts/columns.sh

# Every hardware feature: absent hardware (CUDA, ROCm, MPS, QNN, WebNN here) is recorded
# `skipped` with its detected reason, so the matrix shows all eight columns. A failing model
# must not hide the matrix: remember the status, report, then exit with it.
phase "whole zoo: every backend but WebGPU (one process, resumed after a crash; reuse $HFZOO_REUSE_VERDICTS)"
in_process_column rest all 'not test(/^webgpu::/)' --skip webgpu::

if [ "$with_webgpu" = 1 ]; then
  # A process per cell, each with its own browser.
  phase "whole zoo: WebGPU column (nextest, a process per cell; reuse $HFZOO_REUSE_VERDICTS)"
  nextest_column webgpu all 'test(/^webgpu::/)'
fi

phase "report: compatibility matrix and HTML (cargo run -p hfzoo -- report)"
cargo run -q -p hfzoo -- report
cargo run -q -p hfzoo -- report --format html --output results/report.html
echo "==> HTML report of this run: $(pwd)/results/report.html" >&2
exit "$status"
