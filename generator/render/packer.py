"""The Packer bake: a template, its provisioning script and the files it installs.

The script runs the bootstrap phases that need no cluster (prepare, install, runtime, prepull)
once, at image-build time, from the same partials as first boot; nodes of a spec with
`bootstrap.baked: true` then skip them and check the image instead (phase "image").
"""

from __future__ import annotations

import configparser
import dataclasses
import io
from typing import Any

from generator.layout import HOSTS_BLOCK, IMAGE_MARKER
from generator.model import Cluster
from generator.render import rpm
from generator.render.artifact import Artifact
from generator.render.cloudinit import (
    calico_patcher,
    package_files,
    runtime_files,
    script_context,
    system_files,
    write_file,
)
from generator.render.firewall import FirewalldPlan, firewalld_plan
from generator.render.library import library
from generator.render.node import BAKE_PHASES, NodeKind, NodePlan
from generator.render.templating import render_template
from generator.render.vm_image import baked_images, image_marker

FOLDER = "packer"
TEMPLATE = "k8sgen.pkr.hcl"
SCRIPT = "bake.sh"
FILES_DESTINATION = "/tmp/k8sgen-files"
EMPTY_HOSTS_BLOCK = "# BEGIN k8sgen\n# END k8sgen\n"  # first boot fills it in
# The default user of each family's cloud images (the Packer variable ssh_username).
DEFAULT_USERS = {"ubuntu": "ubuntu", "debian": "debian", "rocky": "rocky", "almalinux": "almalinux"}


def bake_plan(cluster: Cluster) -> NodePlan:
    return NodePlan(
        kind=NodeKind.BAKE,
        phases=("files", *BAKE_PHASES, "seal"),
        images=baked_images(cluster),  # kubeadm pulls the control-plane images, pause included
        wait_url=None,
        wait_what="",
        wait_timeout=0,
        calico_urls=(),
    )


def image_files(cluster: Cluster) -> list[dict[str, Any]]:
    """What user-data would write for prepare, install and runtime, minus the node's hosts."""
    system = [f for f in system_files(cluster, cluster.init_node) if f["path"] != HOSTS_BLOCK]
    return [
        write_file(HOSTS_BLOCK, EMPTY_HOSTS_BLOCK),
        *system,
        *package_files(cluster),
        *repo_files(cluster),
        *runtime_files(cluster),
        *calico_patcher(cluster),  # node-independent: in the image, user-data needs no copy
    ]


def repo_files(cluster: Cluster) -> list[dict[str, Any]]:
    """dnf: the .repo files cloud-init's yum_repos writes on a node that is not baked."""
    if cluster.os.package_format != "rpm":
        return []
    return [
        write_file(f"{rpm.REPO_DIR}/{repo_id}.repo", repo_file(repo_id, config))
        for repo_id, config in rpm.yum_repos(cluster).items()
    ]


def repo_file(repo_id: str, config: dict[str, Any]) -> str:
    """One repository in yum.conf(5) form, values spelled as cloud-init spells them."""
    parser = configparser.ConfigParser(interpolation=None)
    parser[repo_id] = {k: str(int(v)) if isinstance(v, bool) else str(v) for k, v in config.items()}
    text = io.StringIO()
    parser.write(text)
    return text.getvalue()


def bake_firewalld(cluster: Cluster) -> FirewalldPlan:
    """What every node opens (rpm families with spec.os.firewalld "open"): control planes
    open their own ports on first boot."""
    worker = dataclasses.replace(cluster.init_node, role="worker")
    return firewalld_plan(cluster, worker)


def image_name(cluster: Cluster) -> str:
    return f"k8sgen-{cluster.name}-k8s-{cluster.version}-{cluster.os.family}-{cluster.os.version}"


def artifacts(cluster: Cluster) -> list[Artifact]:
    files = image_files(cluster)
    plan = bake_plan(cluster)
    script = render_template(
        "packer/bake.sh.j2",
        cluster=cluster,
        plan=plan,
        library=library(plan),
        files=files,
        firewalld=bake_firewalld(cluster),
        **script_context(cluster),
    )
    template = render_template(
        "packer/k8sgen.pkr.hcl.j2",
        cluster=cluster,
        os_name=f"{cluster.os.family} {cluster.os.version}",
        default_user=DEFAULT_USERS.get(cluster.os.family, cluster.os.family),
        output_directory=f"output-{image_name(cluster)}",
        image_name=f"{image_name(cluster)}.qcow2",
        files_destination=FILES_DESTINATION,
        phases=plan.phases,
    )
    uploaded = [*files, write_file(IMAGE_MARKER, image_marker(cluster))]
    return [
        *(Artifact(f"{FOLDER}/files{f['path']}", f["content"].encode()) for f in uploaded),
        Artifact(f"{FOLDER}/{SCRIPT}", script.encode(), 0o755),
        Artifact(f"{FOLDER}/{TEMPLATE}", template.encode()),
    ]
