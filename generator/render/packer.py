"""The Packer bake: a template, its provisioning script and the files it installs.

The script runs the bootstrap phases that need no cluster (prepare, install, runtime, prepull)
once, at image-build time, from the same partials as first boot; nodes of a spec with
`bootstrap.baked: true` then skip them and check the image instead (phase "image").
"""

from __future__ import annotations

import configparser
import io
from typing import Any

from generator.layout import HOSTS_BLOCK, IMAGE_MARKER
from generator.model import Cluster
from generator.nodeconfig import DEFAULT_FILE_PERMISSIONS
from generator.render import rpm
from generator.render.artifact import Artifact
from generator.render.firewall import firewalld_for
from generator.render.library import bake_library_files
from generator.render.node import BAKE_PHASES
from generator.render.parts import (
    Pulls,
    calico_patcher,
    package_files,
    runtime_files,
    script_context,
    system_files,
    write_file,
)
from generator.render.templating import render_template
from generator.render.variables import bake_variables
from generator.render.vm_image import baked_images, image_marker

FOLDER = "packer"
TEMPLATE = "k8sgen.pkr.hcl"
SCRIPT = "bake.sh"
FILES_DESTINATION = "/tmp/k8sgen-files"
EMPTY_HOSTS_BLOCK = "# BEGIN k8sgen\n# END k8sgen\n"  # first boot fills it in
# The default user of each family's cloud images (the Packer variable ssh_username).
DEFAULT_USERS = {"ubuntu": "ubuntu", "debian": "debian", "rocky": "rocky", "almalinux": "almalinux"}


# The bake's phases: the files user-data would write, then what no node needs a cluster for.
# The seal (the image's next boot is a first boot) follows them.
PHASES = ("files", *BAKE_PHASES)


def image_files(cluster: Cluster) -> list[dict[str, Any]]:
    """What user-data would write for prepare, install and runtime, minus the node's hosts."""
    return [
        write_file(HOSTS_BLOCK, EMPTY_HOSTS_BLOCK),
        *system_files(cluster),
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
        write_file(repo.file, repo_file(repo.id, repo.yum_repo()))
        for repo in rpm.dnf_repositories(cluster)
    ]


def repo_file(repo_id: str, config: dict[str, Any]) -> str:
    """One repository in yum.conf(5) form, values spelled as cloud-init spells them."""
    parser = configparser.ConfigParser(interpolation=None)
    parser[repo_id] = {k: str(int(v)) if isinstance(v, bool) else str(v) for k, v in config.items()}
    text = io.StringIO()
    parser.write(text)
    return text.getvalue()


def image_name(cluster: Cluster) -> str:
    return f"k8sgen-{cluster.name}-k8s-{cluster.version}-{cluster.os.family}-{cluster.os.version}"


def artifacts(cluster: Cluster) -> list[Artifact]:
    files = image_files(cluster)
    script = render_template(
        "packer/bake.sh.j2",
        files=files,
        phases=PHASES,
        default_permissions=DEFAULT_FILE_PERMISSIONS,  # what write_file leaves out
        **bake_context(cluster),
    )
    template = render_template(
        "packer/k8sgen.pkr.hcl.j2",
        cluster=cluster,
        os_name=f"{cluster.os.family} {cluster.os.version}",
        default_user=DEFAULT_USERS.get(cluster.os.family, cluster.os.family),
        output_directory=f"output-{image_name(cluster)}",
        image_name=f"{image_name(cluster)}.qcow2",
        files_destination=FILES_DESTINATION,
        phases=PHASES,
    )
    uploaded = [*files, write_file(IMAGE_MARKER, image_marker(cluster))]
    return [
        *(Artifact(f"{FOLDER}/files{f['path']}", f["content"].encode()) for f in uploaded),
        Artifact(f"{FOLDER}/{SCRIPT}", script.encode(), 0o755),
        Artifact(f"{FOLDER}/{TEMPLATE}", template.encode()),
    ]


def bake_context(cluster: Cluster) -> dict[str, Any]:
    """The bake runs the node's partials for what every node of CLUSTER needs: a worker's
    firewalld ports (control planes open theirs on first boot), kubeadm's images for the
    version with those of the CNI and kube-vip, no kubeadm."""
    return script_context(
        cluster,
        bake_variables(cluster, PHASES),
        bake_library_files(cluster),
        firewalld_for(cluster, control_plane=False),
        Pulls(baked_images(cluster), kubeadm_version=True),
    )
