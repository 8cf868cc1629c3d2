#!/usr/bin/env bash
# The many-machine recipe, checked on one machine: a subset of the CPU suite run unsplit and
# as 3 cargo-nextest hash partitions (each its own results folder, as on its own machine),
# each partition exported as a Parquet shard, the shards imported into a fresh database, and
# the rows compared with the unsplit run's (outcomes, categories, details, metric names; not
# timings). Importing a shard a second time must change nothing. Exit 0 when all hold. Built with
# the test command's features (cpu,openvino,qnn,webgpu,webnn), so it reuses that build; the filter keeps cpu.
#   bash scripts/shards.sh [MODEL ...]     (default: bert t5 llama vit clip whisper, key models of the smoke tier)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo-nextest >/dev/null || { echo "error: cargo-nextest is needed (cargo install cargo-nextest --locked)" >&2; exit 1; }
models=("${@:-bert t5 llama vit clip whisper}")
models=(${models[*]})
filter="test(/^cpu::($(IFS='|'; echo "${models[*]}"))::/)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
hfzoo() { cargo run -q -p hfzoo -- "$@"; }
suite() {  # suite FOLDER [nextest args]: one "machine"
  local folder="$1"; shift
  HFZOO_RESULTS_DIR="$work/$folder" HFZOO_RUN_ID=shard-check \
    cargo nextest run -p generated --features cpu,openvino,qnn,webgpu,webnn -E "$filter" --no-tests=pass --no-fail-fast --hide-progress-bar --status-level fail "$@"
}
echo "==> unsplit: ${models[*]}" >&2
suite unsplit
for k in 1 2 3; do
  echo "==> partition hash:$k/3" >&2
  suite "part$k" --partition "hash:$k/3"
  if [ -f "$work/part$k/results.duckdb" ] || [ -d "$work/part$k/spool" ]; then
    HFZOO_RESULTS_DIR="$work/part$k" hfzoo results export "$work/shard$k"
  fi
done
echo "==> merge" >&2
hfzoo results import --db "$work/merged.duckdb" "$work"/shard*
HFZOO_RESULTS_DIR="$work/unsplit" hfzoo results rows --run shard-check > "$work/unsplit.rows"
hfzoo results rows --db "$work/merged.duckdb" --run shard-check > "$work/merged.rows"
if ! diff -u "$work/unsplit.rows" "$work/merged.rows"; then
  echo "error: the merged shards differ from the unsplit run (diff above)" >&2
  exit 1
fi
hfzoo results import --db "$work/merged.duckdb" "$work"/shard* > "$work/again.txt"
if grep -v ' 0 new result(s)$' "$work/again.txt"; then
  echo "error: importing the shards a second time added results" >&2
  exit 1
fi
echo "shards ok: $(wc -l < "$work/merged.rows") row(s) from 3 partitions equal the unsplit run; a second import added nothing" >&2
