#!/bin/bash
# k8sgen image bake for cluster baked: Kubernetes 1.33.6 on ubuntu 24.04.
# Run as root by Packer (k8sgen.pkr.hcl): phases files, prepare, install, runtime, prepull.
# Nodes booted from the image run only kubeadm and the CNI (spec.bootstrap.baked: true).
set -Eeuo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

readonly LOG_DIR=/var/log/k8sgen
readonly LOG_FILE=$LOG_DIR/bootstrap.log
readonly STATE_DIR=/var/lib/k8sgen
readonly PHASE_DIR=$STATE_DIR/phases
readonly STATUS_FILE=/var/lib/k8sgen/status.json
readonly DONE_FILE=/var/lib/k8sgen/bootstrap.done
readonly CONFIG_DIR=/etc/k8sgen
readonly BOOTSTRAP_UNIT=k8sgen-bootstrap.service
readonly CLUSTER_NAME=baked
readonly NODE_NAME=image-bake
readonly NODE_ROLE=bake
readonly OS_ID=ubuntu
readonly OS_VERSION_ID=24.04
readonly ARCH=amd64
readonly MACHINE=x86_64
readonly KUBERNETES_VERSION=1.33.6
readonly IMAGE_REPOSITORY=registry.aliyuncs.com/google_containers
readonly PAUSE_IMAGE=registry.aliyuncs.com/google_containers/pause:3.10
readonly -a PHASES=(files prepare install runtime prepull)
readonly RETRY_ATTEMPTS=8
readonly RETRY_INITIAL_DELAY=5
readonly RETRY_MAX_DELAY=120
readonly REPORT_URL=''
readonly HEAL_REASONS=''
readonly HEAL_ATTEMPTS=4
readonly HEAL_DELAY_SECONDS=1800
readonly PACKAGES=apt
readonly PACKAGE_LOCK_WAIT_SECONDS=600
readonly -a APT_OPTIONS=()
CURRENT_PHASE=start
readonly FILES_DIR=${K8SGEN_FILES:?set by the Packer template: where the files/ folder was uploaded}
readonly BAKE_USER=${K8SGEN_BAKE_USER:-}

mkdir -p "$LOG_DIR" "$PHASE_DIR"
chmod 0700 "$STATE_DIR"

