"""Every rendered kubeadm configuration read by the real kubeadm of its minor.

For every example, and for every supported minor no example uses (single.yaml re-rendered at the
newest patch the Go module proxy serves of that minor):
- `kubeadm config validate` accepts each node's documents (init, control-plane join, worker join);
- `kubeadm config images list --config` is exactly the kubeadm part of `k8sgen images`;
- `kubeadm init --dry-run` on the init node, with the rendered certificates in place, keeps our
  CAs (it makes none), signs its own certificates and kubeconfig clients with them (of the
  type encryptionAlgorithm names; RSA under the ECDSA CAs on 1.30, whose v1beta3 names none)
  and gives the API server certificate every certSAN k8sgen promises;
- for examples/node-settings.yaml, kubeadm's static pod manifests and kubelet configuration
  carry the spec's flags, volumes, fields and patches, and a misspelled kubelet field is
  refused by the real kubeadm (and first by `k8sgen validate`, with FILE:LINE).
kubeadm runs in a network namespace of its own (tests/k8s/netns.py).
"""

from __future__ import annotations

import base64
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
from generator.errors import SpecError
from generator.layout import JOIN_KUBECONFIG, KUBEADM_PATCHES, PKI_STASH
from generator.model import Cluster
from generator.offline.images import KUBEADM, cluster_images
from generator.render.kubeadm import cert_sans
from generator.secrets.pki import KeyAlgorithm
from generator.spec.load import load_spec
from generator.spec.validate import validate

from ..support.nodedata import files, kubeadm_documents
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
    """The node's kubeadm configuration; a discovery file (kubeadm checks that it exists) is
    the rendered join.conf, written here instead of the node's /etc/k8sgen/join.conf."""
    written = files(rendered, node)
    text = written[KUBEADM_CONFIG]["content"]
    if JOIN_KUBECONFIG in written:
        join = folder / f"{node}-join.conf"
        join.write_text(written[JOIN_KUBECONFIG]["content"])
        assert text.count(f"kubeConfigPath: {JOIN_KUBECONFIG}\n") == 1, text
        text = text.replace(f"kubeConfigPath: {JOIN_KUBECONFIG}\n", f"kubeConfigPath: {join}\n")
    path = folder / f"{node}-kubeadm.yaml"
    path.write_text(text)
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
    patches = write_patches(case, case.cluster.init_node.name, tmp_path / "patches")
    config = dry_run_config(node_config(case, case.cluster.init_node.name, tmp_path), pki, patches)
    stdout, made = init_certificates(case.cluster.kubernetes.minor, config, ours, tmp_path)
    for ca in ("ca", "front-proxy-ca", "etcd/ca"):
        assert f"Using existing {ca} certificate authority" in stdout, stdout
    # No CA made, nothing of ours rewritten.
    assert {path: read_tree(pki)[path] for path in ours} == ours
    assert {path: read_tree(made)[path] for path in ours} == ours
    for leaf, ca in LEAVES.items():
        issuer = x509.load_pem_x509_certificate(ours[Path(ca)])
        assert isinstance(issuer.public_key(), ec.EllipticCurvePublicKey), ca  # every version
        cert = x509.load_pem_x509_certificate((made / leaf).read_bytes())
        cert.verify_directly_issued_by(issuer)
        assert isinstance(cert.public_key(), leaf_key_type(case)), leaf
    for name in KUBECONFIGS:
        client = kubeconfig_client(made / name)
        client.verify_directly_issued_by(x509.load_pem_x509_certificate(ours[Path("ca.crt")]))
        assert isinstance(client.public_key(), leaf_key_type(case)), name
    apiserver = x509.load_pem_x509_certificate((made / "apiserver.crt").read_bytes())
    names = apiserver.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert promised_names(case.cluster) <= san_values(names), names


KUBECONFIGS = ("admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf")


def kubeconfig_client(path: Path) -> x509.Certificate:
    """The client certificate a kubeconfig kubeadm wrote embeds."""
    user = yaml.safe_load(path.read_text())["users"][0]["user"]
    return x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))


def leaf_key_type(rendered: Rendered) -> type:
    """The type of kubeadm's own keys: what the rendered encryptionAlgorithm names; RSA without
    it, also under ECDSA CAs (1.30: v1beta3 cannot name a type)."""
    documents = kubeadm_documents(rendered, rendered.cluster.init_node.name)
    configuration = next(d for d in documents if d["kind"] == "ClusterConfiguration")
    if configuration.get("encryptionAlgorithm") == str(KeyAlgorithm.ECDSA_P256):
        return ec.EllipticCurvePublicKey
    return rsa.RSAPublicKey


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
        kubeconfigs = ("--kubeconfig-dir", str(folder / "pki"))  # where the dry run puts them
        run_kubeadm(
            minor, "init", "phase", "kubeconfig", "all", "--config", str(config), *kubeconfigs
        )
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


def write_patches(rendered: Rendered, node: str, folder: Path) -> Path:
    """The node's rendered kubeadm patch files, as cloud-init writes them, in FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    for path, entry in files(rendered, node).items():
        if path.startswith(KUBEADM_PATCHES + "/"):
            (folder / Path(path).name).write_text(entry["content"])
    return folder


def dry_run_config(rendered: Path, pki: Path, patches: Path) -> Path:
    """The rendered documents with certificatesDir and patches.directory pointing at the test's
    copies of the pki and the patch files: the only changes, as the test may not write the
    machine's /etc/kubernetes/pki or /etc/k8sgen."""
    documents: list[dict[str, Any]] = list(yaml.safe_load_all(rendered.read_text()))
    for document in documents:
        if document["kind"] == "ClusterConfiguration":
            document["certificatesDir"] = str(pki)
        if "patches" in document:
            document["patches"]["directory"] = str(patches)
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


