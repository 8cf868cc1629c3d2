#!/usr/bin/env bash
# Benchmark of the generator's two speed targets:
#   from empty: `--all` with generated/src absent renders and writes every file: at most 1.5 s;
#   no-op:      `--all` when nothing changed renders nothing and writes nothing: at most 0.3 s.
# The generator is built as `cargo run -p generator` builds it (dev profile) and its binary is
# timed: with generated/src absent, `cargo run` itself cannot start (the `generated` member has no
# lib.rs), so the binary is what both measurements time; the no-op is also timed through `cargo run`.
# Each from-empty run moves generated/src aside with a rename (so no deletion of 3,700 files
# is in flight while it is timed), waits for the disk to settle (`sync`, 2 s), then times
# `--all --timings`; the output must equal what was there (git diff). The moved copies are
# deleted at the end. Usage: bash scripts/bench-generator.sh [RUNS] (default 5). Exits 1 when a
# median misses its target or a run changed generated/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-5}"
empty_target_ms=1500
noop_target_ms=300

cargo build -q -p generator --bin generator
bin=target/debug/generator
trash="$(mktemp -d "${TMPDIR:-/tmp}/bench-generator.XXXXXX")"
# A run cut short leaves generated/src moved aside: put the last copy back before cleaning up.
restore() { [ -d generated/src ] || mv "$(ls -d "$trash"/src-* | sort -V | tail -n 1)" generated/src; rm -rf "$trash"; }
trap restore EXIT
now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }

"$bin" --all >/dev/null  # start from a complete, fresh generated/
git diff --quiet -- generated || { echo "error: generated/ differs from git before the benchmark; commit or regenerate first" >&2; exit 1; }

echo "from an empty generated/src ($runs runs):"
empty=()
for i in $(seq "$runs"); do
  mv generated/src "$trash/src-$i"
  sync; sleep 2
  start=$(now_ms)
  phases="$("$bin" --all --timings 2>&1 | grep '^timing' | sed 's/^timing  //' | paste -sd ',' -)"
  elapsed=$(( $(now_ms) - start ))
  empty+=("$elapsed")
  echo "  run $i: ${elapsed} ms ($phases)"
  git diff --quiet -- generated || { echo "error: run $i did not reproduce generated/ (git diff -- generated)" >&2; exit 1; }
done

echo "no-op --all ($runs runs each, binary and cargo run):"
marker="$trash/marker"
touch "$marker"; sleep 1
noop=(); cargo_noop=()
for i in $(seq "$runs"); do
  start=$(now_ms); "$bin" --all >/dev/null; noop+=("$(( $(now_ms) - start ))")
  start=$(now_ms); cargo run -q -p generator -- --all >/dev/null; cargo_noop+=("$(( $(now_ms) - start ))")
done
echo "  binary: ${noop[*]} ms; cargo run: ${cargo_noop[*]} ms"
touched="$(find generated -newer "$marker" -type f | wc -l)"
echo "  files written by the no-op runs: $touched"

empty_median=$(printf '%s\n' "${empty[@]}" | median)
noop_median=$(printf '%s\n' "${noop[@]}" | median)
echo "median from empty: ${empty_median} ms (target ${empty_target_ms}); median no-op: ${noop_median} ms (target ${noop_target_ms})"
status=0
[ "$empty_median" -le "$empty_target_ms" ] || { echo "from-empty target missed" >&2; status=1; }
[ "$noop_median" -le "$noop_target_ms" ] || { echo "no-op target missed" >&2; status=1; }
[ "$touched" -eq 0 ] || { echo "the no-op wrote files" >&2; status=1; }
exit "$status"
