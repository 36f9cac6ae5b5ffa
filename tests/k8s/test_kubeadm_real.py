"""Every rendered kubeadm configuration read by the real kubeadm of its minor.

For every example, and for every supported minor no example uses (single.yaml re-rendered at the
newest patch the Go module proxy serves of that minor):
- `kubeadm config validate` accepts each node's documents (init, control-plane join, worker join);
- `kubeadm config images list --config` is exactly the kubeadm part of `k8sgen images`;
- `kubeadm init --dry-run` on the init node, with the rendered certificates in place, keeps our
  CAs (it makes none) and gives the API server certificate every certSAN k8sgen promises.
kubeadm runs in a network namespace of its own (tests/k8s/netns.py).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from generator import versions
from generator.images import KUBEADM, cluster_images
from generator.layout import PKI_STASH
from generator.model import Cluster
from generator.render.kubeadm import cert_sans

from ..support.nodedata import files
from ..support.repo import EXAMPLES, REPO
from ..support.specs import Rendered, render_spec
from .binaries import kubeadm, kubeadm_releases
from .netns import isolated

KUBEADM_CONFIG = "/etc/k8sgen/kubeadm.yaml"
SINGLE = REPO / "examples" / "single.yaml"


@dataclass(frozen=True)
class Case:
    spec: Path
    version: str | None  # re-render at this version; None: the example's own

    @property
    def id(self) -> str:
        return self.spec.stem + (f"-{self.version}" if self.version else "")


def cases() -> list[Case]:
    result = [Case(spec, None) for spec in EXAMPLES]
    covered = {
        versions.minor_of(yaml.safe_load(s.read_text())["spec"]["kubernetes"]["version"])
        for s in EXAMPLES
    }
    result += [
        Case(SINGLE, release)
        for minor, release in sorted(kubeadm_releases().items())
        if minor not in covered
    ]
    return result


def rendered_case(case: Case, folder: Path) -> Rendered:
    if case.version is None:
        return render_spec(case.spec)
    data = yaml.safe_load(case.spec.read_text())
    data["spec"]["kubernetes"]["version"] = case.version
    spec = folder / case.spec.name
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    return render_spec(spec)


def run_kubeadm(minor: int, *args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """kubeadm's (stdout, stderr); it must succeed."""
    result = subprocess.run(
        isolated([str(kubeadm(minor)), *args]),
        capture_output=True,
        text=True,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    assert result.returncode == 0, f"kubeadm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout, result.stderr


def node_config(rendered: Rendered, node: str, folder: Path) -> Path:
    path = folder / f"{node}-kubeadm.yaml"
    path.write_text(files(rendered, node)[KUBEADM_CONFIG]["content"])
    return path


@pytest.fixture(params=cases(), ids=lambda c: c.id)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Rendered:
    return rendered_case(request.param, tmp_path)


def test_kubeadm_validates_every_node_config(case: Rendered, tmp_path: Path) -> None:
    minor = case.cluster.kubernetes.minor
    roles = set()
    for node in case.cluster.nodes:
        config = node_config(case, node.name, tmp_path)
        stdout, stderr = run_kubeadm(minor, "config", "validate", "--config", str(config))
        assert stdout.strip() == "ok", stdout + stderr
        # Unknown or misplaced fields are only warnings to kubeadm: none is allowed here.
        assert stderr == "", stderr
        roles.add((node.is_control_plane, node is case.cluster.init_node))
    assert (True, True) in roles and (False, False) in roles  # init and worker join at least


def test_kubeadm_lists_the_images_k8sgen_lists(case: Rendered, tmp_path: Path) -> None:
    init = node_config(case, case.cluster.init_node.name, tmp_path)
    listed, _ = run_kubeadm(
        case.cluster.kubernetes.minor, "config", "images", "list", "--config", str(init)
    )
    ours = [i.reference for i in cluster_images(case.cluster) if i.group == KUBEADM]
    assert listed.split() == ours


def test_kubeadm_init_dry_run_uses_our_certificates(case: Rendered, tmp_path: Path) -> None:
    ours = rendered_pki(case)
    pki = tmp_path / "pki"
    write_tree(pki, ours)
    config = dry_run_config(node_config(case, case.cluster.init_node.name, tmp_path), pki)
    stdout, made = init_certificates(case.cluster.kubernetes.minor, config, ours, tmp_path)
    for ca in ("ca", "front-proxy-ca", "etcd/ca"):
        assert f"Using existing {ca} certificate authority" in stdout, stdout
    # No CA made, nothing of ours rewritten.
    assert {path: read_tree(pki)[path] for path in ours} == ours
    assert {path: read_tree(made)[path] for path in ours} == ours
    # kubeadm makes its keys of the type the rendered encryptionAlgorithm names (RSA without).
    key_type = ec.EllipticCurvePublicKey if case.secrets.encryption_algorithm else rsa.RSAPublicKey
    for leaf, ca in LEAVES.items():
        issuer = x509.load_pem_x509_certificate(ours[Path(ca)])
        cert = x509.load_pem_x509_certificate((made / leaf).read_bytes())
        cert.verify_directly_issued_by(issuer)
        assert isinstance(cert.public_key(), key_type), leaf
    apiserver = x509.load_pem_x509_certificate((made / "apiserver.crt").read_bytes())
    names = apiserver.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert promised_names(case.cluster) <= san_values(names), names


# From 1.32 KUBEADM_INIT_DRYRUN_DIR is the dry run's folder itself (before, a random one in it).
DRY_RUN_FOLDER_FROM_MINOR = 32


def init_certificates(
    minor: int, config: Path, ours: dict[Path, bytes], folder: Path
) -> tuple[str, Path]:
    """kubeadm's output and the folder where it wrote the certificates it made."""
    if minor < DRY_RUN_FOLDER_FROM_MINOR:
        # Such a dry run cannot sign with a front-proxy or etcd CA it did not make (its random
        # folder lacks them): run the certificate phase of init itself, into the test's
        # certificatesDir.
        stdout, _ = run_kubeadm(minor, "init", "phase", "certs", "all", "--config", str(config))
        return stdout, folder / "pki"
    out = folder / "dry-run"
    # The dry run signs with the CAs in its own folder but copies only ca.crt/ca.key there
    # (cmd/kubeadm/app/cmd/phases/init/certs.go copies CACertName for every CA): give it ours.
    write_tree(out, ours)
    stdout, _ = run_kubeadm(
        minor,
        "init",
        "--dry-run",
        "--config",
        str(config),
        # The phase checks this machine (ports, kubelet, hostname), not the configuration.
        "--skip-phases=preflight",
        env={"KUBEADM_INIT_DRYRUN_DIR": str(out)},
    )
    return stdout, out


# Certificates `kubeadm init` makes -> the CA that must have signed them.
LEAVES = {
    "apiserver.crt": "ca.crt",
    "apiserver-kubelet-client.crt": "ca.crt",
    "front-proxy-client.crt": "front-proxy-ca.crt",
    "etcd/server.crt": "etcd/ca.crt",
    "apiserver-etcd-client.crt": "etcd/ca.crt",
}


def rendered_pki(rendered: Rendered) -> dict[Path, bytes]:
    """The init node's CA material as cloud-init writes it, by path relative to its folder (the
    bootstrap copies it into /etc/kubernetes/pki before every kubeadm init or join)."""
    return {
        Path(path).relative_to(PKI_STASH): entry["content"].encode()
        for path, entry in files(rendered, rendered.cluster.init_node.name).items()
        if path.startswith(PKI_STASH + "/")
    }


def write_tree(folder: Path, tree: dict[Path, bytes]) -> None:
    for path, content in tree.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(content)


def read_tree(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def dry_run_config(rendered: Path, pki: Path) -> Path:
    """The rendered documents with certificatesDir pointing at the test's copy of the pki: the
    only change, as the test may not write the machine's /etc/kubernetes/pki."""
    documents: list[dict[str, Any]] = list(yaml.safe_load_all(rendered.read_text()))
    for document in documents:
        if document["kind"] == "ClusterConfiguration":
            document["certificatesDir"] = str(pki)
    path = rendered.with_name("dry-run-" + rendered.name)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def promised_names(cluster: Cluster) -> set[str]:
    """What the API server certificate must name: the endpoint, the VIP and every control-plane
    address (cert_sans: "any of them serves the API"), the init node, and the in-cluster name
    and service address that follow from dnsDomain and serviceSubnet."""
    names = {cluster.endpoint_host, cluster.init_node.name}
    names |= {cluster.vip.address} if cluster.vip else set()
    names |= {ip for n in cluster.control_planes for ip in n.ips}  # dual-stack: both families
    names.add(f"kubernetes.default.svc.{cluster.dns_domain}")
    # The `kubernetes` service's address: the first of the primary service network.
    names.add(str(next(ipaddress.ip_network(cluster.service_subnets[0]).hosts())))
    assert set(cert_sans(cluster)) <= names
    return names


def san_values(names: x509.SubjectAlternativeName) -> set[str]:
    result = set(names.get_values_for_type(x509.DNSName))
    result |= {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    return result


def test_cases_cover_every_supported_minor() -> None:
    minors = set()
    for case in cases():
        version = (
            case.version or yaml.safe_load(case.spec.read_text())["spec"]["kubernetes"]["version"]
        )
        minors.add(versions.minor_of(version))
    assert minors == set(versions.KUBERNETES)
