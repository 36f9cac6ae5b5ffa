"""Semantic checks of spec.certificates: lifetimes that kubeadm can honour and that renew."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from generator import certspec, versions

if TYPE_CHECKING:
    from generator.spec.findings import Findings

CERTIFICATES = ("spec", certspec.FIELD)


def check_certificates(data: dict[str, Any], findings: Findings) -> None:
    settings = data["spec"].get(certspec.FIELD, {})
    for name, value in settings.items():
        if certspec.duration(value).total_seconds() == 0:
            findings.error((*CERTIFICATES, name), f"{value} is no lifetime: more than zero")
            return
    _check_kubeadm_api(data, settings, findings)
    chosen = certspec.build(data["spec"])
    if chosen.leaf > chosen.ca:
        findings.error(
            (*CERTIFICATES, "validity" if chosen.validity_set else "caValidity"),
            f"validity ({chosen.validity}) is longer than caValidity ({chosen.ca_validity}): "
            "a certificate cannot outlive the CA that signed it",
        )
    _check_renew_before(data, chosen, findings)


def _check_renew_before(
    data: dict[str, Any], chosen: certspec.Certificates, findings: Findings
) -> None:
    """Control plane i renews at renewBefore - i x 48h: the last one needs more than 48h (one
    missed daily run), and a renewed certificate must not be inside the window at once."""
    count = sum(1 for n in data["spec"]["nodes"] if n["role"] == "control-plane")
    stagger = certspec.STAGGER_TEXT
    if chosen.renew_window > chosen.leaf - certspec.STAGGER:
        findings.error(
            (*CERTIFICATES, "renewBefore"),
            f"{chosen.renew_before} leaves less than {stagger} between a renewal and the next "
            f"(validity {chosen.validity}): set renewBefore to at most validity - {stagger}",
        )
    elif chosen.renew_window <= count * certspec.STAGGER:
        findings.error(
            (*CERTIFICATES, "renewBefore"),
            f"{chosen.renew_before} is too short for {count} control plane(s): control plane i "
            f"renews when renewBefore - i x {stagger} is left (one a night, so etcd keeps "
            f"quorum) and the last needs more than {stagger}; set renewBefore above "
            f"{int(count * certspec.STAGGER.total_seconds()) // 3600}h",
        )


def _check_kubeadm_api(data: dict[str, Any], settings: dict[str, Any], findings: Findings) -> None:
    version = data["spec"]["kubernetes"]["version"]
    minor = versions.KUBERNETES.get(versions.minor_of(version))
    if minor is None or minor.has_validity_periods or "validity" not in settings:
        return
    findings.error(
        (*CERTIFICATES, "validity"),
        f"Kubernetes {version} uses kubeadm {minor.kubeadm_api}, which has no "
        "certificateValidityPeriod: kubeadm makes its certificates for 8760h. Remove "
        "validity, or use Kubernetes 1.31 or later (kubeadm v1beta4)",
    )
