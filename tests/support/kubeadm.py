"""What the tests expect of kubeadm: the shared PKI files, and the strict API schemas
(tests/schemas/, written from the API Go types) as validators."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from .repo import TEST_SCHEMAS

SCHEMA_FILES = {
    "kubeadm.k8s.io/v1beta3": "kubeadm-v1beta3.schema.json",
    "kubeadm.k8s.io/v1beta4": "kubeadm-v1beta4.schema.json",
    "kubelet.config.k8s.io/v1beta1": "kubelet-config-v1beta1.schema.json",
    "kubeproxy.config.k8s.io/v1alpha1": "kubeproxy-config-v1alpha1.schema.json",
}

# kubeadm's manual certificate distribution (the eight files a control-plane joiner needs, as
# named under /etc/kubernetes/pki), kept where kubeadm reset cannot empty it. Written out here
# on purpose: the tests' own expectation, not the generator's list.
SHARED_PKI_NAMES = (
    "ca.crt",
    "ca.key",
    "sa.key",
    "sa.pub",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "etcd/ca.crt",
    "etcd/ca.key",
)
SHARED_PKI = {"/var/lib/k8sgen/pki/" + name for name in SHARED_PKI_NAMES}


def api_schema(api_version: str) -> Any:
    return json.loads((TEST_SCHEMAS / SCHEMA_FILES[api_version]).read_text(encoding="utf-8"))


def api_validator(api_version: str) -> jsonschema.Validator:
    return jsonschema.Draft202012Validator(api_schema(api_version))
