"""The pairing rules of dual-stack networks: what the real kubeadm refuses, k8sgen refuses too.

For each rule, the same podSubnet/serviceSubnet value is given to both: `k8sgen validate` on the
example spec (examples/dual-stack.yaml) must refuse it with FILE:LINE on that field, and the
real kubeadm (`kubeadm config validate`) must refuse the example's rendered init configuration
with only that value changed. The unchanged configuration is accepted by kubeadm (the first
case), so each refusal is the value's doing. tests/k8s/test_kubeadm_real.py runs every example
(dual-stack.yaml and ipv6.yaml among them) through validate, images list and init --dry-run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import cli

from ..support.nodedata import files
from ..support.repo import REPO
from ..support.specs import example, render_spec, write_spec
from .binaries import kubeadm
from .netns import isolated

KUBEADM_CONFIG = "/etc/k8sgen/kubeadm.yaml"
EXAMPLE = REPO / "examples" / "dual-stack.yaml"
# (field, value, what kubeadm says): rules kubeadm itself enforces.
KUBEADM_RULES = [
    ("podSubnet", "10.244.0.0/16,10.245.0.0/16", "two CIDRs from each family"),
    ("serviceSubnet", "10.96.0.0/16,fd00:10:96::/100", "the mask must be >= 108"),
    ("podSubnet", "10.244.0.0/16,fd00:10::/40", "difference is greater than 16"),
    ("podSubnet", "10.244.0.0/16,fd00:10::/72", "smaller than the size of node subnet"),
    ("podSubnet", "10.0.0.0/7,fd00:10:244::/56", "difference is greater than 16"),
]


def kubeadm_validate(minor: int, documents: list[dict[str, Any]], folder: Path) -> str:
    """kubeadm config validate's output; '' when it accepts the documents."""
    config = folder / "kubeadm.yaml"
    config.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    command = [str(kubeadm(minor)), "config", "validate", "--config", str(config)]
    result = subprocess.run(isolated(command), capture_output=True, text=True, check=False)
    return "" if result.returncode == 0 else result.stdout + result.stderr


def rendered_documents() -> tuple[int, list[dict[str, Any]]]:
    rendered = render_spec(EXAMPLE)
    text = files(rendered, "cp1")[KUBEADM_CONFIG]["content"]
    return rendered.cluster.kubernetes.minor, list(yaml.safe_load_all(text))


def test_kubeadm_accepts_the_rendered_dual_stack_configuration(tmp_path: Path) -> None:
    minor, documents = rendered_documents()
    assert kubeadm_validate(minor, documents, tmp_path) == ""


@pytest.mark.parametrize(("field", "value", "kubeadm_says"), KUBEADM_RULES)
def test_k8sgen_refuses_what_kubeadm_refuses(
    tmp_path: Path, field: str, value: str, kubeadm_says: str
) -> None:
    minor, documents = rendered_documents()
    cluster = next(d for d in documents if d["kind"] == "ClusterConfiguration")
    cluster["networking"][field] = value
    refusal = kubeadm_validate(minor, documents, tmp_path)
    assert kubeadm_says in refusal, refusal
    data = example("dual-stack")
    data["spec"]["kubernetes"][field] = value
    spec = write_spec(tmp_path, data)
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    line = next(i for i, t in enumerate(spec.read_text().splitlines(), 1) if f"{field}:" in t)
    assert result.exit_code == 1
    assert f"{spec}:{line}: spec.kubernetes.{field}: " in result.stderr, result.stderr
