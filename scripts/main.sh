#!/usr/bin/env bash
# The main job, the whole zoo (docs/tiers.md): set up, regenerate, export every missing artifact
# (into the user-level cache every checkout shares), run the CPU and OpenVINO suites on every
# model type (and QNN, skipped with its reason where no Qualcomm HTP exists), print the
# compatibility matrix and write the HTML report. Exits non-zero when any cell disagrees with
# its metadata expectation. Prints the wall time of each phase at the end.
#   bash scripts/main.sh          incremental: a cell whose verdict digest (request, artifact
#                                 content, exporter and packages, parity rule, engine, its version
#                                 and settings, check code) has a stored verdict is recorded
#                                 `reused`, naming the run that measured it; the rest run
#   bash scripts/main.sh --full   every cell runs again
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/phases.sh
export HFZOO_REUSE_VERDICTS=1
for arg in "$@"; do
  case "$arg" in
    --full) export HFZOO_REUSE_VERDICTS=0 ;;
    *) echo "error: unknown argument \`$arg\` (usage: bash scripts/main.sh [--full])" >&2; exit 2 ;;
  esac
done

phase "set-up (scripts/setup.sh)"
bash scripts/setup.sh

phase "build (generator and runtime)"
# One invocation per crate, as the later phases run them: building them together would unify
# their dependencies' features differently and compile a third variant of DuckDB's bindings.
cargo build -q -p generator
cargo build -q -p hfzoo

phase "regenerate generated/ from metadata/ and templates/"
cargo run -q -p generator -- --all

phase "build (the generated suites)"
cargo test -q -p generated --features cpu,openvino,qnn --no-run

phase "artifacts: every missing one (cargo run -p hfzoo -- export --hardware cpu,openvino)"
cargo run -q -p hfzoo -- export --hardware cpu,openvino

phase "whole zoo: CPU, OpenVINO and QNN suites (cargo test -p generated --features cpu,openvino,qnn; reuse $HFZOO_REUSE_VERDICTS)"
# A failing model must not hide the matrix: remember the status, report, then exit with it.
status=0
cargo test -p generated --features cpu,openvino,qnn || status=$?

phase "report: compatibility matrix and HTML (cargo run -p hfzoo -- report)"
cargo run -q -p hfzoo -- report
cargo run -q -p hfzoo -- report --format html --output results/report.html
echo "==> HTML report of this run: $(pwd)/results/report.html" >&2
exit "$status"
