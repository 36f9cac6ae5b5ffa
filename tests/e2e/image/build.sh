#!/usr/bin/env bash
# Build the Debian 12 VM image the boot test starts: a raw ext4 root file system made from
# Debian's packages (debootstrap) with no loop mount (`mkfs.ext4 -d`), plus the kernel and
# initrd for qemu's direct kernel boot. Nothing of k8sgen's output is in it: the NoCloud seed
# brings the node; the observer unit (beside this script) records what the test cannot see
# live and powers the VM off.
#
# Usage: build.sh OUT_DIR    (OUT_DIR must not exist; it appears complete or not at all)
# Environment: K8SGEN_E2E_MIRROR  Debian mirror for debootstrap (default deb.debian.org)
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${K8SGEN_E2E_MIRROR:-http://deb.debian.org/debian}
[ ! -e "$out" ] || { echo "build.sh: $out exists" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "build.sh: debootstrap needs root" >&2; exit 1; }

work=$(mktemp -d "$out.tmp.XXXXXX")
root=$work/root
# On failure debootstrap's own log says which package broke; the half-built tree goes.
clean_up() {
  local status=$?
  [ "$status" -eq 0 ] || tail -n 40 "$root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
  rm -rf "$work"
}
trap clean_up EXIT

# What a Debian 12 cloud image has that the bootstrap and cloud-init use: systemd, udev and
# blkid (the seed is found by its label "cidata"), curl, procps (sysctl), kmod, ifupdown,
# systemd-timesyncd (so cloud-init's ntp module has a client and installs none).
# python3-cffi-backend: provides a virtual package cloud-init needs (through
# python3-cryptography) that debootstrap's resolver does not follow.
packages=(
  systemd-sysv udev kmod linux-image-amd64 initramfs-tools
  cloud-init python3-cffi-backend ifupdown iproute2 procps curl ca-certificates
  systemd-timesyncd
)
debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  bookworm "$root" "$mirror"

# Only the NoCloud seed: ds-identify then skips probing for clouds that are not there.
cat >"$root/etc/cloud/cloud.cfg.d/99-k8sgen-e2e.cfg" <<'CFG'
datasource_list: [NoCloud, None]
CFG

# A swap file in fstab, so "swap off" has something to turn off. Filled with non-zero bytes:
# mkfs.ext4 -d leaves zero blocks as holes, and swapon refuses a file with holes.
head -c 33554432 /dev/zero | tr '\0' '\377' >"$root/swapfile"
chmod 0600 "$root/swapfile"
mkswap "$root/swapfile" >/dev/null
cat >"$root/etc/fstab" <<'FSTAB'
LABEL=k8sgen-e2e / ext4 defaults,errors=remount-ro 0 1
/swapfile none swap sw 0 0
FSTAB

# The locale cloud-init sets on Debian, generated now: its locale module cannot do it on a
# minimal system (locale-gen ignores its argument) and would fail at every boot.
echo 'en_US.UTF-8 UTF-8' >"$root/etc/locale.gen"
chroot "$root" locale-gen >/dev/null
echo 'LANG=en_US.UTF-8' >"$root/etc/default/locale"

echo localhost >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# Empty machine-id: systemd treats the first boot as a first boot.
: >"$root/etc/machine-id"

install -m 0755 "$here/observe.py" "$root/usr/local/lib/k8sgen-e2e-observe"
install -m 0644 "$here/k8sgen-e2e-observe.service" "$root/etc/systemd/system/"
ln -s /etc/systemd/system/k8sgen-e2e-observe.service \
  "$root/etc/systemd/system/multi-user.target.wants/k8sgen-e2e-observe.service"

cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/initrd.img"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
mkfs.ext4 -q -L k8sgen-e2e -d "$root" "$work/disk.img" 3G
rm -rf "$root"
mv "$work" "$out"
trap - EXIT
