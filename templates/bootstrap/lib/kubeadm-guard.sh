# shellcheck shell=bash
# kubeadm steps that must not repeat by themselves (init, a control plane's join): a failure
# blocks later runs until someone has looked.

# block REASON MESSAGE: fail, and refuse to run kubeadm again on later runs.
block() {
  # Short, so that the note added on later runs still fits status.json's 300 characters.
  printf '%s\n%s\n' "$1" "$(one_line "$2" | cut -c 1-200)" >"$KUBEADM_STATE/blocked"
  cp "$PHASE_DIR/$P_NAME.output" "$KUBEADM_STATE/output" 2>/dev/null || true
  fail_because "$1" "$2"
}

# refuse_if_blocked VERB: a recorded failure, or an attempt cut off, stops the run here.
refuse_if_blocked() {
  if [ -f "$KUBEADM_STATE/blocked" ]; then
    cp "$KUBEADM_STATE/output" "$PHASE_DIR/$P_NAME.output" 2>/dev/null || true
    fail_because "$(sed -n 1p "$KUBEADM_STATE/blocked")" \
      "$(sed -n 2p "$KUBEADM_STATE/blocked") [recorded earlier; delete $KUBEADM_STATE/blocked to try again]"
  fi
  if [ -e "$KUBEADM_STATE/started" ]; then
    # The block records it: once lifted, a new attempt may start.
    rm -f "$KUBEADM_STATE/started"
    block kubeadm-interrupted "kubeadm $1 was cut off on an earlier run; not repeated automatically"
  fi
}
