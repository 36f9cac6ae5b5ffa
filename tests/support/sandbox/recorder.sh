#!/bin/bash
# Stands in for a system command inside the bootstrap sandbox (tests/support/sandbox/__init__.py):
# records the call in $FAKE/calls.log, then plays the first matching rule of $FAKE/rules
# (NAME<TAB>SUBSTRING<TAB>TIMES<TAB>ACTION<TAB>EXIT<TAB>TEXT) while its count lasts, else
# the command's ordinary success. Actions: fail (TEXT on stderr, exit EXIT), say (TEXT on
# stdout, exit EXIT), kill (SIGKILL to the whole run: power loss), term (SIGTERM to the
# whole run: shutdown or systemctl stop).
set -u
name=${0##*/}
arguments="$*"
printf '%q ' "$name" "$@" >>"$FAKE/calls.log"
printf '\n' >>"$FAKE/calls.log"

rule_number=0
if [ -f "$FAKE/rules" ]; then
  while IFS=$'\t' read -r rule_name substring times action code text; do
    rule_number=$((rule_number + 1))
    [ "$rule_name" = "$name" ] || continue
    [[ $arguments == *"$substring"* ]] || continue
    counter="$FAKE/count.$rule_number"
    used=$(cat "$counter" 2>/dev/null || echo 0)
    if [ "$times" -ge 0 ] && [ "$used" -ge "$times" ]; then
      continue
    fi
    echo $((used + 1)) >"$counter"
    case "$action" in
      fail) printf '%b\n' "$text" >&2; exit "$code" ;;
      say) printf '%b\n' "$text"; exit "$code" ;;
      kill) kill -KILL 0 ;;
      term) kill -TERM 0; exit 143 ;;
    esac
  done <"$FAKE/rules"
fi

# Ordinary success: just enough output and files for the script to go on.
output_file() {
  local previous=""
  for argument in "$@"; do
    if [ "$previous" = "-o" ]; then
      echo "$argument"
      return
    fi
    previous=$argument
  done
}

case "$name" in
  curl)
    target=$(output_file "$@")
    if [[ $arguments == *"--data-binary @"* ]]; then
      # A status report: keep what was sent, numbered.
      posted=${arguments##*--data-binary @}
      mkdir -p "$FAKE/posts"
      count=$(find "$FAKE/posts" -name '*.json' | wc -l)
      cp "${posted%% *}" "$FAKE/posts/$(printf '%03d' "$count").json"
    elif [ -n "$target" ]; then
      echo "downloaded by the fake curl" >"$target"
    elif [[ $arguments == */readyz* ]]; then
      echo ok
    fi
    ;;
  containerd)
    echo "containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da"
    ;;
  kubeadm)
    # What kubeadm does with /etc/kubernetes/pki: reset empties it, init makes a CA when
    # there is none, a control-plane join needs the shared CA, a worker's must have none.
    pki=/etc/kubernetes/pki
    case "$arguments" in
      "config images list"*) cat "$FAKE/pause-image" ;;
      "reset"*) rm -rf "${pki:?}"/* ;;
      init* | join*)
        control_plane=no
        if [[ $arguments == init* ]] || grep -q '^controlPlane:' /etc/k8sgen/kubeadm.yaml; then
          control_plane=yes
        fi
        if [[ $arguments == join* ]] && [ "$control_plane" = no ] && [ -e "$pki/ca.crt" ]; then
          echo "[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: $pki/ca.crt already exists" >&2
          exit 1
        fi
        if [[ $arguments == join* ]] && [ "$control_plane" = yes ] && [ ! -e "$pki/ca.crt" ] &&
          ! grep -q 'certificateKey:' /etc/k8sgen/kubeadm.yaml; then
          echo "error execution phase control-plane-prepare/certs: failure loading certificate for CA" >&2
          exit 1
        fi
        if [ ! -e "$pki/ca.crt" ]; then
          mkdir -p "$pki"
          echo "a new CA made by kubeadm" >"$pki/ca.crt"
        fi
        mkdir -p /etc/kubernetes
        echo "fake admin.conf" >/etc/kubernetes/admin.conf
        ;;
    esac
    ;;
  python3)
    # calico_patch.py --pod-cidr CIDR IN OUT
    cp "${@: -2:1}" "${@: -1}"
    ;;
  uname)
    cat "$FAKE/machine"
    ;;
  systemctl)
    [[ $arguments == is-active* ]] && echo active
    ;;
esac
exit 0
