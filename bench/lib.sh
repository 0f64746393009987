# Shell helpers of the scripts that run the operator on the bench cluster
# (vs-upstream.sh, operator-ab.sh). The caller sets root, state and CYCLES
# and defines log().

kubectl() { "${root}/.cache/bin/kubectl" --kubeconfig "${state}/kubeconfig" "$@"; }
now() { date +%s.%N; }
vmhwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
# wait_for_cycles LINE LOG PID NAME STARTUP_FILE: until LOG holds CYCLES lines
# with LINE (each marks a completed cycle), writing the process's VmHWM to
# STARTUP_FILE once the first is there; fails if the process exits first.
wait_for_cycles() {
  local n first=0
  while :; do
    n="$(grep -c "$1" "$2" || true)"
    if ((n >= 1 && first == 0)); then vmhwm "$3" > "$5"; first=1; fi
    ((n >= CYCLES)) && break
    kill -0 "$3" 2>/dev/null || { log "$4 exited; see $2"; exit 1; }
    sleep 0.2
  done
}
