# shellcheck shell=bash
# The wait of a joining node for the control plane before it (WAIT_URL).

# wait_for_api: until WAIT_URL answers /readyz with "ok", with the retry backoff. Bounded by
# the sum of the sleeps, not the clock: the clock jumps when NTP first syncs on a new VM.
wait_for_api() {
  local try=1 waited=0 seconds answer
  log "waiting up to ${WAIT_TIMEOUT_SECONDS}s for $WAIT_WHAT at $WAIT_URL"
  while :; do
    # Readiness only (-k): trust comes from kubeadm's discovery with the CA hash.
    answer=$(curl -ks --connect-timeout 5 --max-time 10 "$WAIT_URL" 2>/dev/null || true)
    answer=$(one_line "$answer" | cut -c 1-80)
    if [ "$answer" = "ok" ]; then
      log "$WAIT_WHAT is ready"
      return 0
    fi
    if [ "$waited" -ge "$WAIT_TIMEOUT_SECONDS" ]; then
      fail_because api-wait "$WAIT_WHAT at $WAIT_URL was not ready after ${waited}s (last answer: ${answer:-none})"
    fi
    seconds=$(backoff_seconds "$try")
    log "$WAIT_WHAT not ready yet (answer: ${answer:-none}); again in ${seconds}s"
    sleep "$seconds"
    waited=$((waited + seconds))
    try=$((try + 1))
  done
}
