# shellcheck shell=bash
# kubeadm init, never repeated automatically.

# kubeadm_init init ARGS...: one attempt of `kubeadm init ARGS`; a failure blocks later runs.
kubeadm_init() {
  local out status line
  refuse_if_blocked "$1"
  out=$(mktemp "$STATE_DIR/.output.XXXXXX")
  kubeadm_attempt "$out" "$@"
  [ "$status" -ne 0 ] || return 0
  line=$(key_line "$out")
  keep_output "$out"
  # Failed, not cut off: once the block is lifted, a new attempt may start.
  rm -f "$KUBEADM_STATE/started"
  block "kubeadm-$NODE_ROLE" "kubeadm $1 failed with status $status: $line; not repeated automatically (etcd membership)"
}
