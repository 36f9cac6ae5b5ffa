# shellcheck shell=bash
# The status records of the phases and status.json, and the log.
# A phase's record is $PHASE_DIR/<name>.state (one field a line: state, start, end, attempts,
# retries, reason, error) and, once it succeeded, $PHASE_DIR/<name>.done; status.json is rebuilt
# from the records after every change.

# The run's state, which status.json shows; phases.sh and failure.sh update it.
RESULT=running RESULT_REASON="" RESULT_ERROR="" RUNS=0 HEALS=0
P_NAME="" P_STATE="" P_START="" P_END="" P_ATTEMPTS=0 P_RETRIES=0 P_REASON="" P_ERROR=""

# The log is fd 3, so a caller's redirection (`retry crictl pull x >/dev/null`) hides
# the command's output, never our own lines.
exec 3>&1

log() {
  printf '%s [%s] %s\n' "$(now)" "$CURRENT_PHASE" "$*" >&3
}

now() {
  date -u +%Y-%m-%dT%H:%M:%SZ
}

# json_str KEY TEXT / json_raw KEY JSON: append "KEY": value to $JSON, after $JSON_SEP.
# No subshells: status.json is rebuilt after every change, and forks are slow on a VM.
json_str() {
  local text=$2
  text=${text//\\/\\\\}
  text=${text//\"/\\\"}
  text=${text//$'\n'/\\n}
  text=${text//$'\t'/\\t}
  text=${text//[[:cntrl:]]/}
  json_raw "$1" "\"$text\""
}

json_raw() {
  JSON+="${JSON:+$JSON_SEP}\"$1\": $2"
}

redact() {
  sed -E 's/\b[a-z0-9]{6}\.[a-z0-9]{16}\b/<token>/g; s/(certificate-key[ =:]+)[0-9a-f]{64}/\1<key>/g'
}

# one_line TEXT: TEXT on one line, redacted, at most 300 characters.
one_line() {
  local text=${1//[$'\r\n\t']/ }
  text=$(printf '%s\n' "$text" | redact)
  printf '%s' "${text:0:300}"
}

# read_record NAME: the phase's record into REC (state start end attempts retries reason error).
read_record() {
  REC=()
  if [ -f "$PHASE_DIR/$1.state" ]; then
    mapfile -t REC <"$PHASE_DIR/$1.state"
  fi
  REC=("${REC[0]:-pending}" "${REC[1]:-}" "${REC[2]:-}" "${REC[3]:-0}" "${REC[4]:-0}"
    "${REC[5]:-}" "${REC[6]:-}")
}

load_record() {
  P_NAME=$1
  read_record "$1"
  P_STATE=${REC[0]} P_START=${REC[1]} P_END=${REC[2]} P_ATTEMPTS=${REC[3]}
  P_RETRIES=${REC[4]} P_REASON=${REC[5]} P_ERROR=${REC[6]}
}

save_record() {
  local tmp
  tmp=$(mktemp "$PHASE_DIR/.state.XXXXXX")
  printf '%s\n' "$P_STATE" "$P_START" "$P_END" "$P_ATTEMPTS" "$P_RETRIES" "$P_REASON" \
    "$(one_line "$P_ERROR")" >"$tmp"
  mv -f "$tmp" "$PHASE_DIR/$P_NAME.state"
}

# json_phase NAME: the phase's record as one JSON object, its output lines as an array.
json_phase() {
  local line lines=""
  if [ -f "$PHASE_DIR/$1.output" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      JSON=""
      json_str x "$line"
      lines+="${lines:+, }${JSON#\"x\": }"
    done <"$PHASE_DIR/$1.output"
  fi
  read_record "$1"
  JSON="" JSON_SEP=", "
  json_str name "$1"
  json_str state "${REC[0]}"
  json_str start "${REC[1]}"
  json_str end "${REC[2]}"
  json_raw attempts "${REC[3]}"
  json_raw retries "${REC[4]}"
  json_str reason "${REC[5]}"
  json_str error "${REC[6]}"
  json_raw output "[$lines]"
  JSON="{$JSON}"
}

status_json() {
  local phase phases="" now nl=$'\n'
  now=$(now)
  # shellcheck disable=SC2153 # PHASES: the prologue sets it
  for phase in "${PHASES[@]}"; do
    json_phase "$phase"
    phases+="${phases:+,$nl}    $JSON"
  done
  JSON="" JSON_SEP=$',\n  '
  json_str kind K8sgenBootstrapStatus
  json_raw version 1
  json_str cluster "$CLUSTER_NAME"
  json_str node "$NODE_NAME"
  json_str role "$NODE_ROLE"
  json_str kubernetesVersion "$KUBERNETES_VERSION"
  json_str result "$RESULT"
  json_str phase "$CURRENT_PHASE"
  json_str reason "$RESULT_REASON"
  json_str error "$RESULT_ERROR"
  json_str time "$now"
  json_raw runs "$RUNS"
  json_raw heals "$HEALS"
  json_str log "$LOG_FILE"
  json_raw phases "[$nl$phases$nl  ]"
  printf '{\n  %s\n}\n' "$JSON"
}

# write_status [post]: status.json replaced atomically (a reader never sees half a file);
# with "post", also sent to REPORT_URL (spec.bootstrap.reportURL), when there is one:
# post_status (report.sh) sends it.
write_status() {
  local tmp
  tmp=$(mktemp "$STATE_DIR/.status.XXXXXX")
  status_json >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$STATUS_FILE"
  [ "${1:-}" != post ] || [ -z "$REPORT_URL" ] || post_status
}
