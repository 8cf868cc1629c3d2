# Phase timing for the project's scripts (sourced, not run): `phase NAME` ends the phase
# before it and starts NAME; when the script exits, for whatever reason, the wall time of
# every phase is printed, so a slow phase shows without a stopwatch.
_phase_names=()
_phase_seconds=()
_phase_current=""
_phase_started=0

_phase_now() { date +%s.%N; }

_phase_close() {
  if [ -n "$_phase_current" ]; then
    _phase_names+=("$_phase_current")
    _phase_seconds+=("$(awk -v a="$_phase_started" -v b="$(_phase_now)" 'BEGIN { printf "%.1f", b - a }')")
    _phase_current=""
  fi
}

# phase NAME: ends the running phase and starts NAME (announced on stderr).
phase() {
  _phase_close
  _phase_current="$1"
  _phase_started="$(_phase_now)"
  printf '\n==> %s\n' "$1" >&2
}

_phase_report() {
  local status=$?
  _phase_close
  if [ "${#_phase_names[@]}" -gt 0 ]; then
    local total=0 i
    printf '\n==> phase times (%s, exit %s)\n' "$(basename "$0")" "$status" >&2
    for i in "${!_phase_names[@]}"; do
      printf '  %8.1f s  %s\n' "${_phase_seconds[$i]}" "${_phase_names[$i]}" >&2
      total="$(awk -v a="$total" -v b="${_phase_seconds[$i]}" 'BEGIN { printf "%.1f", a + b }')"
    done
    printf '  %8.1f s  total\n' "$total" >&2
  fi
  return "$status"
}
trap _phase_report EXIT
