#!/bin/bash
# k8sgen image bake for cluster baked: Kubernetes 1.33.4 on ubuntu 24.04.
# Run as root by Packer (k8sgen.pkr.hcl): phases files, prepare, install, runtime, prepull, seal.
# Nodes booted from the image run only kubeadm and the CNI (spec.bootstrap.baked: true).
set -Eeuo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

readonly LOG_DIR=/var/log/k8sgen
readonly STATE_DIR=/var/lib/k8sgen
readonly STATUS_FILE=$STATE_DIR/status.json
readonly CONFIG_DIR=/etc/k8sgen
readonly FILES_DIR=${K8SGEN_FILES:?set by the Packer template: where the files/ folder was uploaded}
readonly BAKE_USER=${K8SGEN_BAKE_USER:-}
readonly NODE_NAME=image-bake
readonly NODE_ROLE=bake
readonly OS_ID=ubuntu
readonly OS_VERSION_ID=24.04
readonly ARCH=amd64
readonly MACHINE=x86_64
readonly KUBERNETES_VERSION=1.33.4
readonly IMAGE_REPOSITORY=registry.aliyuncs.com/google_containers
readonly PAUSE_IMAGE=registry.aliyuncs.com/google_containers/pause:3.10
CURRENT_PHASE=start

mkdir -p "$LOG_DIR" "$STATE_DIR"
chmod 0700 "$STATE_DIR"

log() {
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$CURRENT_PHASE" "$*"
}

