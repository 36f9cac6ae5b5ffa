"""Per-node #cloud-config, built as data from one small partial per concern.

The parts first boot shares with the Packer bake (configuration files, the script's shared
context) are in parts.py, the bootstrap script in bootstrap.py, the package repositories in
repos.py.
"""

from __future__ import annotations

from typing import Any

from generator.layout import (
    BOOTSTRAP_SCRIPT,
    BOOTSTRAP_UNIT,
    BOOTSTRAP_UNIT_FILE,
    CALICO_PATCHED,
    CERT_RENEWAL_CONFIG,
    CERT_RENEWAL_SCRIPT,
    HOSTS_BLOCK,
    JOIN_KUBECONFIG,
    KUBEADM_CONFIG,
    PKI_STASH,
)
from generator.model import Cluster, Node
from generator.registries import credentials_for
from generator.render import kubeadm, kubevip, renewal, rpm, security
from generator.render.bootstrap import bootstrap_script
from generator.render.extras import extra_files
from generator.render.kubeconfigs import client_kubeconfig
from generator.render.node import NodeKind, NodePlan, carries_shared_pki
from generator.render.parts import (
    calico_patcher,
    package_files,
    packed_file,
    runtime_files,
    smallest,
    system_files,
    write_file,
)
from generator.render.templating import render_template
from generator.render.yamlio import dump, dump_all
from generator.secrets import ClusterSecrets
from generator.secrets.joincred import credential, node_user

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


def user_data(
    cluster: Cluster, node: Node, plan: NodePlan, secrets: ClusterSecrets
) -> tuple[str, str]:
    """The node's user-data in two forms, each at its smallest: to travel as it is, with every
    file gzip shrinks packed on its own; to be gzip-compressed whole (--gzip), with the files
    plain (compressed twice, they would cost the outer gzip more than they save)."""
    config = cloud_config(cluster, node, plan, secrets)
    plain = HEADER + dump(config)
    packed = HEADER + dump({**config, "write_files": [smallest(e) for e in config["write_files"]]})
    return packed, plain


def cloud_config(
    cluster: Cluster, node: Node, plan: NodePlan, secrets: ClusterSecrets
) -> dict[str, Any]:
    # A baked image already holds the package and runtime configuration.
    logins = credentials_for(cluster.registries, secrets.registry_logins)
    image_files = (
        [] if cluster.baked else [*package_files(cluster), *runtime_files(cluster, logins)]
    )
    files = [
        write_file(HOSTS_BLOCK, hosts_block(cluster, node)),
        *system_files(cluster),
        *image_files,
        *kubeadm_files(cluster, node, plan, secrets),
        *kube_vip_files(cluster, node),
        *api_server_files(cluster, node, secrets),
        *cni_files(cluster, plan),
        *extra_files(node),
        packed_file(BOOTSTRAP_SCRIPT, bootstrap_script(cluster, node, plan, secrets), "0755"),
        write_file(BOOTSTRAP_UNIT_FILE, bootstrap_unit(cluster, node)),
        *renewal_files(cluster, node, secrets),
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


def bootstrap_unit(cluster: Cluster, node: Node) -> str:
    return render_template(
        f"systemd/{BOOTSTRAP_UNIT}.j2",
        node_name=node.name,
        proxy=cluster.proxy is not None,
    )


def renewal_files(cluster: Cluster, node: Node, secrets: ClusterSecrets) -> list[dict[str, Any]]:
    """A control plane's certificate renewal: script, configuration, units (none for a worker)."""
    if not node.is_control_plane:
        return []
    units = [write_file(path, text) for path, text in renewal.renewal_units(node).items()]
    return [
        packed_file(CERT_RENEWAL_SCRIPT, renewal.renewal_script(cluster, node), "0755"),
        write_file(CERT_RENEWAL_CONFIG, renewal.renewal_config(cluster, secrets), "0600"),
        *units,
    ]


def hosts_block(cluster: Cluster, node: Node) -> str:
    # Its own name resolves (kubeadm's preflight checks it); control planes are in host_lines.
    own = "" if node.is_control_plane and node.ip else f"{node.ip or '127.0.1.1'} {node.name}\n"
    own += "".join(f"{line}\n" for line in kubevip.hosts_lines(cluster, node))
    return "# BEGIN k8sgen\n" + cluster.host_lines + own + "# END k8sgen\n"


def kubeadm_files(
    cluster: Cluster, node: Node, plan: NodePlan, secrets: ClusterSecrets
) -> list[dict[str, Any]]:
    if plan.kind == NodeKind.INIT:
        documents = kubeadm.init_documents(cluster, node, secrets)
    else:
        documents = kubeadm.join_documents(cluster, node, secrets)
    files = [write_file(KUBEADM_CONFIG, dump_all(documents), "0600")]
    pair = credential(cluster, node, secrets)
    if pair:
        join_config = client_kubeconfig(cluster, secrets.ca.cert, node_user(node.name), pair)
        # Compressed: twice base64 (PEM in a kubeconfig), it would cost workers 3 KB more.
        files.append(packed_file(JOIN_KUBECONFIG, dump(join_config), "0600"))
    if carries_shared_pki(cluster, plan):
        files += shared_pki_files(secrets)
    return files


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
