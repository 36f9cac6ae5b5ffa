"""Images as OCI archives, copied with skopeo from where the nodes would pull them.

Each archive holds the image for the nodes' platform under its full reference (the
org.opencontainers.image.ref.name annotation), which `ctr images import` keeps as the
image name: the node then has exactly the reference its configuration names.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator.offline.bundle.access import PullAccess
from generator.offline.bundle.tools import BundleError, require, run
from generator.offline.images import Image
from generator.refs import parse_image

REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Archive:
    reference: str  # the name the nodes know the image by
    source: str  # where it was copied from
    file: str  # path inside the bundle, e.g. images/kube-apiserver.tar
    digest: str  # of the manifest inside the archive


def archive_name(image: Image) -> str:
    return f"images/{image.component.replace('/', '-')}.tar"


def fetch_images(
    images: list[Image],
    root: Path,
    architecture: str,
    access: PullAccess,
    progress: Callable[[str], None],
) -> list[Archive]:
    require("skopeo")
    (root / "images").mkdir(exist_ok=True)
    archives = []
    for number, image in enumerate(images, 1):
        progress(f"images: {number}/{len(images)} {image.reference}")
        archives.append(_fetch(image, root, architecture, access))
    return archives


def sources(image: Image) -> list[str]:
    """Where containerd would pull the image from, in order (mirrors, then the registry)."""
    ref = parse_image(image.reference)
    return [str(ref.moved(host)) for host in image.pull_from]


def _fetch(image: Image, root: Path, architecture: str, access: PullAccess) -> Archive:
    target = root / archive_name(image)
    failures = []
    for source in sources(image):
        argv = ["skopeo", "copy", "--quiet", "--retry-times", "3"]
        argv += ["--override-os", "linux", "--override-arch", architecture]
        argv += access.options(parse_image(source).registry)
        argv += [f"docker://{source}", f"oci-archive:{target}:{image.reference}"]
        try:
            run(argv, f"copying {source}")
        except BundleError as exc:
            failures.append(str(exc))
            target.unlink(missing_ok=True)
            continue
        return Archive(image.reference, source, archive_name(image), read_digest(target, image))
    raise BundleError(f"cannot copy {image.reference}:\n" + "\n".join(failures))


def read_digest(path: Path, image: Image) -> str:
    """The digest of the archive's one manifest, named as the nodes expect."""
    try:
        with tarfile.open(path) as archive:
            member = archive.extractfile("index.json")
            index = json.load(member) if member else {}
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise BundleError(f"{path.name}: not an OCI archive: {exc}") from exc
    manifests = index.get("manifests", [])
    names = [m.get("annotations", {}).get(REF_NAME) for m in manifests]
    if names != [image.reference]:
        raise BundleError(f"{path.name}: names {names}, expected [{image.reference}]")
    return str(manifests[0]["digest"])
