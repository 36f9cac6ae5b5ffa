"""Per-node #cloud-config, built as data from one small partial per concern."""

from __future__ import annotations

import base64
import gzip
from importlib import resources
from typing import Any

from generator.layout import (
    APT_LISTS,
    BOOTSTRAP_SCRIPT,
    BOOTSTRAP_UNIT,
    BOOTSTRAP_UNIT_FILE,
    CALICO_PATCH_SCRIPT,
    CALICO_PATCHED,
    CERT_RENEWAL_SCRIPT,
    CERTS_DIR,
    CONTAINERD_CONFIGS,
    CRICTL_CONFIG,
    HOSTS_BLOCK,
    KUBEADM_CONFIG,
    MODULES_FILE,
    PKI_STASH,
    SYSCTL_FILE,
)
from generator.model import (
    CERTIFICATES_FILES,
    MAX_MANIFEST_BYTES,
    REGISTRY_SERVERS,
    Cluster,
    Node,
)
from generator.offline import BUNDLE_LABEL
from generator.refs import carries_api_root
from generator.render import kubeadm, kubevip, renewal, rpm, security
from generator.render.firewall import firewalld_plan
from generator.render.library import library
from generator.render.node import (
    HEAL_ATTEMPTS,
    HEAL_DELAY_SECONDS,
    HEALING_REASONS,
    NodeKind,
    NodePlan,
)
from generator.render.strip import strip_python_comments
from generator.render.templating import render_script, render_template
from generator.render.vm_image import image_marker
from generator.render.yamlio import dump, dump_all
from generator.secrets import ClusterSecrets

KERNEL_MODULES = ("overlay", "br_netfilter")
# How long the node waits, in sleeps between tries, for a package-manager lock that another
# run (unattended-upgrades, apt-daily, dnf-automatic) holds, before it fails (transiently).
PACKAGE_LOCK_WAIT_SECONDS = 600
SYSCTLS = (
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ("net.ipv4.ip_forward", "1"),
)
# With an IPv6 network, kubeadm's preflight requires IPv6 forwarding (it reads
# net.ipv6.conf.default.forwarding); writing `all` also sets every NIC's.
IPV6_SYSCTLS = (
    ("net.ipv6.conf.all.forwarding", "1"),
    ("net.ipv6.conf.default.forwarding", "1"),
)
HEADER = "#cloud-config\n"
# The eight files of kubeadm's manual certificate distribution, relative to PKI_DIR.
SHARED_PKI = (
    "ca.crt",
    "ca.key",
    "sa.key",
    "sa.pub",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "etcd/ca.crt",
    "etcd/ca.key",
)


def write_file(path: str, content: str, permissions: str = "0644") -> dict[str, Any]:
    return {"path": path, "owner": "root:root", "permissions": permissions, "content": content}


def packed_file(path: str, content: str, permissions: str = "0644") -> dict[str, Any]:
    """A write_files entry that travels gzip-compressed and base64-encoded (cloud-init's
    `encoding: gz+b64`): about half the bytes of the plain text, for a script."""
    packed = base64.b64encode(gzip.compress(content.encode(), mtime=0)).decode()
    return {**write_file(path, packed, permissions), "encoding": "gz+b64"}


def user_data(cluster: Cluster, node: Node, plan: NodePlan, secrets: ClusterSecrets) -> str:
    return HEADER + dump(cloud_config(cluster, node, plan, secrets))


def cloud_config(
    cluster: Cluster, node: Node, plan: NodePlan, secrets: ClusterSecrets
) -> dict[str, Any]:
    # A baked image already holds the package and runtime configuration.
    image_files = [] if cluster.baked else [*package_files(cluster), *runtime_files(cluster)]
    files = [
        *system_files(cluster, node),
        *image_files,
        *kubeadm_files(cluster, node, plan, secrets),
        *kube_vip_files(cluster, node),
        *api_server_files(cluster, node, secrets),
        *cni_files(cluster, plan),
        packed_file(BOOTSTRAP_SCRIPT, bootstrap_script(cluster, node, plan), "0755"),
        write_file(BOOTSTRAP_UNIT_FILE, bootstrap_unit(node)),
        *renewal_files(cluster, node),
    ]
    config: dict[str, Any] = {
        "hostname": node.name,
        "preserve_hostname": False,
        "manage_etc_hosts": False,
        "ntp": {"enabled": True, "servers": list(cluster.ntp)},
    }
    if cluster.ssh_keys:
        config["ssh_authorized_keys"] = list(cluster.ssh_keys)
    if cluster.os.package_format == "rpm" and not cluster.baked:
        config["yum_repos"] = rpm.yum_repos(cluster)
    config["write_files"] = files
    config["runcmd"] = bootstrap_commands() + renewal.renewal_commands(node)
    return config