RESULT=running RESULT_REASON="" RESULT_ERROR="" RUNS=0 HEALS=0
P_NAME="" P_STATE="" P_START="" P_END="" P_ATTEMPTS=0 P_RETRIES=0 P_REASON="" P_ERROR=""
exec 3>&1
log() {
  printf '%s [%s] %s\n' "$(now)" "$CURRENT_PHASE" "$*" >&3
}
now() {
  date -u +%Y-%m-%dT%H:%M:%SZ
}
json_str() {
  local text=$2
  text=${text//\\/\\\\}
  text=${text//\"/\\\"}
  text=${text//$'\n'/\\n}
  text=${text//$'\t'/\\t}
  text=${text//[[:cntrl:]]/}
  json_raw "$1" "\"$text\""
}
json_raw() {
  JSON+="${JSON:+$JSON_SEP}\"$1\": $2"
}
redact() {
  sed -E 's/\b[a-z0-9]{6}\.[a-z0-9]{16}\b/<token>/g; s/(certificate-key[ =:]+)[0-9a-f]{64}/\1<key>/g'
}
one_line() {
  local text=${1//[$'\r\n\t']/ }
  text=$(printf '%s\n' "$text" | redact)
  printf '%s' "${text:0:300}"
}
read_record() {
  REC=()
  if [ -f "$PHASE_DIR/$1.state" ]; then
    mapfile -t REC <"$PHASE_DIR/$1.state"
  fi
  REC=("${REC[0]:-pending}" "${REC[1]:-}" "${REC[2]:-}" "${REC[3]:-0}" "${REC[4]:-0}"
    "${REC[5]:-}" "${REC[6]:-}")
}
load_record() {
  P_NAME=$1
  read_record "$1"
  P_STATE=${REC[0]} P_START=${REC[1]} P_END=${REC[2]} P_ATTEMPTS=${REC[3]}
  P_RETRIES=${REC[4]} P_REASON=${REC[5]} P_ERROR=${REC[6]}
}
save_record() {
  local tmp
  tmp=$(mktemp "$PHASE_DIR/.state.XXXXXX")
  printf '%s\n' "$P_STATE" "$P_START" "$P_END" "$P_ATTEMPTS" "$P_RETRIES" "$P_REASON" \
    "$(one_line "$P_ERROR")" >"$tmp"
  mv -f "$tmp" "$PHASE_DIR/$P_NAME.state"
}
json_phase() {
  local line lines=""
  if [ -f "$PHASE_DIR/$1.output" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      JSON=""
      json_str x "$line"
      lines+="${lines:+, }${JSON#\"x\": }"
    done <"$PHASE_DIR/$1.output"
  fi
  read_record "$1"
  JSON="" JSON_SEP=", "
  json_str name "$1"
  json_str state "${REC[0]}"
  json_str start "${REC[1]}"
  json_str end "${REC[2]}"
  json_raw attempts "${REC[3]}"
  json_raw retries "${REC[4]}"
  json_str reason "${REC[5]}"
  json_str error "${REC[6]}"
  json_raw output "[$lines]"
  JSON="{$JSON}"
}
status_json() {
  local phase phases="" now nl=$'\n'
  now=$(now)
  for phase in "${PHASES[@]}"; do
    json_phase "$phase"
    phases+="${phases:+,$nl}    $JSON"
  done
  JSON="" JSON_SEP=$',\n  '
  json_str kind K8sgenBootstrapStatus
  json_raw version 1
  json_str cluster "$CLUSTER_NAME"
  json_str node "$NODE_NAME"
  json_str role "$NODE_ROLE"
  json_str kubernetesVersion "$KUBERNETES_VERSION"
  json_str result "$RESULT"
  json_str phase "$CURRENT_PHASE"
  json_str reason "$RESULT_REASON"
  json_str error "$RESULT_ERROR"
  json_str time "$now"
  json_raw runs "$RUNS"
  json_raw heals "$HEALS"
  json_str log "$LOG_FILE"
  json_raw phases "[$nl$phases$nl  ]"
  printf '{\n  %s\n}\n' "$JSON"
}
write_status() {
  local tmp
  tmp=$(mktemp "$STATE_DIR/.status.XXXXXX")
  status_json >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$STATUS_FILE"
  [ "${1:-}" != post ] || [ -z "$REPORT_URL" ] || post_status
}
HEAL_NOTE=""
stop() {
  trap - ERR TERM INT HUP
  [ "$1" != failed ] || schedule_heal "$2"
  log "${1^^} ($2): $3${HEAL_NOTE:+ [$HEAL_NOTE]}"
  RESULT=$1 RESULT_REASON=$2 RESULT_ERROR=$(one_line "$3")
  if [ -n "$P_NAME" ]; then
    P_STATE=$1 P_END=$(now) P_REASON=$2 P_ERROR=$3
    save_record
  fi
  write_status post
  exit "$4"
}
schedule_heal() {
  [[ " $HEAL_REASONS " == *" $1 "* ]] || return 0
  if [ "$HEALS" -ge "$HEAL_ATTEMPTS" ]; then
    HEAL_NOTE="no automatic restart left ($HEALS of $HEAL_ATTEMPTS used)"
  elif systemd-run --unit="k8sgen-bootstrap-heal-$((HEALS + 1))" --on-active="$HEAL_DELAY_SECONDS" \
    "$(command -v systemctl)" start --no-block "$BOOTSTRAP_UNIT" >/dev/null 2>&1; then
    HEALS=$((HEALS + 1))
    echo "$HEALS" >"$STATE_DIR/heals"
    HEAL_NOTE="automatic restart $HEALS of $HEAL_ATTEMPTS in ${HEAL_DELAY_SECONDS}s"
  else
    HEAL_NOTE="no automatic restart: systemd-run failed"
  fi
}
fail_because() {
  stop failed "$1" "$2" 1
}
fail() {
  fail_because error "$*"
}
on_error() {
  local code=$1 line=$2 command=$3
  [ "$BASH_SUBSHELL" -eq 0 ] || exit "$code"
  fail_because command "'$command' exited with status $code (line $line)"
}
on_signal() {
  stop interrupted interrupted "stopped by a signal (shutdown, reboot or systemctl stop)" 143
}
record_failures() {
  trap 'on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR
  trap on_signal TERM INT HUP
}
backoff_seconds() {
  local delay=$((RETRY_INITIAL_DELAY << ($1 > 20 ? 19 : $1 - 1)))
  [ "$delay" -le "$RETRY_MAX_DELAY" ] || delay=$RETRY_MAX_DELAY
  echo $((delay - RANDOM % (delay / 2 + 1)))
}
key_line() {
  local line
  line=$(grep -E '^E: |^error|^Error|^dpkg: error|\[ERROR|curl: \(|rpc error|failed|FATA' "$1" | tail -n 1 || true)
  [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1 || true)
  one_line "${line:-no output}" | cut -c 1-200
}
keep_output() {
  if [ -n "$P_NAME" ]; then
    tail -n 20 "$1" | redact >"$PHASE_DIR/$P_NAME.output"
  fi
  rm -f "$1"
}
note_retry() {
  log "$1"
  P_RETRIES=$((P_RETRIES + 1))
  P_ERROR=$1
  save_record
  write_status
}
permanent_error() {
  grep -Eq \
    -e 'returned error: (400|401|403|404|405|410)' \
    -e 'URL using bad/illegal format' \
    -e 'code = NotFound' \
    -e 'manifest unknown' \
    -e 'error validating data' \
    -e 'strict decoding error' \
    "$1" || { [ -n "$PACKAGES" ] && package_error "$1"; }
}
command_text() {
  local text="$*"
  [ -z "$PACKAGES" ] || text=$(package_command_text "$text")
  printf '%s' "${text:0:160}"
}
try_command() {
  local mode=$1 try=1 status seconds out line what locked=0 lock_try=1
  shift
  what=$(command_text "$@")
  while :; do
    out=$(mktemp "$STATE_DIR/.output.XXXXXX")
    if "$@" 2>&1 | tee "$out"; then
      rm -f "$out"
      return 0
    else
      status=$?
    fi
    line=$(key_line "$out")
    if [ -n "$PACKAGES" ] && package_lock_held "$out"; then
      if [ "$locked" -ge "$PACKAGE_LOCK_WAIT_SECONDS" ]; then
        keep_output "$out"
        fail_because package-lock "'$what': another package manager run held the lock for ${locked}s (the most we wait): $line"
      fi
      rm -f "$out"
      seconds=$(backoff_seconds "$lock_try")
      note_retry "'$what': another package manager run holds the lock ($line); again in ${seconds}s"
      sleep "$seconds"
      locked=$((locked + seconds))
      lock_try=$((lock_try + 1))
      continue
    fi
    if [ "$mode" = local ]; then
      keep_output "$out"
      fail_because command "'$what' exited with status $status: $line"
    fi
    if permanent_error "$out"; then
      keep_output "$out"
      fail_because permanent "'$what' failed, and retrying cannot fix it: $line"
    fi
    if grep -q '^error: checksum: ' "$out"; then
      keep_output "$out"
      fail_because checksum "'$what' failed, and retrying cannot fix it: $line"
    fi
    if [ "$try" -ge "$RETRY_ATTEMPTS" ]; then
      keep_output "$out"
      fail_because network "'$what' failed $try times, the last with status $status: $line"
    fi
    rm -f "$out"
    seconds=$(backoff_seconds "$try")
    note_retry "try $try of $RETRY_ATTEMPTS of '$what' failed (status $status: $line); again in ${seconds}s"
    sleep "$seconds"
    try=$((try + 1))
  done
}
retry() {
  if [[ $1 =~ ^[0-9]+$ ]]; then shift; fi
  try_command network "$@"
}
wait_until() {
  local tries=$1 try=1
  shift
  until "$@"; do
    if [ "$try" -ge "$tries" ]; then
      return 1
    fi
    sleep "$(backoff_seconds "$try")"
    try=$((try + 1))
  done
}
run_phase() {
  CURRENT_PHASE=$1
  load_record "$1"
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
with_package_lock() {
  try_command local "$@"
}
package_lock_held() {
  grep -Eq \
    -e 'Could not get lock /' \
    -e 'Unable to acquire the dpkg frontend lock' \
    -e 'lock (was|is) locked by another process' \
    -e 'database is locked by another process' \
    -e 'already locked by [0-9]+' \
    -e "can't create transaction lock" \
    "$1"
}
package_error() {
  grep -Eq \
    -e 'Unable to locate package' \
    -e "Version '[^']*' for '[^']*' was not found" \
    -e 'has no installation candidate' \
    -e 'does not have a Release file' \
    -e 'NO_PUBKEY' \
    -e 'is not signed' \
    "$1"
}
apt_update() {
  apt_get update -o APT::Update::Error-Mode=any
}
apt_get() {
  apt-get "${APT_OPTIONS[@]}" "$@"
}
package_command_text() {
  local text=${1/#apt_update/apt-get update}
  printf '%s' "${text/#apt_get/apt-get}"
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
  install -D -m 0755 "$FILES_DIR"/usr/local/lib/k8sgen/calico_patch.py /usr/local/lib/k8sgen/calico_patch.py
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
    fail_because os-mismatch "this node runs $os_id $os_version but the spec says $OS_ID $OS_VERSION_ID: render for the right os"
  fi
  machine=$(uname -m)
  if [ "$machine" != "$MACHINE" ]; then
    fail_because arch-mismatch "this node is $machine but the spec says arch $ARCH ($MACHINE): render with the right spec.arch"
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
  sysctl -p /etc/sysctl.d/99-k8sgen.conf >/dev/null
}

phase_install() {
  with_package_lock dpkg --configure -a
  if ! command -v curl >/dev/null; then
    retry apt_update
    retry apt_get install -y --no-install-recommends curl ca-certificates
  fi
  install -d -m 0755 /etc/apt/keyrings
  retry curl -fsSL --connect-timeout 20 -o /etc/apt/keyrings/kubernetes.asc https://mirrors.aliyun.com/kubernetes-new/core/stable/v1.33/deb/Release.key
  retry curl -fsSL --connect-timeout 20 -o /etc/apt/keyrings/docker.asc https://mirrors.aliyun.com/docker-ce/linux/ubuntu/gpg
  install -m 0644 "$CONFIG_DIR/apt/kubernetes.list" /etc/apt/sources.list.d/kubernetes.list
  install -m 0644 "$CONFIG_DIR/apt/containerd.list" /etc/apt/sources.list.d/containerd.list
  retry apt_update
  retry apt_get install -y --no-install-recommends \
    containerd.io conntrack socat \
    kubelet='1.33.6-*' kubeadm='1.33.6-*' kubectl='1.33.6-*'
  # Held: an unattended upgrade must not move the cluster or the containerd config format.
  with_package_lock apt-mark hold kubelet kubeadm kubectl containerd.io
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
  wait_until 10 crictl info >/dev/null ||
    fail "containerd does not answer after its restart (journalctl -u containerd)"
}

phase_prepull() {
  retry kubeadm config images pull --kubernetes-version "v$KUBERNETES_VERSION" \
    --image-repository "$IMAGE_REPOSITORY"
  local image
  for image in docker.io/calico/cni:v3.30.7 docker.io/calico/node:v3.30.7 docker.io/calico/kube-controllers:v3.30.7 ; do
    retry crictl pull "$image" >/dev/null
  done
}

# seal_image: record what the image was baked for, and make its next boot a first boot, so
# cloud-init runs the node's own user-data. Not a phase: it removes the state and the log the
# phase runner writes to.
seal_image() {
  install -D -m 0644 "$FILES_DIR"/etc/k8sgen/image.json /etc/k8sgen/image.json
  if [ -n "$BAKE_USER" ]; then
    rm -f "/home/$BAKE_USER/.ssh/authorized_keys"
  fi
  rm -rf "$FILES_DIR" "$STATE_DIR" "$LOG_DIR"
  cloud-init clean --logs
  truncate -s 0 /etc/machine-id
  rm -f /var/lib/dbus/machine-id
}

record_failures
run_phase files
run_phase prepare
run_phase install
run_phase runtime
run_phase prepull
seal_image
echo "image baked for Kubernetes $KUBERNETES_VERSION"
