# shellcheck shell=bash disable=SC2034 # the run's state (RESULT*, P_*): status.sh reads it
# How a run fails: a failed command or a stop signal is recorded in status.json.

# What schedule_heal did, for the log line of the failure.
HEAL_NOTE=""

# stop RESULT REASON MESSAGE CODE: record how the run ends, in the current phase's record
# too, and exit with CODE. REASON is a word explain-status knows (network, permanent,
# api-wait, kubeadm-init, token, ...).
stop() {
  trap - ERR TERM INT HUP
  [ "$1" != failed ] || schedule_heal "$2"
  log "${1^^} ($2): $3${HEAL_NOTE:+ [$HEAL_NOTE]}"
  RESULT=$1 RESULT_REASON=$2 RESULT_ERROR=$(one_line "$3")
  if [ -n "$P_NAME" ]; then
    P_STATE=$1 P_END=$(now) P_REASON=$2 P_ERROR=$3
    save_record
  fi
  write_status post
  exit "$4"
}

# schedule_heal REASON: after a failure that time can heal (one of HEAL_REASONS; the image
# bake has none), the unit is started again HEAL_DELAY_SECONDS later by a transient timer
# (systemd-run: the same on every systemd; a oneshot unit's Restart= is refused before
# systemd 244), HEAL_ATTEMPTS times at most. A reboot meanwhile loses the timer, and starts
# the unit anyway. HEAL_NOTE says what it did, on the log line of the failure.
schedule_heal() {
  [[ " $HEAL_REASONS " == *" $1 "* ]] || return 0
  if [ "$HEALS" -ge "$HEAL_ATTEMPTS" ]; then
    HEAL_NOTE="no automatic restart left ($HEALS of $HEAL_ATTEMPTS used)"
  elif systemd-run --unit="k8sgen-bootstrap-heal-$((HEALS + 1))" --on-active="$HEAL_DELAY_SECONDS" \
    "$(command -v systemctl)" start --no-block "$BOOTSTRAP_UNIT" >/dev/null 2>&1; then
    HEALS=$((HEALS + 1))
    echo "$HEALS" >"$STATE_DIR/heals"
    HEAL_NOTE="automatic restart $HEALS of $HEAL_ATTEMPTS in ${HEAL_DELAY_SECONDS}s"
  else
    HEAL_NOTE="no automatic restart: systemd-run failed"
  fi
}

fail_because() {
  stop failed "$1" "$2" 1
}

fail() {
  fail_because error "$*"
}

on_error() {
  local code=$1 line=$2 command=$3
  # In a subshell ($(...)), leave the record to the shell that ran it.
  [ "$BASH_SUBSHELL" -eq 0 ] || exit "$code"
  fail_because command "'$command' exited with status $code (line $line)"
}

# Shutdown, reboot or `systemctl stop`: say so, so the next start resumes knowingly.
on_signal() {
  stop interrupted interrupted "stopped by a signal (shutdown, reboot or systemctl stop)" 143
}

# record_failures: a failed command or a stop signal is recorded in status.json (run_phases
# and the image bake set it).
record_failures() {
  trap 'on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR
  trap on_signal TERM INT HUP
}
