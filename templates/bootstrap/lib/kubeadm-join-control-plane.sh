# shellcheck shell=bash
# A control plane's kubeadm join: repeated only while it cannot have added an etcd member.

# join_resume: a join cut off on an earlier run may have added the member: it blocks
# (kubeadm-guard.sh), as a recorded failure does.
join_resume() {
  refuse_if_blocked join
}

# join_check_repeat OUT STATUS LINE: the failed join stopped in a phase that comes before
# etcd's member add (kubeadm names it: "error execution phase preflight: ..."), and it wrote
# no etcd manifest: after a reset, another try cannot leave a second member behind.
# Otherwise the failure blocks later runs.
join_check_repeat() {
  if ! grep -Eq 'error execution phase (preflight|control-plane-prepare|check-etcd|kubelet-start)[:/]' "$1" ||
    [ -e "$STATIC_PODS_DIR/etcd.yaml" ]; then
    keep_output "$1"
    rm -f "$KUBEADM_STATE/reset-first"
    block "kubeadm-$NODE_ROLE" "kubeadm join failed with status $2: $3; not repeated automatically (etcd membership)"
  fi
}
