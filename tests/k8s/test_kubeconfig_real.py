"""`k8sgen kubeconfig` against the real API server of the loopback control plane (issue 14).

The control plane is the one of tests/k8s/conftest.py (started once for this module):
its CA is the rendered secrets' CA, so a kubeconfig minted from those secrets is what an
operator would get. The server in the kubeconfig is the rendered endpoint, resolved to the
control plane's loopback address in the machine as the site's DNS would.
"""

from __future__ import annotations

import datetime

import yaml

from generator.secrets import kubeconfig

from ..support.specs import Rendered
from .controlplane import ControlPlane

HOME = "/run/home"


def minted(
    plane: ControlPlane,
    rendered: Rendered,
    user: str,
    groups: tuple[str, ...] = (),
    now: datetime.datetime | None = None,
) -> str:
    """Mint a kubeconfig with k8sgen's function and put it in the control plane's machine."""
    value = kubeconfig.mint(
        rendered.cluster, rendered.secrets, user, groups, datetime.timedelta(hours=1), now=now
    )
    path = f"{HOME}/{user}.conf"
    plane.machine.write(path, yaml.safe_dump(value.kubeconfig), 0o600)
    return path


def kubectl(plane: ControlPlane, config: str, *args: str) -> tuple[int, str]:
    command = ["kubectl", f"--kubeconfig={config}", "--request-timeout=30s", *args]
    answer = plane.machine.run(command, check=False)
    return answer.returncode, answer.stdout.strip()


def test_kubeconfig_cluster_admins_group_may_do_everything(
    plane: ControlPlane,
    rendered: Rendered,
) -> None:
    config = minted(plane, rendered, "ops", ("kubeadm:cluster-admins",))
    assert kubectl(plane, config, "auth", "can-i", "*", "*") == (0, "yes")


def test_kubeconfig_user_without_group_is_that_user_and_may_not_list_secrets(
    plane: ControlPlane,
    rendered: Rendered,
) -> None:
    config = minted(plane, rendered, "alice")
    code, answer = kubectl(plane, config, "auth", "can-i", "list", "secrets")
    assert (code, answer) == (1, "no"), answer
    code, whoami = kubectl(plane, config, "auth", "whoami", "-o", "yaml")
    assert code == 0, whoami
    user = yaml.safe_load(whoami)["status"]["userInfo"]
    assert user["username"] == "alice"
    assert "system:authenticated" in user["groups"]
    assert "kubeadm:cluster-admins" not in user["groups"]


def test_kubeconfig_expired_is_refused_by_the_api_server(
    plane: ControlPlane,
    rendered: Rendered,
) -> None:
    two_hours_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    config = minted(plane, rendered, "expired", ("kubeadm:cluster-admins",), now=two_hours_ago)
    # -v=6 logs each request with its status: the API server answers 401, not 403.
    code, answer = kubectl(plane, config, "get", "--raw", "/api", "-v=6")
    assert code == 1, answer
    assert "401 Unauthorized" in answer, answer
