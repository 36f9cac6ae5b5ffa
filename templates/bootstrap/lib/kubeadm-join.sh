# shellcheck shell=bash
# kubeadm join, tried JOIN_ATTEMPTS times with `kubeadm reset -f` in between, and why a failed
# join stops the run. What differs between a worker and a control plane (join_resume,
# join_check_repeat) is in kubeadm-join-worker.sh or kubeadm-join-control-plane.sh.

# kubeadm_join ARGS...: a failed join leaves "reset-first": the next try, on this run or a
# later one, starts with kubeadm reset -f.
kubeadm_join() {
  local try=1 out status line seconds
  join_resume
  if [ -e "$KUBEADM_STATE/reset-first" ]; then
    log "an earlier kubeadm join did not finish: kubeadm reset -f before joining again"
    kubeadm reset -f
    rm -f "$KUBEADM_STATE/reset-first"
  fi
  while :; do
    out=$(mktemp "$STATE_DIR/.output.XXXXXX")
    kubeadm_attempt "$out" "$@"
    [ "$status" -ne 0 ] || return 0
    line=$(key_line "$out")
    mv -f "$KUBEADM_STATE/started" "$KUBEADM_STATE/reset-first"
    join_check_repeat "$out" "$status" "$line"
    join_failure_reason "$out" "$try" "$status" "$line"
    seconds=$(join_delay "$out" "$try")
    rm -f "$out"
    note_retry "kubeadm join failed (try $try of $JOIN_ATTEMPTS, status $status: $line); kubeadm reset -f, again in ${seconds}s"
    kubeadm reset -f
    rm -f "$KUBEADM_STATE/reset-first"
    sleep "$seconds"
    try=$((try + 1))
  done
}

# join_delay OUT TRY: seconds before the next join. A join cut off after the TLS bootstrap
# leaves a Node that stays Ready until the node controller's grace period (40-50 s) runs out;
# until then kubeadm refuses the name ("... and status \"Ready\" already exists").
readonly NODE_READY_GRACE_SECONDS=60
join_delay() {
  local seconds
  seconds=$(backoff_seconds "$2")
  if grep -q 'already exists in the cluster' "$1" && [ "$seconds" -lt "$NODE_READY_GRACE_SECONDS" ]; then
    seconds=$NODE_READY_GRACE_SECONDS
  fi
  echo "$seconds"
}

# join_credential_valid EPOCH DATE: stop before kubeadm once this node's join certificate (its
# end is EPOCH, said DATE) has ended: no try can succeed, the operator must render a new one.
join_credential_valid() {
  JOIN_CREDENTIAL_UNTIL=$2
  if [ "$(date +%s)" -ge "$1" ]; then
    fail_because join-credential-expired "this node's join certificate expired at $2 (node clock: $(date -u '+%Y-%m-%d %H:%M UTC'))"
  fi
}

# join_failure_reason OUT TRY STATUS LINE: stop the run where no further try can help.
join_failure_reason() {
  if grep -q 'cluster CA found in cluster-info ConfigMap is invalid' "$1"; then
    keep_output "$1"
    fail_because ca-hash "kubeadm join: the cluster's CA is not the one this node was rendered with: $4"
  fi
  if grep -q 'failed to verify JWS signature' "$1"; then
    keep_output "$1"
    fail_because token "kubeadm join: the cluster does not accept this node's bootstrap token: $4"
  fi
  if [ -n "${JOIN_CREDENTIAL_UNTIL:-}" ] && grep -q 'Unauthorized' "$1"; then
    keep_output "$1"
    fail_because join-credential-expired "kubeadm join: the API server refused this node's join certificate (valid until $JOIN_CREDENTIAL_UNTIL; is the cluster's clock ahead?): $4"
  fi
  if [ "$2" -ge "$JOIN_ATTEMPTS" ]; then
    local reason=kubeadm-join line=$4
    if grep -Eq 'JWS signature|is invalid for this cluster or it has expired' "$1"; then
      reason=token
      line="the cluster does not know this node's bootstrap token (expired?): $line"
    fi
    keep_output "$1"
    fail_because "$reason" "kubeadm join failed $2 times, the last with status $3: $line"
  fi
}