def bootstrap_commands() -> list[list[str]]:
    """Enabled, so it runs again on later boots until done; --no-block: cloud-init finishes."""
    return [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", BOOTSTRAP_UNIT],
        ["systemctl", "start", "--no-block", BOOTSTRAP_UNIT],
    ]


def bootstrap_unit(node: Node) -> str:
    return render_template(
        f"systemd/{BOOTSTRAP_UNIT}.j2",
        node_name=node.name,
    )


def renewal_files(cluster: Cluster, node: Node) -> list[dict[str, Any]]:
    """A control plane's certificate renewal: script, service and timer (none for a worker)."""
    if not node.is_control_plane:
        return []
    units = [write_file(path, text) for path, text in renewal.renewal_units(node).items()]
    return [packed_file(CERT_RENEWAL_SCRIPT, renewal.renewal_script(cluster), "0755"), *units]


def system_files(cluster: Cluster, node: Node) -> list[dict[str, Any]]:
    return [
        write_file(HOSTS_BLOCK, hosts_block(cluster, node)),
        write_file(MODULES_FILE, "".join(f"{m}\n" for m in KERNEL_MODULES)),
        write_file(SYSCTL_FILE, "".join(f"{k} = {v}\n" for k, v in sysctls(cluster))),
    ]


def sysctls(cluster: Cluster) -> tuple[tuple[str, str], ...]:
    return SYSCTLS + (IPV6_SYSCTLS if 6 in cluster.ip_families else ())


def hosts_block(cluster: Cluster, node: Node) -> str:
    own = "" if node.address else f"127.0.1.1 {node.name}\n"
    own += "".join(f"{line}\n" for line in kubevip.hosts_lines(cluster, node))
    return "# BEGIN k8sgen\n" + cluster.host_lines + own + "# END k8sgen\n"


def apt_settings(cluster: Cluster) -> dict[str, str]:
    """Repository lines, key URLs and the version pin for the apt path."""
    repo = cluster.mirrors.package_repo(cluster.kubernetes, "deb")
    docker = f"{cluster.mirrors.containerd.rstrip('/')}/linux/{cluster.os.family}"
    arch = cluster.arch.deb
    return {
        "kubernetes_list": (
            f"deb [arch={arch} signed-by=/etc/apt/keyrings/kubernetes.asc] {repo} /\n"
        ),
        "kubernetes_key": f"{repo}Release.key",
        "containerd_list": (
            f"deb [arch={arch} signed-by=/etc/apt/keyrings/docker.asc] {docker} "
            f"{cluster.os.codename} stable\n"
        ),
        "containerd_key": f"{docker}/gpg",
        "version_pin": f"{cluster.version}-*",
    }


def apt_source_options(cluster: Cluster) -> tuple[str, ...]:
    """Offline: apt reads only k8sgen's lists (/etc/k8sgen/apt/), never the image's own
    sources, whose unreachable OS mirror would fail every update (Error-Mode=any)."""
    if not cluster.offline.enabled:
        return ()
    return ("-o", "Dir::Etc::sourcelist=/dev/null", "-o", f"Dir::Etc::sourceparts={APT_LISTS}")


def package_files(cluster: Cluster) -> list[dict[str, Any]]:
    if cluster.os.package_format != "deb":
        return []  # dnf: cloud-init's yum_repos writes the repositories
    if cluster.offline.bundle:
        return []  # packages come from the bundle ISO
    apt = apt_settings(cluster)
    return [
        write_file(f"{APT_LISTS}/kubernetes.list", apt["kubernetes_list"]),
        write_file(f"{APT_LISTS}/containerd.list", apt["containerd_list"]),
    ]


def runtime_files(cluster: Cluster) -> list[dict[str, Any]]:
    context = {"pause_image": cluster.pause_image, "certs_dir": CERTS_DIR}
    files = [
        write_file(
            f"{CONTAINERD_CONFIGS}/config-v{v}.toml",
            render_template(f"containerd-config-v{v}.toml.j2", **context),
        )
        for v in (2, 3)
    ]
    for registry, mirrors in cluster.mirrors.registries:
        server = REGISTRY_SERVERS.get(registry, f"https://{registry}")
        if cluster.offline.enabled:
            server = mirrors[0]  # air-gapped: never fall back to the upstream registry
        hosts = render_template(
            "hosts.toml.j2",
            registry=registry,
            server=server,
            mirrors=mirrors,
            api_root=carries_api_root,
        )
        files.append(write_file(f"{CERTS_DIR}/{registry}/hosts.toml", hosts))
    crictl = {
        "runtime-endpoint": kubeadm.CRI_SOCKET,
        "image-endpoint": kubeadm.CRI_SOCKET,
        "timeout": 30,
    }
    files.append(write_file(CRICTL_CONFIG, dump(crictl)))
    return files


