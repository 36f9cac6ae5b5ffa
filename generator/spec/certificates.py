"""Semantic checks of spec.certificates: lifetimes that kubeadm can honour and that renew."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from generator import certspec, versions

if TYPE_CHECKING:
    from generator.spec.findings import Findings

CERTIFICATES = ("spec", certspec.FIELD)
# The renewal timer fires daily, up to an hour late: a shorter window can be missed.
MIN_SAFE_RENEW_BEFORE = certspec.duration("48h")


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
    if chosen.renew_window >= chosen.leaf:
        findings.error(
            (*CERTIFICATES, "renewBefore"),
            f"{chosen.renew_before} is not shorter than validity ({chosen.validity}): the "
            "control planes would renew their certificates every day",
        )
    elif chosen.renew_window < MIN_SAFE_RENEW_BEFORE:
        findings.warn(
            (*CERTIFICATES, "renewBefore"),
            f"{chosen.renew_before}: the renewal timer runs once a day (up to an hour late); "
            "a window under 48h can let a certificate expire between two runs",
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