# --- spec.kubeadm, taints and patches: what the real kubeadm makes of them ----------------

NODE_SETTINGS = REPO / "examples" / "node-settings.yaml"


def manifest_of(folder: Path, component: str) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((folder / f"{component}.yaml").read_text())
    return manifest


def command_flags(manifest: dict[str, Any]) -> set[str]:
    return set(manifest["spec"]["containers"][0]["command"][1:])


def test_kubeadm_init_dry_run_applies_the_spec_settings(tmp_path: Path) -> None:
    """examples/node-settings.yaml: kubeadm's own static pod manifests and kubelet
    configuration carry every flag, volume, field and patch of the spec."""
    rendered = render_spec(NODE_SETTINGS)
    spec = yaml.safe_load(NODE_SETTINGS.read_text())["spec"]
    init = rendered.cluster.init_node.name
    write_tree(tmp_path / "pki", rendered_pki(rendered))
    patches = write_patches(rendered, init, tmp_path / "patches")
    config = dry_run_config(node_config(rendered, init, tmp_path), tmp_path / "pki", patches)
    minor = rendered.cluster.kubernetes.minor
    assert minor >= DRY_RUN_FOLDER_FROM_MINOR  # the dry run's files are in its own folder
    stdout, out = init_certificates(minor, config, rendered_pki(rendered), tmp_path)
    components = {
        "apiServer": "kube-apiserver",
        "controllerManager": "kube-controller-manager",
        "scheduler": "kube-scheduler",
        "etcd": "etcd",
    }
    for name, component in components.items():
        wanted = {f"--{k}={v}" for k, v in spec["kubeadm"][name]["extraArgs"].items()}
        assert wanted <= command_flags(manifest_of(out, component)), component
    apiserver = manifest_of(out, "kube-apiserver")
    volumes = {v["name"]: v["hostPath"] for v in apiserver["spec"]["volumes"]}
    for volume in spec["kubeadm"]["apiServer"]["extraVolumes"]:
        assert volumes[volume["name"]] == {"path": volume["hostPath"], "type": volume["pathType"]}
    # The role's strategic-merge patch, read from the rendered patch files.
    assert apiserver["metadata"]["annotations"]["example.com/patched"] == "true"
    kubelet = yaml.safe_load((out / "config.yaml").read_text())
    for key, value in spec["kubeadm"]["kubelet"].items():
        assert kubelet[key] == value, key
    assert kubelet["cgroupDriver"] == "systemd"
    # kube-proxy's ConfigMap and the node's taints, as the dry run would send them.
    assert "mode: nftables" in stdout
    assert "example.com/maintenance" in stdout and "PreferNoSchedule" in stdout


def test_a_misspelled_kubelet_field_is_refused_by_kubeadm_and_first_by_validate(
    tmp_path: Path,
) -> None:
    """The real kubeadm refuses an unknown KubeletConfiguration field; k8sgen says so first,
    with the spec's file and line."""
    typo = yaml.safe_load(NODE_SETTINGS.read_text())
    typo["spec"]["kubeadm"]["kubelet"]["maxPod"] = typo["spec"]["kubeadm"]["kubelet"].pop("maxPods")
    spec = tmp_path / "typo.yaml"
    spec.write_text(yaml.safe_dump(typo, sort_keys=False))
    with pytest.raises(SpecError) as refused:
        validate(load_spec(spec))
    line = next(i for i, text in enumerate(spec.read_text().splitlines(), 1) if "maxPod:" in text)
    assert (
        f"{spec}:{line}: spec.kubeadm.kubelet.maxPod: KubeletConfiguration has no field "
        "maxPod (did you mean maxPods?)" in str(refused.value)
    )
    # The same document as k8sgen would render it, given to the real kubeadm.
    rendered = render_spec(NODE_SETTINGS)
    minor = rendered.cluster.kubernetes.minor
    documents = list(yaml.safe_load_all(node_config(rendered, "master1", tmp_path).read_text()))
    kubelet = next(d for d in documents if d["kind"] == "KubeletConfiguration")
    kubelet["maxPod"] = kubelet.pop("maxPods")
    config = tmp_path / "typo-kubeadm.yaml"
    config.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    result = subprocess.run(
        isolated([str(kubeadm(minor)), "config", "validate", "--config", str(config)]),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert 'strict decoding error: unknown field "maxPod"' in result.stderr


def test_kubeadm_v1beta3_accepts_the_spec_settings(tmp_path: Path) -> None:
    """node-settings at the oldest minor, whose kubeadm API (v1beta3) wants extraArgs as a map;
    nftables mode is alpha there, so ipvs."""
    minor = min(versions.KUBERNETES)
    assert versions.KUBERNETES[minor].kubeadm_api == versions.V1BETA3
    data = yaml.safe_load(NODE_SETTINGS.read_text())
    data["spec"]["kubernetes"]["version"] = kubeadm_releases()[minor]
    data["spec"]["kubeadm"]["kubeProxy"]["mode"] = "ipvs"
    spec = tmp_path / NODE_SETTINGS.name
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    rendered = render_spec(spec)
    for node in rendered.cluster.nodes:
        config = node_config(rendered, node.name, tmp_path)
        stdout, stderr = run_kubeadm(minor, "config", "validate", "--config", str(config))
        assert (stdout.strip(), stderr) == ("ok", ""), node.name
