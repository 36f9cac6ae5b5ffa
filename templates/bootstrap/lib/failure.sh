# shellcheck shell=bash
# How a run fails: a failed command or a stop signal is recorded in status.json.

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
