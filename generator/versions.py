"""Versions are data: what each supported Kubernetes minor, Calico release and OS needs.

Code asks these tables; it does not branch on version literals elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KubernetesMinor:
    minor: int
    kubeadm_api: str  # apiVersion of kubeadm's Init/Cluster/JoinConfiguration
    pause: str  # tag kubeadm expects for the sandbox image
    etcd: str  # default etcd tag of kubeadm at the newest patch
    coredns: str  # CoreDNS tag (pulled as <imageRepository>/coredns:<tag>)
    calico_default: str
    calico_tested: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"1.{self.minor}"

    @property
    def extra_args_as_list(self) -> bool:
        """v1beta4 turned extraArgs maps into lists of {name, value}."""
        return self.kubeadm_api == "kubeadm.k8s.io/v1beta4"

    @property
    def timeouts_in_own_section(self) -> bool:
        """v1beta4 moved discovery.timeout (and others) to a `timeouts` section."""
        return self.kubeadm_api == V1BETA4

    @property
    def has_super_admin_conf(self) -> bool:
        """kubeadm init writes super-admin.conf; admin.conf gets its rights only after init."""
        return self.minor >= SUPER_ADMIN_CONF_FROM_MINOR

    @property
    def refuses_cgroup_v1(self) -> bool:
        """The kubelet exits on a cgroup v1 host and kubeadm's preflight refuses it."""
        return self.minor >= REFUSES_CGROUP_V1_FROM_MINOR


# From 1.29 admin.conf is bound to cluster-admin by an RBAC binding that `kubeadm init` creates
# through the API, and the break-glass super-admin.conf exists on the init node only.
SUPER_ADMIN_CONF_FROM_MINOR = 29
# KEP-5573 (kubernetes#134298): the kubelet defaults to failCgroupV1: true from 1.35, and
# kubeadm's SystemVerification (system-validators v1.12.1, kubernetes#134744) makes cgroup v1
# an error for kubelet >= 1.35.
REFUSES_CGROUP_V1_FROM_MINOR = 35

V1BETA3 = "kubeadm.k8s.io/v1beta3"
V1BETA4 = "kubeadm.k8s.io/v1beta4"

# Tags are those of the newest patch of each minor as far as known (etcd moves within a
# minor: kubeadm pulls the right etcd/CoreDNS itself; the node adopts kubeadm's pause tag
# if it differs). calico_tested: Calico releases whose requirements page lists the minor.
# fmt: off
KUBERNETES: dict[int, KubernetesMinor] = {
    m.minor: m
    for m in (
        #               minor API      pause     etcd        CoreDNS    Calico default
        KubernetesMinor(30, V1BETA3, "3.9",    "3.5.15-0", "v1.11.3", "v3.28.5",
                        ("v3.28", "v3.29")),
        KubernetesMinor(31, V1BETA4, "3.10",   "3.5.24-0", "v1.11.3", "v3.30.7",
                        ("v3.29", "v3.30")),
        KubernetesMinor(32, V1BETA4, "3.10",   "3.5.24-0", "v1.11.3", "v3.30.7",
                        ("v3.29", "v3.30", "v3.31", "v3.32")),
        KubernetesMinor(33, V1BETA4, "3.10",   "3.5.24-0", "v1.12.0", "v3.30.7",
                        ("v3.30", "v3.31", "v3.32")),
        KubernetesMinor(34, V1BETA4, "3.10.1", "3.6.5-0",  "v1.12.1", "v3.31.7",
                        ("v3.30", "v3.31", "v3.32")),
        KubernetesMinor(35, V1BETA4, "3.10.1", "3.6.6-0",  "v1.13.1", "v3.32.1",
                        ("v3.30", "v3.31", "v3.32")),
        KubernetesMinor(36, V1BETA4, "3.10.2", "3.6.10-0", "v1.14.2", "v3.32.1",
                        ("v3.32",)),
        # Not released upstream as of this table: no Calico release lists it yet.
        KubernetesMinor(37, V1BETA4, "3.10.2", "3.7.0-0",  "v1.14.3", "v3.32.1",
                        ()),
    )
}
# fmt: on


