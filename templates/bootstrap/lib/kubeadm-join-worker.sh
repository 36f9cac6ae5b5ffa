# shellcheck shell=bash
# A worker's kubeadm join: a failed or cut-off join is always reset and tried again.

# join_resume: a join cut off on an earlier run (reboot, kill) is reset first, like a failed one.
join_resume() {
  if [ -e "$KUBEADM_STATE/started" ]; then
    mv -f "$KUBEADM_STATE/started" "$KUBEADM_STATE/reset-first"
  fi
}

# join_check_repeat OUT STATUS LINE: a worker holds no etcd member; any failed join may repeat.
join_check_repeat() {
  return 0
}
