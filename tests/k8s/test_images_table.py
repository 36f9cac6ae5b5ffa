"""The image table (generator/data/k8s-images.json) against the real kubeadm of each minor."""

from __future__ import annotations

import subprocess

import pytest

from generator import versions
from generator.offline.images import coredns_repository

from .binaries import kubeadm, kubeadm_releases
from .netns import isolated

REPOSITORY = "registry.test.invalid/k8s"


def kubeadm_image_list(minor: int, *args: str) -> list[str]:
    result = subprocess.run(
        isolated([str(kubeadm(minor)), "config", "images", "list", *args]),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize("minor", sorted(versions.KUBERNETES), ids=lambda m: f"1.{m}")
def test_table_has_the_tags_real_kubeadm_lists(minor: int) -> None:
    release = kubeadm_releases()[minor]
    listed = kubeadm_image_list(
        minor, "--kubernetes-version", f"v{release}", "--image-repository", REPOSITORY
    )
    tags = versions.image_tags(release)
    assert tags.release == release
    assert f"{REPOSITORY}/pause:{tags.pause}" in listed
    assert f"{REPOSITORY}/etcd:{tags.etcd}" in listed
    assert f"{coredns_repository(REPOSITORY)}:{tags.coredns}" in listed
    assert len(listed) == 7, listed


def test_every_supported_minor_has_a_release_in_the_table() -> None:
    assert set(kubeadm_releases()) == set(versions.KUBERNETES)


def test_a_patch_missing_from_the_table_takes_the_nearest_known_one() -> None:
    known = versions.known_image_tags()
    assert "1.33.4" not in known  # a real release the Go module proxy does not serve
    assert versions.image_tags("1.33.4").release == "1.33.6"
    assert versions.image_tags("1.34.1").release == "1.34.0"  # tie: the lower one
    assert versions.image_tags("1.34.2") == known["1.34.2"]
    # etcd moves within a minor: 1.34.0 and 1.34.2 differ.
    assert known["1.34.0"].etcd != known["1.34.2"].etcd
