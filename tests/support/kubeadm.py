"""What the tests expect of kubeadm: the shared PKI files, and the strict API schemas
(written from the API Go types) as validators: kubeadm's in tests/schemas/, the kubelet's and
kube-proxy's in schemas/ (k8sgen checks spec.kubeadm.kubelet and kubeProxy with them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from .repo import REPO, TEST_SCHEMAS

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


def schema_path(file_name: str) -> Path:
    shipped = REPO / "schemas" / file_name
    return shipped if shipped.is_file() else TEST_SCHEMAS / file_name


def api_schema(api_version: str) -> Any:
    return json.loads(schema_path(SCHEMA_FILES[api_version]).read_text(encoding="utf-8"))


def api_validator(api_version: str) -> jsonschema.Validator:
    return jsonschema.Draft202012Validator(api_schema(api_version))
