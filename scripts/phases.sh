# Phase timing for the project's scripts (sourced, not run): `phase NAME` ends the phase
# before it and starts NAME; when the script exits, for whatever reason, the wall time of
# every phase is printed, so a slow phase shows without a stopwatch.
_phase_names=()
_phase_seconds=()
_phase_budgets=()
_phase_current=""
_phase_budget=""
_phase_started=0

_phase_now() { date +%s.%N; }

_phase_close() {
  if [ -n "$_phase_current" ]; then
    _phase_names+=("$_phase_current")
    _phase_seconds+=("$(awk -v a="$_phase_started" -v b="$(_phase_now)" 'BEGIN { printf "%.1f", b - a }')")
    _phase_budgets+=("$_phase_budget")
    _phase_current=""
  fi
}

# phase NAME [BUDGET]: ends the running phase and starts NAME (announced on stderr). With a
# budget in seconds, a phase that runs longer fails the script when it ends (named, with both
# times), so the command's time is kept, not just printed.
phase() {
  _phase_close
  _phase_current="$1"
  _phase_budget="${2:-}"
  _phase_started="$(_phase_now)"
  printf '\n==> %s\n' "$1" >&2
}

_phase_report() {
  local status=$?
  _phase_close
  if [ "${#_phase_names[@]}" -gt 0 ]; then
    local total=0 i over=() notes=()
    for i in "${!_phase_names[@]}"; do
      local budget="${_phase_budgets[$i]}" note=""
      if [ -n "$budget" ]; then
        note="  (budget ${budget} s)"
        if awk -v a="${_phase_seconds[$i]}" -v b="$budget" 'BEGIN { exit !(a > b) }'; then
          note="  OVER ITS BUDGET OF ${budget} s"
          over+=("${_phase_names[$i]}: ${_phase_seconds[$i]} s, budget ${budget} s")
        fi
      fi
      notes+=("$note")
    done
    local final="$status"
    if [ "${#over[@]}" -gt 0 ] && [ "$status" -eq 0 ]; then final=1; fi
    printf '\n==> phase times (%s, exit %s)\n' "$(basename "$0")" "$final" >&2
    for i in "${!_phase_names[@]}"; do
      printf '  %8.1f s  %s%s\n' "${_phase_seconds[$i]}" "${_phase_names[$i]}" "${notes[$i]}" >&2
      total="$(awk -v a="$total" -v b="${_phase_seconds[$i]}" 'BEGIN { printf "%.1f", a + b }')"
    done
    printf '  %8.1f s  total\n' "$total" >&2
    if [ "$final" -ne "$status" ]; then
      printf 'error: %s phase(s) ran past their budget (scripts/%s; docs/tiers.md says what to move out):\n' "${#over[@]}" "$(basename "$0")" >&2
      printf '  %s\n' "${over[@]}" >&2
      exit "$final"
    fi
  fi
  return "$status"
}
trap _phase_report EXIT
