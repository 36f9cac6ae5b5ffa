# shellcheck shell=bash
# The status sent to REPORT_URL (spec.bootstrap.reportURL): only nodes of a spec that sets it
# get this file.

# post_status: status.json POSTed to REPORT_URL. Best effort and short: a dead report endpoint
# must never stop a node.
post_status() {
  if ! curl -fsS --connect-timeout 5 --max-time 10 \
    -H 'Content-Type: application/json' --data-binary "@$STATUS_FILE" "$REPORT_URL" >/dev/null 2>&1; then
    log "could not POST the status to the report URL (ignored)"
  fi
}
