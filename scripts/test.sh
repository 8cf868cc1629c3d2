#!/usr/bin/env bash
# The test command: set up, check generated code is fresh, then every test: generator unit,
# snapshot and check tests, runtime unit and integration tests, and the generated CPU suite
# (real inference for every model type), the OpenVINO suite (the same types' ONNX files on
# OpenVINO's CPU plugin, strict both ways against metadata's openvino expectations), the QNN suite
# (skipped with its reason on a machine without a Qualcomm HTP), then the shard recipe on a subset
# (scripts/shards.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export INSTA_UPDATE=no  # snapshots are reviewed by people: tests never accept them
echo "==> generated code freshness (cargo run -p generator -- --check)" >&2
cargo run -q -p generator -- --check
echo "==> artifacts: every missing one built by the batch exporter, one process per CPU (cargo run -p runtime -- export --hardware cpu,openvino)" >&2
cargo run -q -p runtime -- export --hardware cpu,openvino
echo "==> tests" >&2
cargo test -p export-request -p generator -p runtime -p generated --features generated/cpu,generated/openvino,generated/qnn
echo "==> the many-machine recipe: 3 nextest partitions merged equal one run (scripts/shards.sh)" >&2
if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "==> installing cargo-nextest from crates.io" >&2
  cargo install cargo-nextest --locked
fi
bash scripts/shards.sh
