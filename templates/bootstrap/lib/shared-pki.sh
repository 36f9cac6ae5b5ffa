# shellcheck shell=bash
# The CA material kubeadm's manual certificate distribution gives this node (the init node,
# and control planes joining with spec certificateDistribution "files").

# restore_shared_pki: the CA material this node was given, copied (0600 files, 0700 folders,
# as the start of the script made them) from PKI_STASH, where `kubeadm reset` cannot reach,
# into kubeadm's certificate directory PKI_DIR, which a reset empties: kubeadm then uses it
# instead of making a new CA that no rendered CA hash names.
restore_shared_pki() {
  install -d -m 0700 "$PKI_DIR"
  cp -Rp "$PKI_STASH/." "$PKI_DIR/"
}
