# How the main job runs a column of cells (sourced by scripts/main.sh and scripts/crash-check.sh,
# so the check runs the main job's own code). Needs HFZOO_RUN_ID; sets `status` non-zero when a
# column fails, and never stops the caller before its report.
#
# Measured on the smoke set's 146 CPU and OpenVINO cells (docs/tiers.md): a process per cell
# costs about 0.4 s a cell just to start (libtorch, OpenVINO and ONNX Runtime load), 37 minutes
# on an incremental rerun of the 5,124 cells outside WebGPU that one process reuses in about a
# minute. So those run in one process, resumed after a crash; WebGPU (about 20 s a cell, a
# browser per process) runs a process per cell.

hfzoo() { cargo run -q -p hfzoo -- "$@"; }

# plan_column FEATURES FILTER: adds the column's cells (a nextest filter; with COLUMN_PROFILE set,
# within that nextest profile's default set) to the run's plan; prints how many.
plan_column() {
  local list total
  list="${3:-$(mktemp)}"
  if ! cargo nextest list -p generated --features "$1" ${COLUMN_PROFILE:+--profile "$COLUMN_PROFILE"} -E "$2" \
      --message-format json --cargo-quiet > "$list"; then
    echo "error: could not list the tests of \`$2\`" >&2
    rm -f "$list"; return 1
  fi
  total="$(hfzoo plan --run "$HFZOO_RUN_ID" --from "$list" | awk '{print $5}')" || { rm -f "$list"; return 1; }
  [ -n "${3:-}" ] || rm -f "$list"
  echo "$total"
}

# progress_file NAME: the absolute path of a column's shared tally (nextest runs each test in
# its package's folder).
progress_file() {
  mkdir -p results/progress
  echo "$PWD/results/progress/$HFZOO_RUN_ID-$1.json"
}

# run_alone FEATURES FORMAT CELL...: the tests that FORMAT (a nextest filter with `%s` for
# `<hardware>::<model>`) selects for each cell, each in a process of its own (nextest, profile
# zoo); a test that dies keeps its cell's crash record, now with its signal and last lines (hfzoo
# crashes).
run_alone() {
  local features="$1" format="$2"; shift 2
  local filter
  # shellcheck disable=SC2059 # the format is the caller's filter pattern
  filter="$(printf "$format | " "$@")"
  filter="${filter% | }"
  cargo nextest run -p generated --features "$features" -E "$filter" --profile zoo --no-fail-fast \
    --show-progress none --status-level fail --final-status-level none --cargo-quiet || status=1
  hfzoo crashes --run "$HFZOO_RUN_ID" --junit target/nextest/zoo/junit.xml || status=1
}

# isolated_cells FEATURES CELL...: each cell's check again in a process of its own (run_alone).
isolated_cells() { run_alone "$1" 'test(=%s::tests::matches_reference)' "${@:2}"; }