# A JSON string from any text: escapes, and drops other control characters.
json_string() {
  local text=$1
  text=${text//\\/\\\\}
  text=${text//\"/\\\"}
  text=${text//$'\n'/\\n}
  text=${text//$'\t'/\\t}
  text=$(printf '%s' "$text" | tr -d '\000-\037')
  printf '"%s"' "$text"
}

# write_status PHASE RESULT ERROR: replaced atomically, so a reader never sees half a file.
write_status() {
  local tmp
  tmp=$(mktemp "$STATE_DIR/.status.XXXXXX")
  printf '{"node": %s, "role": %s, "phase": %s, "result": %s, "error": %s, "time": %s}\n' \
    "$(json_string "$NODE_NAME")" "$(json_string "$NODE_ROLE")" "$(json_string "$1")" \
    "$(json_string "$2")" "$(json_string "$3")" "$(json_string "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" \
    >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$STATUS_FILE"
}

fail() {
  trap - ERR
  log "FAILED: $*"
  write_status "$CURRENT_PHASE" failed "$*"
  exit 1
}

on_error() {
  local code=$1 line=$2 command=$3
  trap - ERR
  log "FAILED: '$command' exited with status $code (line $line)"
  write_status "$CURRENT_PHASE" failed "'$command' exited with status $code"
  exit "$code"
}
trap 'on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR

# retry ATTEMPTS COMMAND...: for steps that cross the network; the delay doubles up to 60 s.
retry() {
  local attempts=$1 attempt=1 delay=5
  shift
  until "$@"; do
    if [ "$attempt" -ge "$attempts" ]; then
      log "giving up after $attempts attempts: $*"
      return 1
    fi
    log "attempt $attempt of $attempts failed, again in ${delay}s: $*"
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
  done
}

# Plain `apt-get update` exits 0 even when every repository failed (apt >= 2.1.16 has this).
apt_update() {
  apt-get update -o APT::Update::Error-Mode=any
}

run_phase() {
  CURRENT_PHASE=$1
  write_status "$1" running ""
  log "start"
  "phase_$1"
  log "done"
}


# phase_files: the configuration files that user-data writes on an image that was not baked.
phase_files() {
  install -D -m 0644 "$FILES_DIR"/etc/k8sgen/hosts /etc/k8sgen/hosts
  install -D -m 0644 "$FILES_DIR"/etc/modules-load.d/k8sgen.conf /etc/modules-load.d/k8sgen.conf
  install -D -m 0644 "$FILES_DIR"/etc/sysctl.d/99-k8sgen.conf /etc/sysctl.d/99-k8sgen.conf
  install -D -m 0644 "$FILES_DIR"/etc/k8sgen/apt/kubernetes.list /etc/k8sgen/apt/kubernetes.list
  install -D -m 0644 "$FILES_DIR"/etc/k8sgen/apt/containerd.list /etc/k8sgen/apt/containerd.list
  install -D -m 0644 "$FILES_DIR"/etc/k8sgen/containerd/config-v2.toml /etc/k8sgen/containerd/config-v2.toml
  install -D -m 0644 "$FILES_DIR"/etc/k8sgen/containerd/config-v3.toml /etc/k8sgen/containerd/config-v3.toml
  install -D -m 0644 "$FILES_DIR"/etc/containerd/certs.d/docker.io/hosts.toml /etc/containerd/certs.d/docker.io/hosts.toml
  install -D -m 0644 "$FILES_DIR"/etc/containerd/certs.d/ghcr.io/hosts.toml /etc/containerd/certs.d/ghcr.io/hosts.toml
  install -D -m 0644 "$FILES_DIR"/etc/containerd/certs.d/quay.io/hosts.toml /etc/containerd/certs.d/quay.io/hosts.toml
  install -D -m 0644 "$FILES_DIR"/etc/crictl.yaml /etc/crictl.yaml
}

# os_release KEY: a value of /etc/os-release without its quotes.
os_release() {
  sed -n "s/^$1=//p" /etc/os-release | tr -d '"'
}

# The node must be what the spec was rendered for: packages and images depend on it.
check_node_matches_spec() {
  local os_id os_version machine
  os_id=$(os_release ID)
  os_version=$(os_release VERSION_ID)
  if [ "$os_id" != "$OS_ID" ] || [ "$os_version" != "$OS_VERSION_ID" ]; then
    fail "this node runs $os_id $os_version but the spec says $OS_ID $OS_VERSION_ID: render for the right os"
  fi
  machine=$(uname -m)
  if [ "$machine" != "$MACHINE" ]; then
    fail "this node is $machine but the spec says arch $ARCH ($MACHINE): render with the right spec.arch"
  fi
}

phase_prepare() {
  check_node_matches_spec
  # Our block in /etc/hosts, replaced on every run.
  sed -i '/^# BEGIN k8sgen$/,/^# END k8sgen$/d' /etc/hosts
  cat "$CONFIG_DIR/hosts" >>/etc/hosts
  # The kubelet refuses to start with swap on.
  swapoff -a
  sed -ri '/^[^#].*[[:space:]]swap[[:space:]]/ s/^/#/' /etc/fstab
  modprobe overlay
  modprobe br_netfilter
  sysctl --system >/dev/null
}

phase_install() {
  if ! command -v curl >/dev/null; then
    retry 5 apt_update
    retry 5 apt-get install -y --no-install-recommends curl ca-certificates
  fi
  install -d -m 0755 /etc/apt/keyrings
  retry 5 curl -fsSL --connect-timeout 20 -o /etc/apt/keyrings/kubernetes.asc https://mirrors.aliyun.com/kubernetes-new/core/stable/v1.33/deb/Release.key
  retry 5 curl -fsSL --connect-timeout 20 -o /etc/apt/keyrings/docker.asc https://mirrors.aliyun.com/docker-ce/linux/ubuntu/gpg
  install -m 0644 "$CONFIG_DIR/apt/kubernetes.list" /etc/apt/sources.list.d/kubernetes.list
  install -m 0644 "$CONFIG_DIR/apt/containerd.list" /etc/apt/sources.list.d/containerd.list
  retry 5 apt_update
  retry 5 apt-get install -y --no-install-recommends \
    containerd.io conntrack socat \
    kubelet='1.33.4-*' kubeadm='1.33.4-*' kubectl='1.33.4-*'
  # Held: an unattended upgrade must not move the cluster or the containerd config format.
  apt-mark hold kubelet kubeadm kubectl containerd.io
}

phase_runtime() {
  local version major
  version=$(containerd --version | grep -Eo '[[:space:]]v?[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 | tr -d ' v')
  major=${version%%.*}
  case "$major" in
    1) install -m 0644 "$CONFIG_DIR/containerd/config-v2.toml" /etc/containerd/config.toml ;;
    2) install -m 0644 "$CONFIG_DIR/containerd/config-v3.toml" /etc/containerd/config.toml ;;
    *) fail "containerd ${version:-of unknown version} is neither 1.x nor 2.x: no config for it" ;;
  esac
  log "containerd $version: config version $((major + 1))"
  systemctl enable containerd
  # The sandbox image must be the pause tag this kubeadm expects; adopt it if ours differs.
  local expected
  expected=$(kubeadm config images list --kubernetes-version "v$KUBERNETES_VERSION" \
    --image-repository "$IMAGE_REPOSITORY" | grep '/pause:')
  if [ "$expected" != "$PAUSE_IMAGE" ]; then
    log "kubeadm expects sandbox image $expected, not $PAUSE_IMAGE: using $expected"
    sed -i "s|\"$PAUSE_IMAGE\"|\"$expected\"|" /etc/containerd/config.toml
  fi
  systemctl restart containerd
  retry 10 crictl info >/dev/null
}

phase_prepull() {
  retry 5 kubeadm config images pull --kubernetes-version "v$KUBERNETES_VERSION" \
    --image-repository "$IMAGE_REPOSITORY"
  local image
  for image in docker.io/calico/cni:v3.30.7 docker.io/calico/node:v3.30.7 docker.io/calico/kube-controllers:v3.30.7 ; do
    retry 5 crictl pull "$image" >/dev/null
  done
}

# phase_seal: record what the image was baked for, and make its next boot a first boot, so
# cloud-init runs the node's own user-data.
phase_seal() {
  install -D -m 0644 "$FILES_DIR"/etc/k8sgen/image.json /etc/k8sgen/image.json
  if [ -n "$BAKE_USER" ]; then
    rm -f "/home/$BAKE_USER/.ssh/authorized_keys"
  fi
  rm -rf "$FILES_DIR" "$STATE_DIR" "$LOG_DIR"
  cloud-init clean --logs
  truncate -s 0 /etc/machine-id
  rm -f /var/lib/dbus/machine-id
}

run_phase files
run_phase prepare
run_phase install
run_phase runtime
run_phase prepull
run_phase seal
echo "image baked for Kubernetes $KUBERNETES_VERSION"
