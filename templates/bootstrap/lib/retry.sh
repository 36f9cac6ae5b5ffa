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

# Errors that no retry can fix: a wrong URL, version or image name in the spec, a mirror
# without that content, a bad key or manifest. They fail the phase at once. A script that
# installs packages (PACKAGES: apt or dnf) knows the package manager's words for them too
# (package_error: apt.sh, dnf.sh).
permanent_error() {
  grep -Eq \
    -e 'returned error: (400|401|403|404|405|410)' \
    -e 'URL using bad/illegal format' \
    -e 'code = NotFound' \
    -e 'manifest unknown' \
    -e 'error validating data' \
    -e 'strict decoding error' \
    "$1" || { [ -n "$PACKAGES" ] && package_error "$1"; }
}

# command_text COMMAND...: the command as the log and status.json name it (a package
# manager's wrapper by the program's name: package_command_text, apt.sh or dnf.sh).
command_text() {
  local text="$*"
  [ -z "$PACKAGES" ] || text=$(package_command_text "$text")
  printf '%s' "${text:0:160}"
}

# try_command network|local COMMAND...: the loop of retry (network) and with_package_lock
# (packages.sh: local). A held package lock (package_lock_held, in a script that installs
# packages) never counts as a failed try: it is waited for, PACKAGE_LOCK_WAIT_SECONDS at most.
try_command() {
  local mode=$1 try=1 status seconds out line what locked=0 lock_try=1
  shift
  what=$(command_text "$@")
  while :; do
    out=$(mktemp "$STATE_DIR/.output.XXXXXX")
    if "$@" 2>&1 | tee "$out"; then
      rm -f "$out"
      return 0
    else
      status=$?
    fi
    line=$(key_line "$out")
    if [ -n "$PACKAGES" ] && package_lock_held "$out"; then
      if [ "$locked" -ge "$PACKAGE_LOCK_WAIT_SECONDS" ]; then
        keep_output "$out"
        fail_because package-lock "'$what': another package manager run held the lock for ${locked}s (the most we wait): $line"
      fi
      rm -f "$out"
      seconds=$(backoff_seconds "$lock_try")
      note_retry "'$what': another package manager run holds the lock ($line); again in ${seconds}s"
      sleep "$seconds"
      locked=$((locked + seconds))
      lock_try=$((lock_try + 1))
      continue
    fi
    if [ "$mode" = local ]; then
      keep_output "$out"
      fail_because command "'$what' exited with status $status: $line"
    fi
    if permanent_error "$out"; then
      keep_output "$out"
      fail_because permanent "'$what' failed, and retrying cannot fix it: $line"
    fi
    if grep -q '^error: checksum: ' "$out"; then
      keep_output "$out"
      fail_because checksum "'$what' failed, and retrying cannot fix it: $line"
    fi
    if [ "$try" -ge "$RETRY_ATTEMPTS" ]; then
      keep_output "$out"
      fail_because network "'$what' failed $try times, the last with status $status: $line"
    fi
    rm -f "$out"
    seconds=$(backoff_seconds "$try")
    note_retry "try $try of $RETRY_ATTEMPTS of '$what' failed (status $status: $line); again in ${seconds}s"
    sleep "$seconds"
    try=$((try + 1))
  done
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
