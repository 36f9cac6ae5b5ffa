"""The loopback cluster the tests of tests/k8s share: which example, which nodes, how rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from generator import secrets

from ..support.repo import REPO
from ..support.specs import Rendered, render_spec
from .binaries import FULL_RELEASE

VERSION = FULL_RELEASE
EXAMPLE = "ha-external-lb.yaml"
INIT, JOINER, WORKER = "cp1", "cp2", "w1"
# One join try and short sleeps: a failed join is classified at once. The kubeadm documents
# do not depend on these settings.
# joinWith token: these tests are the token path's; test_join_credentials_real.py sets
# certificate.
BOOTSTRAP = {
    "joinAttempts": 1,
    "retries": {"initialDelaySeconds": 1, "maxDelaySeconds": 2},
    "joinWith": "token",
}
FIRST_ADDRESS = 10  # machines get 127.0.0.10, .11, ...


def render_example(
    folder: Path,
    cluster_secrets: secrets.ClusterSecrets | None = None,
    control_plane_spec: dict[str, Any] | None = None,
    more_spec: dict[str, Any] | None = None,
    bootstrap: dict[str, Any] | None = None,
    extra_nodes: tuple[dict[str, Any], ...] = (),
) -> Rendered:
    """The example with BOOTSTRAP (and control_plane_spec merged into spec.controlPlane,
    bootstrap into spec.bootstrap, extra_nodes appended to spec.nodes, more_spec's fields
    added to spec)."""
    data = yaml.safe_load((REPO / "examples" / EXAMPLE).read_text())
    assert data["spec"]["kubernetes"]["version"] == VERSION
    data["spec"]["bootstrap"] = {
        **data["spec"].get("bootstrap", {}),
        **BOOTSTRAP,
        **(bootstrap or {}),
    }
    data["spec"]["nodes"] += list(extra_nodes)
    if control_plane_spec:
        data["spec"]["controlPlane"] = {**data["spec"]["controlPlane"], **control_plane_spec}
    data["spec"].update(more_spec or {})
    spec = folder / EXAMPLE
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    return render_spec(spec, cluster_secrets)