def kubeadm_files(
    cluster: Cluster, node: Node, plan: NodePlan, secrets: ClusterSecrets
) -> list[dict[str, Any]]:
    if plan.kind == NodeKind.INIT:
        documents = kubeadm.init_documents(cluster, node, secrets)
    else:
        documents = kubeadm.join_documents(cluster, node, secrets)
    files = [write_file(KUBEADM_CONFIG, dump_all(documents), "0600")]
    if carries_shared_pki(cluster, plan):
        files += shared_pki_files(secrets)
    return files


def carries_shared_pki(cluster: Cluster, plan: NodePlan) -> bool:
    """The init node always starts from the pre-generated CAs (their hash is in every join);
    joining control planes get them too, unless they download what init uploaded."""
    files_mode = cluster.certificate_distribution == CERTIFICATES_FILES
    return plan.kind == NodeKind.INIT or (plan.kind == NodeKind.JOIN_CONTROL_PLANE and files_mode)


def kube_vip_files(cluster: Cluster, node: Node) -> list[dict[str, Any]]:
    # 0600 like kubeadm's own static pod manifests.
    return [
        write_file(path, dump(manifest), "0600")
        for path, manifest in kubevip.manifests(cluster, node).items()
    ]


def api_server_files(cluster: Cluster, node: Node, secrets: ClusterSecrets) -> list[dict[str, Any]]:
    """Audit policy and encryption configuration on control planes."""
    return [
        write_file(path, dump(document), permissions)
        for path, document, permissions in security.control_plane_files(cluster, node, secrets)
    ]


def shared_pki_files(secrets: ClusterSecrets) -> list[dict[str, Any]]:
    """kubeadm's manual certificate distribution, kept where `kubeadm reset` cannot reach
    (it empties /etc/kubernetes/pki): the bootstrap copies them there before init or join."""
    contents = {
        "ca.crt": secrets.ca.cert,
        "ca.key": secrets.ca.key,
        "sa.key": secrets.service_account.key,
        "sa.pub": secrets.service_account.pub,
        "front-proxy-ca.crt": secrets.front_proxy_ca.cert,
        "front-proxy-ca.key": secrets.front_proxy_ca.key,
        "etcd/ca.crt": secrets.etcd_ca.cert,
        "etcd/ca.key": secrets.etcd_ca.key,
    }
    assert tuple(contents) == SHARED_PKI
    return [write_file(f"{PKI_STASH}/{name}", contents[name], "0600") for name in SHARED_PKI]


def cni_files(cluster: Cluster, plan: NodePlan) -> list[dict[str, Any]]:
    if plan.kind != NodeKind.INIT:
        return []
    if plan.calico_urls:
        return [] if cluster.baked else calico_patcher(cluster)  # a baked image has it
    assert cluster.calico.manifest_patched is not None
    return [packed_file(CALICO_PATCHED, cluster.calico.manifest_patched)]


def calico_patcher(cluster: Cluster) -> list[dict[str, Any]]:
    """The node-side Calico patch, where the init node downloads the manifest."""
    if not cluster.calico.manifest_urls:
        return []
    source = resources.files("generator").joinpath("calico_patch.py").read_text("utf-8")
    return [write_file(CALICO_PATCH_SCRIPT, strip_python_comments(source), "0755")]


BOOTSTRAP_TEMPLATE = "bootstrap/main.sh.j2"


def bootstrap_script(cluster: Cluster, node: Node, plan: NodePlan) -> str:
    return render_script(BOOTSTRAP_TEMPLATE, **bootstrap_context(cluster, node, plan))


def bootstrap_context(cluster: Cluster, node: Node, plan: NodePlan) -> dict[str, Any]:
    return dict(
        cluster=cluster,
        node=node,
        plan=plan,
        library=library(plan),
        firewalld=firewalld_plan(cluster, node),
        kube_vip=kubevip.steps(cluster, node),
        image_marker=image_marker(cluster),
        bundle_label=BUNDLE_LABEL,
        max_manifest_bytes=MAX_MANIFEST_BYTES,
        shared_pki=carries_shared_pki(cluster, plan),
        heal={
            "attempts": HEAL_ATTEMPTS,
            "delay": HEAL_DELAY_SECONDS,
            "reasons": HEALING_REASONS,
        },
        **script_context(cluster),
    )


def script_context(cluster: Cluster) -> dict[str, Any]:
    """What the partials shared by first boot and the image bake need besides the plan."""
    return {
        "apt": apt_settings(cluster),
        "apt_sources": apt_source_options(cluster),
        "dnf": rpm.dnf_settings(cluster),
        "package_lock_wait": PACKAGE_LOCK_WAIT_SECONDS,
    }
