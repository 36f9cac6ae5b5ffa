"""spec.certificates: how long certificates live and when control planes renew them.

kubeadm v1beta4 carries both lifetimes (certificateValidityPeriod for the certificates it
makes, caCertificateValidityPeriod for CAs); v1beta3 has neither and kubeadm uses one year.
k8sgen mints the CAs itself, so caValidity governs its own minting of new secrets; an existing
CA is never minted again.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from generator.spec.rules import ttl_seconds

FIELD = "certificates"
DEFAULT_VALIDITY = "8760h"  # kubeadm's leaf lifetime (one year)
DEFAULT_CA_VALIDITY = "87600h"  # kubeadm's CA lifetime (ten years)
DEFAULT_RENEW_BEFORE = "720h"  # renew when 30 days or fewer are left
# Control plane i renews when renewBefore - i x STAGGER is left: one etcd member restarts a
# night, and the daily timer (up to an hour late) has at least this long to catch a window.
STAGGER_TEXT = "48h"


@dataclass(frozen=True)
class Certificates:
    """Durations as the spec says them (Go durations such as 8760h or 1h30m)."""

    validity: str = DEFAULT_VALIDITY
    ca_validity: str = DEFAULT_CA_VALIDITY
    renew_before: str = DEFAULT_RENEW_BEFORE
    validity_set: bool = False  # the spec names validity: kubeadm is told (v1beta4 only)
    ca_validity_set: bool = False

    @property
    def leaf(self) -> datetime.timedelta:
        return duration(self.validity)

    @property
    def ca(self) -> datetime.timedelta:
        return duration(self.ca_validity)

    @property
    def renew_window(self) -> datetime.timedelta:
        return duration(self.renew_before)


def duration(text: str) -> datetime.timedelta:
    return datetime.timedelta(seconds=ttl_seconds(text))


def build(spec: dict[str, Any]) -> Certificates:
    data = spec.get(FIELD, {})
    return Certificates(
        validity=data.get("validity", DEFAULT_VALIDITY),
        ca_validity=data.get("caValidity", DEFAULT_CA_VALIDITY),
        renew_before=data.get("renewBefore", DEFAULT_RENEW_BEFORE),
        validity_set="validity" in data,
        ca_validity_set="caValidity" in data,
    )


STAGGER = duration(STAGGER_TEXT)
DEFAULTS = Certificates()  # kubeadm's own lifetimes
