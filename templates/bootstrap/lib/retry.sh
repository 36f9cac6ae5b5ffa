# shellcheck shell=bash disable=SC2034 # P_ERROR: status.sh reads it
# Retries with backoff for steps that cross the network, and polling of local conditions.

# backoff_seconds TRY: the sleep after failed try TRY. The delay doubles from
# RETRY_INITIAL_DELAY up to RETRY_MAX_DELAY; the sleep is drawn between half the delay and
# the delay (jitter), so nodes that failed together do not come back together.
backoff_seconds() {
  local delay=$((RETRY_INITIAL_DELAY << ($1 > 20 ? 19 : $1 - 1)))
  [ "$delay" -le "$RETRY_MAX_DELAY" ] || delay=$RETRY_MAX_DELAY
  echo $((delay - RANDOM % (delay / 2 + 1)))
}

# key_line FILE: the line of a command's output that best says why it failed.
key_line() {
  local line
  line=$(grep -E '^E: |^error|^Error|^dpkg: error|\[ERROR|curl: \(|rpc error|failed|FATA' "$1" | tail -n 1 || true)
  [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1 || true)
  one_line "${line:-no output}" | cut -c 1-200
}

# keep_output FILE: the last lines of a failed command become the phase's "output".
keep_output() {
  if [ -n "$P_NAME" ]; then
    tail -n 20 "$1" | redact >"$PHASE_DIR/$P_NAME.output"
  fi
  rm -f "$1"
}

# note_retry MESSAGE: a failed try that will be repeated; status.json shows it.
note_retry() {
  log "$1"
  P_RETRIES=$((P_RETRIES + 1))
  P_ERROR=$1
  save_record
  write_status
}

# retry COMMAND...: for steps that cross the network (package index, packages, keys,
# manifests, image pulls). Up to RETRY_ATTEMPTS tries with backoff; an error that no retry
# can fix fails the phase at once.
retry() {
  # Partials written before spec.bootstrap.retries passed a count first: the spec decides.
  if [[ $1 =~ ^[0-9]+$ ]]; then shift; fi
  try_command network "$@"
}

# wait_until TRIES COMMAND...: a local condition (not a download), polled with the retry
# backoff; returns 1 when it never held, for the caller to say what that means:
# `wait_until 8 kube_vip_answers || fail "..."`.
wait_until() {
  local tries=$1 try=1
  shift
  until "$@"; do
    if [ "$try" -ge "$tries" ]; then
      return 1
    fi
    sleep "$(backoff_seconds "$try")"
    try=$((try + 1))
  done
}
