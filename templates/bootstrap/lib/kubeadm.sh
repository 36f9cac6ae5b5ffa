# shellcheck shell=bash
# kubeadm init or join with the repeat policy of this node's kind: kubeadm-init.sh, or
# kubeadm-join.sh with kubeadm-join-worker.sh or kubeadm-join-control-plane.sh.
# KUBEADM_STATE holds the marks of the attempts: succeeded, started, reset-first, blocked.

# kubeadm_succeeded: kubeadm init or join finished on this or an earlier run.
kubeadm_succeeded() {
  [ -e "$KUBEADM_STATE/succeeded" ]
}

# run_kubeadm init|join ARGS...: `kubeadm init` is never repeated automatically; a join is
# tried JOIN_ATTEMPTS times with `kubeadm reset -f` in between, a control plane's only while
# it failed before etcd's member add. A failure that must not be repeated is recorded and
# blocks later runs until someone has looked (`k8sgen explain-status` says how).
run_kubeadm() {
  mkdir -p "$KUBEADM_STATE"
  if kubeadm_succeeded; then
    log "kubeadm $1 succeeded on an earlier run"
    return 0
  fi
  # kubeadm_init (kubeadm-init.sh) or kubeadm_join (kubeadm-join.sh): this node's has it.
  "kubeadm_$1" "$@"
}

# start_attempt: before each kubeadm init or join. A node given the cluster's CA material
# (PKI_STASH set) puts it back first: shared-pki.sh.
start_attempt() {
  [ -z "$PKI_STASH" ] || restore_shared_pki
  : >"$KUBEADM_STATE/started"
}

# kubeadm_attempt OUT ARGS...: start_attempt, then kubeadm ARGS, its output teed to OUT; on
# success the succeeded mark is set and OUT removed. Sets the caller's local `status` to
# kubeadm's and returns 0: called outside a condition, set -e and the ERR trap stay in force.
kubeadm_attempt() {
  local out=$1
  shift
  start_attempt
  status=0
  kubeadm "$@" 2>&1 | tee "$out" || status=$?
  if [ "$status" -eq 0 ]; then
    mv -f "$KUBEADM_STATE/started" "$KUBEADM_STATE/succeeded"
    rm -f "$out"
  fi
}