@dataclass(frozen=True)
class CalicoRelease:
    minor: str  # e.g. "v3.30"
    registry: str  # where calico.yaml pulls its images from

    def images(self, version: str) -> tuple[str, ...]:
        """The images calico.yaml of this release references (checked against real manifests)."""
        return tuple(f"{self.registry}/calico/{name}:{version}" for name in CALICO_IMAGE_NAMES)


CALICO_IMAGE_NAMES = ("cni", "node", "kube-controllers")

CALICO: dict[str, CalicoRelease] = {
    r.minor: r
    for r in (
        CalicoRelease("v3.28", "docker.io"),
        CalicoRelease("v3.29", "docker.io"),
        CalicoRelease("v3.30", "docker.io"),
        CalicoRelease("v3.31", "quay.io"),
        CalicoRelease("v3.32", "quay.io"),
    )
}

# sha256 of manifests/calico.yaml as each release publishes it (computed from the release files
# themselves): a downloaded manifest must match before the init node applies it, whichever
# mirror served it. A release not listed here needs cni.calico.sha256 or a local manifest.
CALICO_MANIFEST_SHA256: dict[str, str] = {
    "v3.28.5": "206678e7adb2e931bb97385300c408490635616f371941d68468207d6e0f9713",
    "v3.30.7": "ed105288f27c7ba4cae143bcaa3f6425f02d84fa94a4786cc8e3d371412c1a36",
    "v3.31.7": "d6d8a489a4ed8e5b8efd8b339047b496ca657b55ee2e3618e791507b0a853e8d",
    "v3.32.1": "a1df919d9721cf667accdc3e72848911b0cb25cfab7d2478ad0c996302c95744",
}


# kube-vip (static pod, ARP, leader election) for spec.controlPlane.vip. v0.8.9: long-lived and
# widely deployed. Later releases had control-plane regressions: v1.0.1-v1.0.3 stalled elections
# (kube-vip#1377); v1.2.2 dials the VIP itself for its lease, a deadlock on cold start (#1654).
KUBE_VIP_REPOSITORY = "ghcr.io/kube-vip/kube-vip"
KUBE_VIP_VERSION = "v0.8.9"


@dataclass(frozen=True)
class OSFamily:
    name: str  # spec.os.family
    os_release_id: str  # ID= in /etc/os-release (openEuler writes it mixed case)
    version_id: str  # how VERSION_ID matches spec.os.version: "exact", or "major" ("9.4" -> "9")
    package_format: str  # "deb" (apt) or "rpm" (dnf)
    selinux: bool  # images boot with SELinux enforcing: the node sets it permissive
    firewalld: bool  # images run firewalld: spec.os.firewalld applies
    # dnf capability of the versionlock plugin: python3-dnf-plugin-versionlock on EL 8/9
    # (where yum-plugin-versionlock is an alias); naming the capability spares us guessing
    # each distribution's package name.
    versionlock: str = ""
    # cloud-init renderers that write the network on this family's images (tests run each).
    network_renderers: tuple[str, ...] = ()
    # The first NIC's name on the family's official cloud images, or "" where it depends on
    # the platform and the spec must name it.
    default_interface: str = ""

    @property
    def gateway_as_gateway4(self) -> bool:
        """cloud-init's eni renderer turns a default route into `post-up route add ...`, which
        needs net-tools; `gateway4` becomes ifupdown's own `gateway` line (iproute2). netplan
        deprecates gateway4, so only families that may render eni get it."""
        return "eni" in self.network_renderers


DNF_VERSIONLOCK = "dnf-command(versionlock)"

# Ubuntu's images render netplan only. Debian's cloud images render netplan; images with
# ifupdown (debootstrap, many hypervisor templates) eni; with neither, networkd. EL and
# openEuler render ifcfg files (sysconfig) or NetworkManager keyfiles.
DEBIAN_RENDERERS = ("netplan", "eni", "networkd")
RPM_RENDERERS = ("sysconfig", "network-manager")
# Rocky's and AlmaLinux's GenericCloud images boot with net.ifnames=0: the first NIC is eth0
# on every platform. Ubuntu and Debian use predictable names (ens3, enp1s0, ens5, ens192, ...
# by platform) and openEuler's images differ by vendor: no default there.
EL_INTERFACE = "eth0"

