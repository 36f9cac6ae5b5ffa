"""Where k8sgen puts things on a node: paths and unit names, defined once.

Python imports the names; templates read the same ones as `layout.NAME` (a Jinja global), so a
path is never retyped. The bootstrap script derives its own bookkeeping files (phase records,
lock, run counters) from the three roots.
"""

from __future__ import annotations

# The roots: configuration (written by cloud-init), state and log (written by the bootstrap).
CONFIG_DIR = "/etc/k8sgen"
STATE_DIR = "/var/lib/k8sgen"
LOG_DIR = "/var/log/k8sgen"

BOOTSTRAP_SCRIPT = "/usr/local/sbin/k8sgen-bootstrap"
BOOTSTRAP_UNIT = "k8sgen-bootstrap.service"
BOOTSTRAP_UNIT_FILE = f"/etc/systemd/system/{BOOTSTRAP_UNIT}"
BOOTSTRAP_DONE = f"{STATE_DIR}/bootstrap.done"
STATUS_FILE = f"{STATE_DIR}/status.json"
KUBEADM_STATE = f"{STATE_DIR}/kubeadm"  # succeeded / blocked / started marks of kubeadm
# The copy of the shared CA material (0600 files in 0700 folders) that `kubeadm reset` cannot
# empty, and kubeadm's certificate directory, which it can.
PKI_STASH = f"{STATE_DIR}/pki"
PKI_DIR = "/etc/kubernetes/pki"

HOSTS_BLOCK = f"{CONFIG_DIR}/hosts"  # appended to /etc/hosts by the prepare phase
KUBEADM_CONFIG = f"{CONFIG_DIR}/kubeadm.yaml"
KUBEADM_PATCHES = f"{CONFIG_DIR}/kubeadm-patches"  # kubeadm's patches.directory
# kubeadm discovery.file of a node that joins with its own certificate (removed once joined).
JOIN_KUBECONFIG = f"{CONFIG_DIR}/join.conf"
APT_LISTS = f"{CONFIG_DIR}/apt"  # k8sgen's apt sources, copied to /etc/apt/sources.list.d/
CONTAINERD_CONFIGS = f"{CONFIG_DIR}/containerd"  # config-v2.toml, config-v3.toml
IMAGE_MARKER = f"{CONFIG_DIR}/image.json"  # what a baked image was baked for
KUBE_VIP_STAGED = f"{CONFIG_DIR}/kube-vip"  # kube-vip manifests until kubeadm's phase needs them
CALICO_PATCHED = f"{CONFIG_DIR}/calico/calico-patched.yaml"
CALICO_PATCH_SCRIPT = "/usr/local/lib/k8sgen/calico_patch.py"

CERTS_DIR = "/etc/containerd/certs.d"  # containerd's registry hosts
CRICTL_CONFIG = "/etc/crictl.yaml"
MODULES_FILE = "/etc/modules-load.d/k8sgen.conf"
SYSCTL_FILE = "/etc/sysctl.d/99-k8sgen.conf"

# Control planes renew kubeadm's certificates inside a threshold (a daily timer).
CERT_RENEWAL_SCRIPT = "/usr/local/sbin/k8sgen-cert-renewal"
CERT_RENEWAL_UNIT = "k8sgen-cert-renewal.service"
CERT_RENEWAL_TIMER = "k8sgen-cert-renewal.timer"
CERT_RENEWAL_UNIT_FILE = f"/etc/systemd/system/{CERT_RENEWAL_UNIT}"
CERT_RENEWAL_TIMER_FILE = f"/etc/systemd/system/{CERT_RENEWAL_TIMER}"
STATIC_PODS_DIR = "/etc/kubernetes/manifests"
# spec.proxy: the environment of the bootstrap unit, containerd's drop-in, apt's setting.
PROXY_ENV = f"{CONFIG_DIR}/proxy.env"
CONTAINERD_PROXY_DROPIN = "/etc/systemd/system/containerd.service.d/k8sgen-proxy.conf"
APT_PROXY_CONF = "/etc/apt/apt.conf.d/95k8sgen-proxy"

# The API server's audit policy and log, and its encryption-at-rest configuration (control
# planes only): k8sgen's own folder (cloud-init writes nothing under /etc/kubernetes), out of
# reach of `kubeadm reset`; the static pod mounts each file alone, not the folder.
API_SERVER_CONFIG_DIR = f"{CONFIG_DIR}/apiserver"
AUDIT_POLICY = f"{API_SERVER_CONFIG_DIR}/audit-policy.yaml"
AUDIT_LOG_DIR = "/var/log/kubernetes/audit"
ENCRYPTION_CONFIG = f"{API_SERVER_CONFIG_DIR}/encryption-config.yaml"