# engine_failure_cells < LISTING: of the tests a `cargo nextest list --message-format json`
# LISTING selects, the cells (`<hardware>::<model>`) whose metadata expects the engine itself to
# fail (`unsupported` in category `backend`, as the generated module says). Such a failure can
# leave the engine broken for the rest of its process: after OpenVINO 2026.4.1 ran parakeet_tdt's
# IR (zero-size outputs) or parakeet_rnnt's, a later cell of the same process (vitdet, patchtst,
# pe_audio_video, pix2struct) died with SIGSEGV inside the CPU plugin's infer, every time with
# one test thread (run alone, each passes); a core of its own did not help.
engine_failure_cells() {
  local planned
  planned="$(python3 scripts/smoke_modules.py)"
  grep -l "category: runtime::Category::Backend," generated/src/*/*.rs 2>/dev/null \
    | sed -E 's#^generated/src/([a-z0-9_]+)/([a-z0-9_]+)\.rs$#\1::\2#' \
    | while read -r cell; do grep -qx "$cell::tests::" <<<"$planned" && echo "$cell"; done
}

# isolated_modules FEATURES CELL...: every test of each cell's module (its check and its typed
# skill), each in a process of its own (run_alone).
isolated_modules() { run_alone "$1" 'test(/^%s::tests::/)' "${@:2}"; }

# in_process_column NAME FEATURES NEXTEST_FILTER [LIBTEST ARGS...]: the column in one test
# process (cargo test, which NEXTEST_FILTER and the libtest arguments select alike). Before a
# cell runs its record says `crash`; a process that dies leaves those records: each such cell
# runs again alone (isolated_cells), then the column resumes, skipping every cell recorded. The
# cells whose engine is expected to fail run first, each in a process of its own
# (engine_failure_cells), and the shared process skips them.
in_process_column() {
  local name="$1" features="$2" filter="$3"; shift 3
  local total progress dead recorded risky before=-1 rounds=0 deaths=0 listing
  listing="$(mktemp)"
  total="$(plan_column "$features" "$filter" "$listing")" || { status=1; rm -f "$listing"; return 0; }
  progress="$(progress_file "$name")"
  rm -f "$progress" "$progress.log"
  local skips=()
  mapfile -t risky < <(engine_failure_cells < "$listing")
  rm -f "$listing"
  if [ "${#risky[@]}" -gt 0 ]; then
    echo "==> ${#risky[@]} cell(s) whose engine is expected to fail, each in a process of its own before the column: ${risky[*]}" >&2
    HFZOO_PROGRESS_FILE="$progress" HFZOO_PROGRESS_TOTAL="$total" isolated_modules "$features" "${risky[@]}"
    for cell in "${risky[@]}"; do skips+=(--skip "$cell::"); done
  fi
  while :; do
    rounds=$((rounds + 1))
    HFZOO_PROGRESS_FILE="$progress" HFZOO_PROGRESS_TOTAL="$total" \
      cargo test -p generated --features "$features" -- "$@" "${skips[@]}" || status=1
    mapfile -t dead < <(hfzoo spooled --run "$HFZOO_RUN_ID" --provisional)
    if [ "${#dead[@]}" -gt 0 ]; then
      deaths=$((deaths + 1))
      echo "==> the test process died with ${#dead[@]} cell(s) unfinished (${dead[*]}): each again in its own process, then the column resumes" >&2
      HFZOO_PROGRESS_FILE="$progress" HFZOO_PROGRESS_TOTAL="$total" isolated_cells "$features" "${dead[@]}"
    fi
    mapfile -t recorded < <(hfzoo spooled --run "$HFZOO_RUN_ID")
    # Done when every planned cell has a record; else the process ended early: resume.
    [ "${#recorded[@]}" -lt "${total:-0}" ] || break
    if [ "${#recorded[@]}" -le "$before" ] || [ "$rounds" -ge 200 ]; then
      echo "error: the $name column makes no progress after its process died; the report names the cells without a record" >&2
      status=1; break
    fi
    before="${#recorded[@]}"
    skips=()
    for cell in "${recorded[@]}"; do skips+=(--skip "$cell::"); done
  done
  if [ "$deaths" -gt 0 ]; then
    # A death is a fault of the engine or the runtime even when every cell it interrupted then
    # passed alone (two cells at once in one process): the job says so and exits non-zero.
    echo "==> the $name column's process died $deaths time(s) (see \"the test process died\" above): every cell has its outcome, and the job exits 1 for the crash itself" >&2
    status=1
  fi
}

# nextest_column NAME FEATURES NEXTEST_FILTER: the column a process per cell (nextest, profile
# zoo), its PROGRESS lines followed from the shared tally's log.
nextest_column() {
  local name="$1" features="$2" filter="$3" total progress follower
  total="$(plan_column "$features" "$filter")" || { status=1; return 0; }
  progress="$(progress_file "$name")"
  rm -f "$progress" "$progress.log"
  touch "$progress.log"
  tail -n 0 -F "$progress.log" >&2 2>/dev/null &
  follower=$!
  HFZOO_PROGRESS_FILE="$progress" HFZOO_PROGRESS_TOTAL="$total" \
    cargo nextest run -p generated --features "$features" -E "$filter" --profile zoo --no-fail-fast \
      --show-progress none --status-level fail --final-status-level none --cargo-quiet || status=1
  kill "$follower" 2>/dev/null || true
  hfzoo crashes --run "$HFZOO_RUN_ID" --junit target/nextest/zoo/junit.xml || status=1
}