OS_FAMILIES: dict[str, OSFamily] = {
    f.name: f
    for f in (
        OSFamily("ubuntu", "ubuntu", "exact", "deb", False, False, network_renderers=("netplan",)),
        OSFamily(
            "debian", "debian", "exact", "deb", False, False, network_renderers=DEBIAN_RENDERERS
        ),
        OSFamily(
            "rocky",
            "rocky",
            "major",
            "rpm",
            True,
            True,
            DNF_VERSIONLOCK,
            RPM_RENDERERS,
            EL_INTERFACE,
        ),
        OSFamily(
            "almalinux",
            "almalinux",
            "major",
            "rpm",
            True,
            True,
            DNF_VERSIONLOCK,
            RPM_RENDERERS,
            EL_INTERFACE,
        ),
        OSFamily(
            "openeuler", "openEuler", "exact", "rpm", True, True, DNF_VERSIONLOCK, RPM_RENDERERS
        ),
    )
}


@dataclass(frozen=True)
class OSRelease:
    family: str
    version: str
    codename: str  # deb: the docker-ce suite; "" on rpm systems
    package_format: str  # "deb" (apt) or "rpm" (dnf)
    # rpm: docker-ce tree under <containerd mirror>/linux/ that provides containerd.io.
    # docker-ce publishes no openEuler tree: openEuler takes the EL8 build (glibc 2.28 floor,
    # as kubespray does); openEuler's own containerd is 1.2.0 built with no_cri.
    docker_ce_tree: str = ""
    extra_packages: tuple[str, ...] = ()  # rpm: installed next to kubelet and containerd
    # The image boots the cgroup v1 hierarchy: EL8's systemd mounts v1 unless the kernel
    # command line says systemd.unified_cgroup_hierarchy=1; openEuler 22.03 builds systemd
    # with -Ddefault-hierarchy=legacy.
    cgroup_v1: bool = False

    @property
    def traits(self) -> OSFamily:
        return OS_FAMILIES[self.family]


# EL: kubeadm's preflight wants `tc` (iproute-tc); EL8 images have only platform-python,
# and the init node runs python3 to patch the Calico manifest.
EL8_PACKAGES = ("iproute-tc", "python3")
EL9_PACKAGES = ("iproute-tc",)

OPERATING_SYSTEMS: dict[tuple[str, str], OSRelease] = {
    (o.family, o.version): o
    for o in (
        OSRelease("ubuntu", "22.04", "jammy", "deb"),
        OSRelease("ubuntu", "24.04", "noble", "deb"),
        OSRelease("debian", "12", "bookworm", "deb"),
        OSRelease("debian", "13", "trixie", "deb"),
        OSRelease("rocky", "8", "", "rpm", "rhel/8", EL8_PACKAGES, cgroup_v1=True),
        OSRelease("rocky", "9", "", "rpm", "rhel/9", EL9_PACKAGES),
        OSRelease("almalinux", "8", "", "rpm", "rhel/8", EL8_PACKAGES, cgroup_v1=True),
        OSRelease("almalinux", "9", "", "rpm", "rhel/9", EL9_PACKAGES),
        OSRelease("openeuler", "22.03", "", "rpm", "rhel/8", cgroup_v1=True),
        OSRelease("openeuler", "24.03", "", "rpm", "rhel/8"),
    )
}


@dataclass(frozen=True)
class Architecture:
    name: str  # spec.arch; also the Go/OCI name: images are pulled for linux/<name>
    deb: str  # dpkg architecture (apt `arch=`)
    rpm: str  # rpm basearch, and what `uname -m` prints

    @property
    def platform(self) -> str:
        return f"linux/{self.name}"


# Every OS release above is supported on both.
ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("amd64", "amd64", "x86_64"),
        Architecture("arm64", "arm64", "aarch64"),
    )
}


def minor_of(version: str) -> int:
    """1.33.4 -> 33."""
    return int(version.split(".")[1])


def calico_minor_of(version: str) -> str:
    """v3.30.7 -> v3.30."""
    return ".".join(version.split(".")[:2])


def supported_minors() -> str:
    return ", ".join(m.name for m in KUBERNETES.values())


def supported_os() -> str:
    return ", ".join(f"{o.family} {o.version}" for o in OPERATING_SYSTEMS.values())
