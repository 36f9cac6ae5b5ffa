# shellcheck shell=bash disable=SC2034 # the run's state (P_*, RESULT*, HEALS): status.sh reads it
# The phase runner: each phase is a function phase_<name>, run in the order of PHASES.

run_phase() {
  CURRENT_PHASE=$1
  load_record "$1"
  # running: cut off by a power loss or a kill; interrupted: stopped; failed: failed.
  if [ "$P_STATE" != pending ]; then
    log "phase $1 did not finish on an earlier run ($P_STATE${P_ERROR:+: $P_ERROR}): starting it again"
  fi
  P_STATE=running P_START=$(now) P_END="" P_ATTEMPTS=$((P_ATTEMPTS + 1)) P_REASON="" P_ERROR=""
  rm -f "$PHASE_DIR/$1.output"
  save_record
  RESULT=running RESULT_REASON="" RESULT_ERROR=""
  write_status post
  log "phase $1: start (attempt $P_ATTEMPTS)"
  "phase_$1"
  P_STATE=succeeded P_END=$(now)
  save_record
  : >"$PHASE_DIR/$1.done"
  write_status post
  log "phase $1: done"
}

# run_phases: every phase not done yet, in order; a finished node does nothing.
run_phases() {
  record_failures
  if [ -e "$DONE_FILE" ]; then
    log "bootstrapped already ($DONE_FILE): nothing to do"
    return 0
  fi
  RUNS=$(($(cat "$STATE_DIR/runs" 2>/dev/null || echo 0) + 1))
  HEALS=$(cat "$STATE_DIR/heals" 2>/dev/null || echo 0)
  echo "$RUNS" >"$STATE_DIR/runs"
  log "run $RUNS of the bootstrap of $NODE_NAME ($NODE_ROLE); phases: ${PHASES[*]}"
  local phase
  for phase in "${PHASES[@]}"; do
    if [ -e "$PHASE_DIR/$phase.done" ]; then
      log "phase $phase: done on an earlier run"
      continue
    fi
    run_phase "$phase"
  done
  P_NAME=""
  RESULT=succeeded
  : >"$DONE_FILE"
  write_status post
  log "node $NODE_NAME bootstrapped"
}
