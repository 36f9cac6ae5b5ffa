"""Every OS family on both architectures: the support table, the dnf path, SELinux and
firewalld, the node's own check of its OS and CPU, checked with cloud-init's schema and
command, shellcheck and bash itself."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from generator import model, secrets, versions
from generator.cli import cli
from generator.render import firewall, rpm
from generator.render.yamlio import dump
from generator.resources import load_schema, resource_dir

from .support.golden import GOLDEN, mask
from .support.nodedata import cloud_config, files, node_names, readable_user_data, scripts
from .support.repo import CALICO_FIXTURE_VERSIONS, REPO, calico_fixture
from .support.specs import Rendered, example, render_spec
from .support.tools import (
    check_with_cloud_init,
    cloud_init_python,
    cloud_init_schema,
    cloud_init_writes_yum_repos,
    need,
)

BOOTSTRAP = "/usr/local/sbin/k8sgen-bootstrap"
# One release per family (the examples cover the others), on both architectures.
MATRIX_RELEASES = (
    ("ubuntu", "24.04"),
    ("debian", "13"),
    ("rocky", "8"),
    ("almalinux", "9"),
    ("openeuler", "22.03"),
)
MATRIX = [(f, v, a) for f, v in MATRIX_RELEASES for a in versions.ARCHITECTURES]
# /etc/os-release as these releases write it (ID and VERSION_ID are what the node compares).
OS_RELEASE_FILES = {
    ("ubuntu", "24.04"): 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n',
    ("debian", "13"): 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_ID="13"\nID=debian\n',
    ("rocky", "8"): (
        'NAME="Rocky Linux"\nVERSION="8.10 (Green Obsidian)"\nID="rocky"\n'
        'ID_LIKE="rhel centos fedora"\nVERSION_ID="8.10"\n'
    ),
    ("almalinux", "9"): (
        'NAME="AlmaLinux"\nVERSION="9.4 (Seafoam Ocelot)"\nID="almalinux"\n'
        'ID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n'
    ),
    ("openeuler", "22.03"): (
        'NAME="openEuler"\nVERSION="22.03 (LTS-SP4)"\nID="openEuler"\nVERSION_ID="22.03"\n'
    ),
}


def matrix_id(entry: tuple[str, str, str]) -> str:
    return "-".join(entry)


def matrix_spec(family: str, version: str, arch: str) -> dict[str, Any]:
    """examples/single.yaml with one worker, on the given OS and architecture."""
    data = example(
        "single",
        metadata__name=f"{family}-{arch}",
        spec__os={"family": family, "version": version},
        spec__arch=arch,
    )
    data["spec"]["nodes"] = data["spec"]["nodes"][:2]
    return data


@pytest.fixture(scope="module")
def matrix_secrets() -> secrets.ClusterSecrets:
    return secrets.generate("matrix")


@pytest.fixture(scope="module")
def rendered_matrix(
    tmp_path_factory: pytest.TempPathFactory, matrix_secrets: secrets.ClusterSecrets
) -> dict[tuple[str, str, str], Rendered]:
    folder = tmp_path_factory.mktemp("os-matrix")
    result = {}
    shared = matrix_secrets
    for entry in MATRIX:
        spec = folder / f"{matrix_id(entry)}.yaml"
        spec.write_text(yaml.safe_dump(matrix_spec(*entry), sort_keys=False))
        result[entry] = render_spec(spec, shared)
        shared = result[entry].secrets  # the join certificates minted once, shared as well
    return result


def every_matrix_node(rendered: dict[tuple[str, str, str], Rendered]) -> list[tuple[Rendered, str]]:
    return [(r, n) for r in rendered.values() for n in node_names(r)]


# --- the support table ---------------------------------------------------------------------


def test_support_table_is_consistent() -> None:
    templates = resource_dir("templates") / "bootstrap"
    for release in versions.OPERATING_SYSTEMS.values():
        family = release.traits
        assert release.package_format == family.package_format, release
        assert (templates / f"install-{release.package_format}.sh.j2").is_file()
        if release.package_format == "deb":
            assert release.codename and not release.docker_ce_tree, release
        else:
            assert release.docker_ce_tree and not release.codename, release
            assert family.selinux and family.firewalld and family.versionlock, release
    # Every family has a release; the matrix names a real release of each family.
    assert {r.family for r in versions.OPERATING_SYSTEMS.values()} == set(versions.OS_FAMILIES)
    assert {f for f, _ in MATRIX_RELEASES} == set(versions.OS_FAMILIES)
    assert all(r in versions.OPERATING_SYSTEMS for r in MATRIX_RELEASES)


def test_schema_enums_are_the_tables() -> None:
    spec = load_schema("cluster.schema.json")["properties"]["spec"]["properties"]
    os_def = load_schema("cluster.schema.json")["$defs"]["os"]["properties"]
    assert os_def["family"]["enum"] == list(versions.OS_FAMILIES)
    assert spec["arch"]["enum"] == list(versions.ARCHITECTURES)
    assert spec["arch"]["default"] == model.DEFAULT_ARCH
    assert os_def["firewalld"]["enum"] == ["disabled", "open"]
    assert os_def["firewalld"]["default"] == model.DEFAULT_FIREWALLD


def test_cloud_init_runs_our_modules_on_every_rpm_family() -> None:
    """cloud-init skips a module on a distro it does not list: ask the real package."""
    interpreter = cloud_init_python()
    program = (
        "import json\n"
        "from cloudinit.config import cc_ntp, cc_yum_add_repo\n"
        "print(json.dumps({'yum': cc_yum_add_repo.meta['distros'],"
        " 'ntp': cc_ntp.meta['distros']}))\n"
    )
    result = subprocess.run([*interpreter, "-c", program], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    distros = json.loads(result.stdout)
    for family in versions.OS_FAMILIES.values():
        assert family.os_release_id in distros["ntp"], family.name
        if family.package_format == "rpm":
            assert family.os_release_id in distros["yum"], family.name


def test_cloud_init_writes_the_repository_files_dnf_expects(tmp_path: Path) -> None:
    """cloud-init's own module turns our yum_repos into the .repo files the script checks."""
    rendered = render_spec(REPO / "examples" / "rocky9.yaml")
    repos = cloud_config(rendered, "rocky-cp1")["yum_repos"]
    result = cloud_init_writes_yum_repos(repos, tmp_path)
    assert result.returncode == 0, result.stderr
    expected = rpm.dnf_settings(rendered.cluster)["repo_files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(f).name for f in expected)
    parser = configparser.ConfigParser()
    parser.read([tmp_path / Path(f).name for f in expected])
    kubernetes = parser[rpm.KUBERNETES_REPO]
    assert kubernetes["baseurl"].endswith("/v1.32/rpm/")
    assert kubernetes["exclude"] == "kubelet kubeadm kubectl cri-tools kubernetes-cni"
    assert (kubernetes["gpgcheck"], kubernetes["skip_if_unavailable"]) == ("1", "0")
    docker = parser[rpm.CONTAINERD_REPO]
    assert docker["baseurl"].endswith("/linux/rhel/9/x86_64/stable")
    assert (docker["module_hotfixes"], docker["skip_if_unavailable"]) == ("1", "0")


# --- oracles on every family x architecture --------------------------------------------------


def test_matrix_user_data_matches_cloud_inits_json_schema(
    rendered_matrix: dict[tuple[str, str, str], Rendered],
) -> None:
    schema = json.loads(cloud_init_schema("schema-cloud-config-v1.json").read_text())
    validator = jsonschema.Draft4Validator(schema)
    for rendered, node in every_matrix_node(rendered_matrix):
        errors = [e.message for e in validator.iter_errors(cloud_config(rendered, node))]
        assert errors == [], f"{rendered.cluster.name} {node}"


def test_matrix_user_data_passes_cloud_init_schema_command(
    rendered_matrix: dict[tuple[str, str, str], Rendered], tmp_path: Path
) -> None:
    for rendered, node in every_matrix_node(rendered_matrix):
        check_with_cloud_init(rendered, node, tmp_path)


def test_matrix_scripts_pass_shellcheck(
    rendered_matrix: dict[tuple[str, str, str], Rendered], tmp_path: Path
) -> None:
    tool = need("shellcheck")
    paths = []
    for rendered, node in every_matrix_node(rendered_matrix):
        path = tmp_path / f"{rendered.cluster.name}-{node}.sh"
        path.write_text(scripts(rendered, node)[BOOTSTRAP])
        paths.append(str(path))
    result = subprocess.run([tool, "--severity=style", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def os_dependent_parts(rendered: Rendered, node: str) -> str:
    """What the OS and architecture decide in a node's user-data, for the golden files."""
    node_files = files(rendered, node)
    parts = {
        "yum_repos": cloud_config(rendered, node).get("yum_repos", {}),
        "apt_lists": {
            path: entry["content"]
            for path, entry in node_files.items()
            if path.startswith("/etc/k8sgen/apt/")
        },
        "bootstrap": node_files[BOOTSTRAP]["content"],
    }
    return mask(dump(parts), rendered.secrets)


@pytest.mark.parametrize("entry", MATRIX, ids=matrix_id)
def test_matrix_golden(
    entry: tuple[str, str, str],
    rendered_matrix: dict[tuple[str, str, str], Rendered],
    request: pytest.FixtureRequest,
) -> None:
    rendered = rendered_matrix[entry]
    text = os_dependent_parts(rendered, rendered.cluster.init_node.name)
    path = GOLDEN / "os-matrix" / f"{matrix_id(entry)}.yaml"
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), "run scripts/test --update-golden and review the diff"
    assert path.read_text() == text, f"{path.name} differs from tests/golden/os-matrix"


@pytest.mark.parametrize("release", MATRIX_RELEASES, ids="-".join)
def test_architecture_changes_only_architecture_names(
    release: tuple[str, str], rendered_matrix: dict[tuple[str, str, str], Rendered]
) -> None:
    amd64 = rendered_matrix[(*release, "amd64")]
    arm64 = rendered_matrix[(*release, "arm64")]
    for node in node_names(amd64):
        text_amd64 = readable_user_data(amd64, node)
        text_arm64 = readable_user_data(arm64, node)
        assert text_amd64 != text_arm64
        assert "arm64" not in text_amd64 and "aarch64" not in text_amd64
        # The cluster names (family-arch) are renamed too: nothing else may differ.
        back = text_arm64.replace("aarch64", "x86_64").replace("arm64", "amd64")
        assert back == text_amd64


# --- package sources per format -------------------------------------------------------------


def test_rpm_repositories_per_arch(
    rendered_matrix: dict[tuple[str, str, str], Rendered],
) -> None:
    checked = 0
    for (family, version, arch), rendered in rendered_matrix.items():
        release = versions.OPERATING_SYSTEMS[(family, version)]
        if release.package_format != "rpm":
            assert "yum_repos" not in cloud_config(rendered, "master1")
            continue
        machine = versions.ARCHITECTURES[arch].rpm
        repos = cloud_config(rendered, "master1")["yum_repos"]
        assert list(repos) == [rpm.KUBERNETES_REPO, rpm.CONTAINERD_REPO]
        kubernetes = repos[rpm.KUBERNETES_REPO]
        base = "https://mirrors.aliyun.com/kubernetes-new/core/stable/v1.33/rpm/"
        assert kubernetes["baseurl"] == base
        assert kubernetes["gpgkey"] == base + "repodata/repomd.xml.key"
        assert kubernetes["exclude"] == "kubelet kubeadm kubectl cri-tools kubernetes-cni"
        assert kubernetes["gpgcheck"] is True and kubernetes["skip_if_unavailable"] is False
        docker = repos[rpm.CONTAINERD_REPO]
        tree = f"https://mirrors.aliyun.com/docker-ce/linux/{release.docker_ce_tree}"
        assert docker["baseurl"] == f"{tree}/{machine}/stable"
        assert docker["gpgkey"] == "https://mirrors.aliyun.com/docker-ce/linux/rhel/gpg"
        script = scripts(rendered, "master1")[BOOTSTRAP]
        install = script.split("phase_install() {")[1].split("\n}\n")[0]
        assert "--disableexcludes=k8sgen-kubernetes" in install
        assert "dnf_run install 'dnf-command(versionlock)'" in install
        assert "systemctl enable kubelet" in install
        for package in ("containerd.io", *release.extra_packages):
            assert package in install.split()
        assert "apt" not in install
        checked += 1
    assert checked == 6


def test_apt_lists_name_the_architecture(
    rendered_matrix: dict[tuple[str, str, str], Rendered],
) -> None:
    checked = 0
    for (family, version, arch), rendered in rendered_matrix.items():
        if versions.OPERATING_SYSTEMS[(family, version)].package_format != "deb":
            continue
        node_files = files(rendered, "node1")
        for name in ("kubernetes", "containerd"):
            line = node_files[f"/etc/k8sgen/apt/{name}.list"]["content"]
            assert line.startswith(f"deb [arch={arch} signed-by=/etc/apt/keyrings/")
        checked += 1
    assert checked == 4


def test_manifest_names_os_and_platform(
    rendered_matrix: dict[tuple[str, str, str], Rendered],
) -> None:
    for (family, version, arch), rendered in rendered_matrix.items():
        data = json.loads(rendered.text("manifest.json"))
        assert data["os"] == {"family": family, "version": version}
        assert data["platform"] == f"linux/{arch}"


# --- SELinux and firewalld ------------------------------------------------------------------


def prepare_phase(script: str) -> str:
    return script.split("phase_prepare() {")[1].split("\n}\n")[0]


def test_selinux_and_firewalld_only_where_the_family_has_them(
    rendered_matrix: dict[tuple[str, str, str], Rendered],
) -> None:
    for (family, _, _), rendered in rendered_matrix.items():
        traits = versions.OS_FAMILIES[family]
        for node in node_names(rendered):
            script = scripts(rendered, node)[BOOTSTRAP]
            prepare = prepare_phase(script)
            assert ("selinux_permissive" in prepare) == traits.selinux
            assert ("firewalld_setup" in prepare) == traits.firewalld
            if traits.firewalld:
                # The default: stop and disable it, open nothing.
                assert "systemctl disable --now firewalld" in script
                assert "firewall-cmd" not in script
            if traits.selinux:
                assert "sed -i 's/^SELINUX=enforcing$/SELINUX=permissive/'" in script


def test_firewalld_open_opens_the_ports_of_each_role() -> None:
    rendered = render_spec(REPO / "examples" / "rocky9.yaml")
    cluster = rendered.cluster
    assert cluster.firewalld == "open"
    for node in cluster.nodes:
        script = scripts(rendered, node.name)[BOOTSTRAP]
        assert "systemctl disable --now firewalld" not in script
        ports = re.search(r"local -a ports=\((.*)\)", script)
        trusted = re.search(r"local -a trusted=\((.*)\)", script)
        assert ports and trusted
        opened = ports[1].split()
        assert set(firewall.NODE_PORTS + firewall.CALICO_PORTS) <= set(opened)
        assert ("6443/tcp" in opened) == node.is_control_plane
        assert ("2379-2380/tcp" in opened) == node.is_control_plane
        assert trusted[1].split() == [cluster.pod_subnet, cluster.service_subnet]
        assert "local -a protocols=(4)" in script


# --- the node checks that it is what the spec says ------------------------------------------


def node_check(script: str, os_release: Path) -> str:
    """The script's own check, lifted out with its constants, reading a test os-release."""
    constants = [line for line in script.splitlines() if line.startswith("readonly ")]
    functions = []
    for name in ("os_release", "check_node_matches_spec"):
        match = re.search(rf"^{name}\(\) \{{\n.*?^\}}\n", script, re.MULTILINE | re.DOTALL)
        assert match, name
        functions.append(match[0].replace("/etc/os-release", str(os_release)))
    stubs = 'fail() { echo "FAIL: $*"; exit 1; }\nfail_because() { fail "$2"; }\nlog() { :; }\n'
    return "\n".join([*constants, stubs, *functions, "check_node_matches_spec\necho OK\n"])


def run_node_check(
    tmp_path: Path, script: str, os_release_text: str, machine: str
) -> subprocess.CompletedProcess[str]:
    os_release = tmp_path / "os-release"
    os_release.write_text(os_release_text)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    uname = fake_bin / "uname"
    uname.write_text(f"#!/bin/sh\necho {machine}\n")
    uname.chmod(0o755)
    program = node_check(script, os_release)
    environment = {"PATH": f"{fake_bin}:/usr/bin:/bin"}
    return subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=environment)


@pytest.mark.parametrize("entry", MATRIX, ids=matrix_id)
def test_node_accepts_its_real_os_release_and_cpu(
    entry: tuple[str, str, str],
    rendered_matrix: dict[tuple[str, str, str], Rendered],
    tmp_path: Path,
) -> None:
    family, version, arch = entry
    script = scripts(rendered_matrix[entry], "master1")[BOOTSTRAP]
    machine = versions.ARCHITECTURES[arch].rpm
    text = OS_RELEASE_FILES[(family, version)]
    result = run_node_check(tmp_path, script, text, machine)
    assert result.stdout == "OK\n", result.stdout + result.stderr
    other = "aarch64" if machine == "x86_64" else "x86_64"
    wrong_cpu = run_node_check(tmp_path, script, text, other)
    assert wrong_cpu.returncode == 1
    assert f"this node is {other} but the spec says arch {arch} ({machine})" in wrong_cpu.stdout


@pytest.mark.parametrize(
    ("entry", "os_release_text", "says"),
    [
        (("rocky", "8", "amd64"), 'ID="rocky"\nVERSION_ID="9.4"\n', "runs rocky 9 but"),
        (("almalinux", "9", "arm64"), 'ID="rocky"\nVERSION_ID="9.4"\n', "runs rocky 9 but"),
        (
            ("openeuler", "22.03", "arm64"),
            'ID="openEuler"\nVERSION_ID="24.03"\n',
            "runs openEuler 24.03 but the spec says openEuler 22.03",
        ),
        (("debian", "13", "amd64"), 'ID=debian\nVERSION_ID="12"\n', "runs debian 12 but"),
        (("ubuntu", "24.04", "arm64"), 'ID=ubuntu\nVERSION_ID="22.04"\n', "runs ubuntu 22.04"),
    ],
    ids=["rocky-8-on-9", "alma-on-rocky", "openeuler-22.03-on-24.03", "debian-13-on-12", "ubuntu"],
)
def test_node_refuses_another_os(
    entry: tuple[str, str, str],
    os_release_text: str,
    says: str,
    rendered_matrix: dict[tuple[str, str, str], Rendered],
    tmp_path: Path,
) -> None:
    script = scripts(rendered_matrix[entry], "master1")[BOOTSTRAP]
    result = run_node_check(tmp_path, script, os_release_text, versions.ARCHITECTURES[entry[2]].rpm)
    assert result.returncode == 1
    assert says in result.stdout


# --- Calico on arm64: what the real manifests allow us to check offline --------------------


def workloads(manifest: Path) -> list[dict[str, Any]]:
    documents = yaml.load_all(manifest.read_text(), Loader=yaml.CSafeLoader)
    return [d for d in documents if d and d["kind"] in ("DaemonSet", "Deployment")]


@pytest.mark.parametrize("version", CALICO_FIXTURE_VERSIONS)
def test_real_calico_manifests_pin_no_architecture(version: str) -> None:
    """Images by tag only (no digest, no -amd64 suffix), no workload held to one arch.

    That an arm64 image exists behind each tag is a registry fact these fixtures cannot
    show; what they can show is that nothing in the manifest assumes amd64."""
    found = workloads(calico_fixture(version))
    assert {d["metadata"]["name"] for d in found} >= {"calico-node", "calico-kube-controllers"}
    for document in found:
        pod = document["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            image = container["image"]
            assert "@" not in image, image
            assert not re.search(r"[-_](amd64|x86_64|arm64|aarch64)\b", image), image
        selector = json.dumps(pod.get("nodeSelector", {})) + json.dumps(pod.get("affinity", {}))
        assert "kubernetes.io/arch" not in selector, document["metadata"]["name"]
        assert pod.get("nodeSelector", {}).get("kubernetes.io/os") == "linux"


def test_both_architectures_pull_the_manifest_images(
    rendered_matrix: dict[tuple[str, str, str], Rendered],
) -> None:
    for rendered in rendered_matrix.values():
        script = scripts(rendered, "node1")[BOOTSTRAP]
        for image in rendered.cluster.calico.images:
            assert image in script
        release = rendered.cluster.calico.release
        fixture = calico_fixture(rendered.cluster.calico.version)
        referenced = set(re.findall(r"^\s*image:\s*(\S+)\s*$", fixture.read_text(), re.M))
        assert referenced == set(release.images(rendered.cluster.calico.version))


def test_init_writes_a_starter_for_any_family_and_arch(tmp_path: Path) -> None:
    target = tmp_path / "kunpeng.yaml"
    result = CliRunner().invoke(
        cli, ["init", "-o", str(target), "--os", "openeuler:24.03", "--arch", "arm64"]
    )
    assert result.exit_code == 0, result.stderr
    rendered = render_spec(target)
    assert rendered.cluster.os.traits.os_release_id == "openEuler"
    assert rendered.cluster.arch.rpm == "aarch64"
    assert rendered.cluster.firewalld == "disabled"
    bad = CliRunner().invoke(cli, ["init", "--arch", "riscv64"])
    assert bad.exit_code == 1
    assert "spec.arch: 'riscv64' is not one of ['amd64', 'arm64']" in bad.stderr
