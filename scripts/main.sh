#!/usr/bin/env bash
# The main job: set up, regenerate, run the CPU and OpenVINO suites for real (and QNN, skipped with
# its reason where no Qualcomm HTP exists), print the compatibility matrix.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
echo "==> regenerating generated/ from metadata/ and templates/" >&2
cargo run -q -p generator -- --all
echo "==> artifacts: every missing one built by the batch exporter, one process per CPU (cargo run -p runtime -- export --hardware cpu,openvino)" >&2
cargo run -q -p runtime -- export --hardware cpu,openvino
echo "==> CPU, OpenVINO and QNN suites: real inference, parity with eager PyTorch, measurements" >&2
# A failing model must not hide the matrix: remember the status, report, then exit with it.
status=0
cargo test -p generated --features cpu,openvino,qnn || status=$?
echo "==> compatibility matrix of this run (from results/results.duckdb)" >&2
cargo run -q -p runtime -- report
cargo run -q -p runtime -- report --format html --output results/report.html
echo "==> HTML report of this run: $(pwd)/results/report.html" >&2
exit "$status"
