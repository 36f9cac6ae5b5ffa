"""Tests for the strict kubeadm / kubelet / kube-proxy JSON Schemas in ``schemas/``.

The schemas were written by hand from the Go API types (see each schema's top-level
``description`` for the exact source files and commits).  These tests prove they are

* not too strict: realistic documents, modelled on the kubeadm reference docs and on
  ``kubeadm config print ...`` output, validate cleanly (also after a YAML round trip);
* not too loose: misspellings at every level, version-mixing (v1beta3 map ``extraArgs`` in
  v1beta4, v1beta4-only ``timeouts`` in v1beta3), wrong types and bad enum values are
  rejected, and every rejection asserts on the JSON path of the error.

Every rejection test starts from a document that is first shown to be valid and changes a
single thing, and it checks that *all* reported errors sit at (or under) the expected path,
so a test cannot pass because of some unrelated error.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml
from jsonschema import Draft202012Validator

from .support.kubeadm import SCHEMA_FILES, schema_path

V1B3 = "kubeadm.k8s.io/v1beta3"
V1B4 = "kubeadm.k8s.io/v1beta4"
KUBELET = "kubelet.config.k8s.io/v1beta1"
KUBEPROXY = "kubeproxy.config.k8s.io/v1alpha1"

CA_HASH = "sha256:" + "7c2ab1c6f4e3d2b1a0f9e8d7c6b5a4938271605f4e3d2c1b0a9f8e7d6c5b4a39"
CERT_KEY = "3f1c9a2b7d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"


# --------------------------------------------------------------------------- helpers
def _load_schema(file_name: str) -> dict:
    return json.loads(schema_path(file_name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft202012Validator]:
    out = {}
    for api_version, file_name in SCHEMA_FILES.items():
        schema = _load_schema(file_name)
        Draft202012Validator.check_schema(schema)
        out[api_version] = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
    return out


def _errors(validators, doc: dict, api_version: str | None = None):
    validator = validators[api_version or doc["apiVersion"]]
    return sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))


def _fmt(errors) -> str:
    return "\n".join(f"  {list(e.absolute_path)} [{e.validator}] {e.message}" for e in errors)


def assert_valid(validators, doc: dict) -> None:
    errors = _errors(validators, doc)
    assert not errors, "expected a valid document, got:\n" + _fmt(errors)


def assert_rejected(
    validators,
    base: dict,
    mutate,
    path: list,
    keyword: str,
    needle: str = "",
    api_version: str | None = None,
) -> None:
    """Check ``base`` is valid, apply ``mutate`` to a copy and require an error at ``path``.

    The matching error must come from JSON Schema keyword ``keyword`` and mention
    ``needle``; every other error must be located at or below ``path``.
    """
    assert_valid(validators, base)
    doc = copy.deepcopy(base)
    mutate(doc)
    errors = _errors(validators, doc, api_version)
    assert errors, "mutated document was unexpectedly accepted"
    matching = [
        e
        for e in errors
        if list(e.absolute_path) == path and e.validator == keyword and needle in e.message
    ]
    assert matching, f"no [{keyword}] error at {path} mentioning {needle!r}; got:\n" + _fmt(errors)
    stray = [e for e in errors if list(e.absolute_path)[: len(path)] != path]
    assert not stray, f"errors outside {path}:\n" + _fmt(stray)


def _set(doc: dict, path: list, value) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _rename(doc: dict, path: list, new_key: str) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[new_key] = doc.pop(path[-1])


def _delete(doc: dict, path: list) -> None:
    for key in path[:-1]:
        doc = doc[key]
    del doc[path[-1]]


def _volume() -> dict:
    return {
        "name": "audit-policy",
        "hostPath": "/etc/kubernetes/audit",
        "mountPath": "/etc/kubernetes/audit",
        "readOnly": True,
        "pathType": "DirectoryOrCreate",
    }


# --------------------------------------------------------------------------- v1beta3 documents
def v1beta3_init() -> dict:
    return {
        "apiVersion": V1B3,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {"token": "k8sgen.0123456789abcdef", "description": "initial join token", "ttl": "24h"},
            {
                "token": "q7w2e9.r4t6y8u0i2o4p6a8",
                "description": "long-lived automation token",
                "ttl": "0s",
                "usages": ["authentication", "signing"],
                "groups": ["system:bootstrappers:kubeadm:default-node-token"],
            },
            {"token": "z9y8x7.w6v5u4t3s2r1q0p9", "expires": "2030-01-01T00:00:00Z"},
        ],
        "nodeRegistration": {
            "name": "cp-1.example.internal",
            "criSocket": "unix:///var/run/containerd/containerd.sock",
            "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
            "kubeletExtraArgs": {"v": "4", "node-ip": "10.10.0.11"},
            "ignorePreflightErrors": ["IsPrivilegedUser", "Swap"],
            "imagePullPolicy": "IfNotPresent",
        },
        "localAPIEndpoint": {"advertiseAddress": "10.10.0.11", "bindPort": 6443},
        "certificateKey": CERT_KEY,
        "skipPhases": ["addon/kube-proxy"],
        "patches": {"directory": "/etc/kubernetes/patches"},
    }


def v1beta3_cluster() -> dict:
    return {
        "apiVersion": V1B3,
        "kind": "ClusterConfiguration",
        "etcd": {
            "local": {
                "imageRepository": "registry.k8s.io",
                "imageTag": "3.5.12-0",
                "dataDir": "/var/lib/etcd",
                "extraArgs": {
                    "listen-metrics-urls": "http://0.0.0.0:2381",
                    "election-timeout": "1500",
                },
                "serverCertSANs": ["etcd.example.internal"],
                "peerCertSANs": ["10.10.0.11"],
            }
        },
        "networking": {
            "serviceSubnet": "10.96.0.0/16",
            "podSubnet": "10.244.0.0/16",
            "dnsDomain": "cluster.local",
        },
        "kubernetesVersion": "v1.30.4",
        "controlPlaneEndpoint": "k8s-api.example.internal:6443",
        "apiServer": {
            "extraArgs": {"authorization-mode": "Node,RBAC", "audit-log-maxage": "30"},
            "extraVolumes": [_volume()],
            "certSANs": ["10.10.0.10", "k8s-api.example.internal"],
            "timeoutForControlPlane": "4m0s",
        },
        "controllerManager": {
            "extraArgs": {"node-cidr-mask-size": "24", "bind-address": "0.0.0.0"},
            "extraVolumes": [_volume()],
        },
        "scheduler": {"extraArgs": {"bind-address": "0.0.0.0"}},
        "dns": {"imageRepository": "registry.k8s.io/coredns", "imageTag": "v1.11.1"},
        "certificatesDir": "/etc/kubernetes/pki",
        "imageRepository": "registry.k8s.io",
        "featureGates": {"EtcdLearnerMode": True},
        "clusterName": "k8sgen-lab",
    }


def v1beta3_cluster_external_etcd() -> dict:
    return {
        "apiVersion": V1B3,
        "kind": "ClusterConfiguration",
        "kubernetesVersion": "v1.29.8",
        "controlPlaneEndpoint": "10.10.0.10:6443",
        "etcd": {
            "external": {
                "endpoints": ["https://10.10.0.21:2379", "https://10.10.0.22:2379"],
                "caFile": "/etc/kubernetes/pki/etcd/ca.crt",
                "certFile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
                "keyFile": "/etc/kubernetes/pki/apiserver-etcd-client.key",
            }
        },
        "networking": {"podSubnet": "192.168.0.0/16"},
    }


def v1beta3_join_worker() -> dict:
    return {
        "apiVersion": V1B3,
        "kind": "JoinConfiguration",
        "caCertPath": "/etc/kubernetes/pki/ca.crt",
        "discovery": {
            "bootstrapToken": {
                "token": "k8sgen.0123456789abcdef",
                "apiServerEndpoint": "k8s-api.example.internal:6443",
                "caCertHashes": [CA_HASH],
            },
            "tlsBootstrapToken": "k8sgen.0123456789abcdef",
            "timeout": "5m0s",
        },
        "nodeRegistration": {
            "name": "worker-1",
            "criSocket": "unix:///var/run/containerd/containerd.sock",
            "taints": [],
            "kubeletExtraArgs": {"node-labels": "pool=general"},
        },
    }


def v1beta3_join_control_plane() -> dict:
    return {
        "apiVersion": V1B3,
        "kind": "JoinConfiguration",
        "discovery": {
            "file": {"kubeConfigPath": "/etc/kubernetes/discovery.conf"},
            "tlsBootstrapToken": "k8sgen.0123456789abcdef",
        },
        "controlPlane": {
            "localAPIEndpoint": {"advertiseAddress": "10.10.0.12", "bindPort": 6443},
            "certificateKey": CERT_KEY,
        },
        "nodeRegistration": {"name": "cp-2", "taints": None},
        "skipPhases": ["preflight"],
        "patches": {"directory": "/etc/kubernetes/patches"},
    }


# --------------------------------------------------------------------------- v1beta4 documents
def v1beta4_init() -> dict:
    return {
        "apiVersion": V1B4,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {
                "token": "k8sgen.0123456789abcdef",
                "description": "initial join token",
                "ttl": "24h0m0s",
            },
            {
                "token": "q7w2e9.r4t6y8u0i2o4p6a8",
                "description": "automation token",
                "usages": ["authentication", "signing"],
                "groups": ["system:bootstrappers:kubeadm:default-node-token"],
            },
        ],
        "dryRun": False,
        "nodeRegistration": {
            "name": "cp-1.example.internal",
            "criSocket": "unix:///var/run/containerd/containerd.sock",
            "taints": [
                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                {"key": "example.com/maintenance", "value": "true", "effect": "PreferNoSchedule"},
            ],
            "kubeletExtraArgs": [
                {"name": "v", "value": "5"},
                {"name": "node-ip", "value": "10.10.0.11"},
            ],
            "ignorePreflightErrors": ["IsPrivilegedUser"],
            "imagePullPolicy": "IfNotPresent",
            "imagePullSerial": True,
        },
        "localAPIEndpoint": {"advertiseAddress": "10.10.0.11", "bindPort": 6443},
        "certificateKey": CERT_KEY,
        "skipPhases": ["addon/kube-proxy"],
        "patches": {"directory": "/etc/kubernetes/patches"},
        "timeouts": {
            "controlPlaneComponentHealthCheck": "4m0s",
            "kubeletHealthCheck": "4m",
            "kubernetesAPICall": "1m0s",
            "etcdAPICall": "2m",
            "tlsBootstrap": "5m0s",
            "discovery": "5m0s",
            "upgradeManifests": "5m0s",
        },
    }


def v1beta4_cluster() -> dict:
    return {
        "apiVersion": V1B4,
        "kind": "ClusterConfiguration",
        "etcd": {
            "local": {
                "imageRepository": "registry.k8s.io",
                "imageTag": "3.5.15-0",
                "dataDir": "/var/lib/etcd",
                "extraArgs": [
                    {"name": "listen-metrics-urls", "value": "http://0.0.0.0:2381"},
                    {"name": "election-timeout", "value": "1500"},
                ],
                "extraEnvs": [{"name": "ETCD_UNSUPPORTED_ARCH", "value": "arm64"}],
                "serverCertSANs": ["etcd.example.internal"],
                "peerCertSANs": ["10.10.0.11"],
            }
        },
        "networking": {
            "serviceSubnet": "10.96.0.0/16",
            "podSubnet": "10.244.0.0/16",
            "dnsDomain": "cluster.local",
        },
        "kubernetesVersion": "v1.31.2",
        "controlPlaneEndpoint": "k8s-api.example.internal:6443",
        "apiServer": {
            "extraArgs": [
                {"name": "authorization-mode", "value": "Node,RBAC"},
                {"name": "audit-log-path", "value": "/var/log/kubernetes/audit.log"},
            ],
            "extraVolumes": [_volume()],
            "extraEnvs": [{"name": "HTTPS_PROXY", "value": "http://proxy.example.internal:3128"}],
            "certSANs": ["10.10.0.10", "k8s-api.example.internal"],
        },
        "controllerManager": {
            "extraArgs": [{"name": "node-cidr-mask-size", "value": "24"}],
            "extraVolumes": [_volume()],
        },
        "scheduler": {"extraArgs": [{"name": "bind-address", "value": "0.0.0.0"}]},
        "dns": {
            "imageRepository": "registry.k8s.io/coredns",
            "imageTag": "v1.11.3",
            "disabled": False,
        },
        "proxy": {"disabled": True},
        "certificatesDir": "/etc/kubernetes/pki",
        "imageRepository": "registry.k8s.io",
        "featureGates": {"ControlPlaneKubeletLocalMode": True},
        "clusterName": "k8sgen-lab",
        "encryptionAlgorithm": "ECDSA-P256",
        "certificateValidityPeriod": "8760h0m0s",
        "caCertificateValidityPeriod": "87600h0m0s",
    }


def v1beta4_cluster_external_etcd() -> dict:
    return {
        "apiVersion": V1B4,
        "kind": "ClusterConfiguration",
        "kubernetesVersion": "v1.35.0",
        "etcd": {
            "external": {
                "endpoints": ["https://10.10.0.21:2379", "https://10.10.0.22:2379"],
                "httpEndpoints": ["http://10.10.0.21:2382", "http://10.10.0.22:2382"],
                "caFile": "/etc/kubernetes/pki/etcd/ca.crt",
                "certFile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
                "keyFile": "/etc/kubernetes/pki/apiserver-etcd-client.key",
            }
        },
        "encryptionAlgorithm": "RSA-3072",
    }


def v1beta4_init_print_defaults() -> dict:
    """Shape of ``kubeadm config print init-defaults`` (InitConfiguration part)."""
    return {
        "apiVersion": V1B4,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {
                "groups": ["system:bootstrappers:kubeadm:default-node-token"],
                "token": "abcdef.0123456789abcdef",
                "ttl": "24h0m0s",
                "usages": ["signing", "authentication"],
            }
        ],
        "localAPIEndpoint": {"advertiseAddress": "1.2.3.4", "bindPort": 6443},
        "nodeRegistration": {
            "criSocket": "unix:///var/run/containerd/containerd.sock",
            "imagePullPolicy": "IfNotPresent",
            "imagePullSerial": True,
            "name": "node",
            "taints": None,
        },
        "timeouts": {
            "controlPlaneComponentHealthCheck": "4m0s",
            "discovery": "5m0s",
            "etcdAPICall": "2m0s",
            "kubeletHealthCheck": "4m0s",
            "kubernetesAPICall": "1m0s",
            "tlsBootstrap": "5m0s",
            "upgradeManifests": "5m0s",
        },
    }


def v1beta4_cluster_print_defaults() -> dict:
    """Shape of ``kubeadm config print init-defaults`` (ClusterConfiguration part)."""
    return {
        "apiVersion": V1B4,
        "kind": "ClusterConfiguration",
        "apiServer": {},
        "caCertificateValidityPeriod": "87600h0m0s",
        "certificateValidityPeriod": "8760h0m0s",
        "certificatesDir": "/etc/kubernetes/pki",
        "clusterName": "kubernetes",
        "controllerManager": {},
        "dns": {},
        "encryptionAlgorithm": "RSA-2048",
        "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
        "imageRepository": "registry.k8s.io",
        "kubernetesVersion": "1.31.0",
        "networking": {"dnsDomain": "cluster.local", "serviceSubnet": "10.96.0.0/12"},
        "proxy": {},
        "scheduler": {},
    }


def v1beta4_join_worker() -> dict:
    return {
        "apiVersion": V1B4,
        "kind": "JoinConfiguration",
        "caCertPath": "/etc/kubernetes/pki/ca.crt",
        "discovery": {
            "bootstrapToken": {
                "token": "k8sgen.0123456789abcdef",
                "apiServerEndpoint": "k8s-api.example.internal:6443",
                "caCertHashes": [CA_HASH],
            },
            "tlsBootstrapToken": "k8sgen.0123456789abcdef",
        },
        "nodeRegistration": {
            "name": "worker-1",
            "criSocket": "unix:///var/run/containerd/containerd.sock",
            "imagePullPolicy": "IfNotPresent",
            "imagePullSerial": True,
            "taints": [],
            "kubeletExtraArgs": [{"name": "node-labels", "value": "pool=general"}],
        },
        "timeouts": {"discovery": "5m0s", "tlsBootstrap": "5m0s"},
    }


def v1beta4_join_control_plane() -> dict:
    return {
        "apiVersion": V1B4,
        "kind": "JoinConfiguration",
        "dryRun": False,
        "discovery": {
            "bootstrapToken": {
                "token": "k8sgen.0123456789abcdef",
                "apiServerEndpoint": "10.10.0.10:6443",
                "unsafeSkipCAVerification": True,
            }
        },
        "controlPlane": {
            "localAPIEndpoint": {"advertiseAddress": "10.10.0.12", "bindPort": 6443},
            "certificateKey": CERT_KEY,
        },
        "nodeRegistration": {"name": "cp-2", "taints": None},
        "skipPhases": ["preflight"],
        "patches": {"directory": "/etc/kubernetes/patches"},
    }


def v1beta4_join_file_discovery() -> dict:
    return {
        "apiVersion": V1B4,
        "kind": "JoinConfiguration",
        "discovery": {
            "file": {"kubeConfigPath": "https://example.internal/cluster-info.yaml"},
            "tlsBootstrapToken": "k8sgen.0123456789abcdef",
        },
    }


def v1beta4_reset() -> dict:
    return {
        "apiVersion": V1B4,
        "kind": "ResetConfiguration",
        "cleanupTmpDir": True,
        "certificatesDir": "/etc/kubernetes/pki",
        "criSocket": "unix:///var/run/containerd/containerd.sock",
        "dryRun": False,
        "force": True,
        "ignorePreflightErrors": ["all"],
        "skipPhases": ["cleanup-node"],
        "unmountFlags": ["MNT_FORCE", "MNT_DETACH"],
        "timeouts": {"kubernetesAPICall": "1m0s", "etcdAPICall": "2m0s"},
    }


def v1beta4_upgrade() -> dict:
    return {
        "apiVersion": V1B4,
        "kind": "UpgradeConfiguration",
        "apply": {
            "kubernetesVersion": "v1.32.0",
            "allowExperimentalUpgrades": False,
            "allowRCUpgrades": False,
            "certificateRenewal": True,
            "dryRun": False,
            "etcdUpgrade": True,
            "forceUpgrade": True,
            "ignorePreflightErrors": ["CoreDNSUnsupportedPlugins"],
            "patches": {"directory": "/etc/kubernetes/patches"},
            "printConfig": False,
            "skipPhases": ["addon/kube-proxy"],
            "imagePullPolicy": "IfNotPresent",
            "imagePullSerial": True,
        },
        "diff": {"kubernetesVersion": "v1.32.0", "contextLines": 3},
        "node": {
            "certificateRenewal": True,
            "dryRun": False,
            "etcdUpgrade": True,
            "ignorePreflightErrors": [],
            "skipPhases": ["control-plane"],
            "patches": {"directory": "/etc/kubernetes/patches"},
            "imagePullPolicy": "Always",
            "imagePullSerial": False,
        },
        "plan": {
            "kubernetesVersion": "v1.32.0",
            "allowExperimentalUpgrades": False,
            "allowRCUpgrades": True,
            "dryRun": False,
            "etcdUpgrade": True,
            "ignorePreflightErrors": [],
            "printConfig": True,
        },
        "timeouts": {"upgradeManifests": "10m0s", "controlPlaneComponentHealthCheck": "4m0s"},
    }


# --------------------------------------------------------------------------- component configs
def kubelet_print_defaults() -> dict:
    """Shape of the KubeletConfiguration kubeadm writes (``kubeadm config print ...``)."""
    return {
        "apiVersion": KUBELET,
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"cacheTTL": "0s", "enabled": True},
            "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"},
        },
        "authorization": {
            "mode": "Webhook",
            "webhook": {"cacheAuthorizedTTL": "0s", "cacheUnauthorizedTTL": "0s"},
        },
        "cgroupDriver": "systemd",
        "clusterDNS": ["10.96.0.10"],
        "clusterDomain": "cluster.local",
        "containerRuntimeEndpoint": "",
        "cpuManagerReconcilePeriod": "0s",
        "evictionPressureTransitionPeriod": "0s",
        "fileCheckFrequency": "0s",
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "httpCheckFrequency": "0s",
        "imageMaximumGCAge": "0s",
        "imageMinimumGCAge": "0s",
        "logging": {
            "flushFrequency": 0,
            "options": {"json": {"infoBufferSize": "0"}, "text": {"infoBufferSize": "0"}},
            "verbosity": 0,
        },
        "memorySwap": {},
        "nodeStatusReportFrequency": "0s",
        "nodeStatusUpdateFrequency": "0s",
        "rotateCertificates": True,
        "runtimeRequestTimeout": "0s",
        "shutdownGracePeriod": "0s",
        "shutdownGracePeriodCriticalPods": "0s",
        "staticPodPath": "/etc/kubernetes/manifests",
        "streamingConnectionIdleTimeout": "0s",
        "syncFrequency": "0s",
        "volumeStatsAggPeriod": "0s",
    }


def kubelet_tuned() -> dict:
    return {
        "apiVersion": KUBELET,
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
        "maxPods": 150,
        "podPidsLimit": 4096,
        "serializeImagePulls": False,
        "maxParallelImagePulls": 5,
        "evictionHard": {"memory.available": "200Mi", "nodefs.available": "10%"},
        "evictionSoft": {"memory.available": "500Mi"},
        "evictionSoftGracePeriod": {"memory.available": "1m30s"},
        "systemReserved": {"cpu": "500m", "memory": "1Gi"},
        "kubeReserved": {"cpu": "250m", "memory": "512Mi"},
        "enforceNodeAllocatable": ["pods"],
        "featureGates": {"GracefulNodeShutdown": True},
        "shutdownGracePeriod": "60s",
        "shutdownGracePeriodCriticalPods": "20s",
        "registerWithTaints": [
            {"key": "example.com/initializing", "value": "true", "effect": "NoExecute"}
        ],
        "reservedMemory": [{"numaNode": 0, "limits": {"memory": "1124Mi"}}],
        "tlsCipherSuites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
        "tlsMinVersion": "VersionTLS12",
        "serverTLSBootstrap": True,
        "rotateCertificates": True,
        "readOnlyPort": 0,
        "topologyManagerPolicy": "single-numa-node",
        "topologyManagerScope": "pod",
        "cpuManagerPolicy": "static",
        "memoryManagerPolicy": "Static",
        "containerLogMaxSize": "50Mi",
        "containerLogMaxFiles": 3,
        "imageGCHighThresholdPercent": 85,
        "imageGCLowThresholdPercent": 70,
        "failSwapOn": False,
        "memorySwap": {"swapBehavior": "LimitedSwap"},
        "userNamespaces": {"idsPerPod": 65536},
        "crashLoopBackOff": {"maxContainerRestartPeriod": "60s"},
    }


def kubeproxy_print_defaults() -> dict:
    """Shape of the KubeProxyConfiguration kubeadm writes (non-omitempty fields included)."""
    return {
        "apiVersion": KUBEPROXY,
        "kind": "KubeProxyConfiguration",
        "bindAddress": "0.0.0.0",
        "bindAddressHardFail": False,
        "clientConnection": {
            "acceptContentTypes": "",
            "burst": 0,
            "contentType": "",
            "kubeconfig": "/var/lib/kube-proxy/kubeconfig.conf",
            "qps": 0,
        },
        "clusterCIDR": "10.244.0.0/16",
        "configSyncPeriod": "0s",
        "conntrack": {
            "maxPerCore": None,
            "min": None,
            "tcpBeLiberal": False,
            "tcpCloseWaitTimeout": None,
            "tcpEstablishedTimeout": None,
            "udpStreamTimeout": "0s",
            "udpTimeout": "0s",
        },
        "detectLocal": {"bridgeInterface": "", "interfaceNamePrefix": ""},
        "detectLocalMode": "",
        "enableProfiling": False,
        "healthzBindAddress": "",
        "hostnameOverride": "",
        "iptables": {
            "localhostNodePorts": None,
            "masqueradeAll": False,
            "masqueradeBit": None,
            "minSyncPeriod": "0s",
            "syncPeriod": "0s",
        },
        "ipvs": {
            "excludeCIDRs": None,
            "minSyncPeriod": "0s",
            "scheduler": "",
            "strictARP": False,
            "syncPeriod": "0s",
            "tcpFinTimeout": "0s",
            "tcpTimeout": "0s",
            "udpTimeout": "0s",
        },
        "logging": {
            "flushFrequency": 0,
            "options": {"json": {"infoBufferSize": "0"}, "text": {"infoBufferSize": "0"}},
            "verbosity": 0,
        },
        "metricsBindAddress": "",
        "mode": "",
        "nftables": {
            "masqueradeAll": False,
            "masqueradeBit": None,
            "minSyncPeriod": "0s",
            "syncPeriod": "0s",
        },
        "nodePortAddresses": None,
        "oomScoreAdj": None,
        "portRange": "",
        "showHiddenMetricsForVersion": "",
        "winkernel": {
            "enableDSR": False,
            "forwardHealthCheckVip": False,
            "networkName": "",
            "rootHnsEndpointName": "",
            "sourceVip": "",
        },
    }


def kubeproxy_ipvs() -> dict:
    return {
        "apiVersion": KUBEPROXY,
        "kind": "KubeProxyConfiguration",
        "mode": "ipvs",
        "clusterCIDR": "10.244.0.0/16,fd00:10:244::/56",
        "metricsBindAddress": "0.0.0.0:10249",
        "featureGates": {"NFTablesProxyMode": True},
        "ipvs": {
            "scheduler": "rr",
            "strictARP": True,
            "syncPeriod": "30s",
            "excludeCIDRs": ["10.0.0.0/24"],
        },
        "conntrack": {"maxPerCore": 32768, "min": 131072, "tcpEstablishedTimeout": "24h0m0s"},
        "nodePortAddresses": ["primary"],
        "oomScoreAdj": -999,
        "serviceProxyName": "",
        "detectLocalMode": "InterfaceNamePrefix",
        "detectLocal": {"interfaceNamePrefix": "veth"},
    }


ACCEPTED = {
    "v1beta3-init": v1beta3_init,
    "v1beta3-cluster": v1beta3_cluster,
    "v1beta3-cluster-external-etcd": v1beta3_cluster_external_etcd,
    "v1beta3-join-worker": v1beta3_join_worker,
    "v1beta3-join-control-plane": v1beta3_join_control_plane,
    "v1beta4-init": v1beta4_init,
    "v1beta4-cluster": v1beta4_cluster,
    "v1beta4-cluster-external-etcd": v1beta4_cluster_external_etcd,
    "v1beta4-init-print-defaults": v1beta4_init_print_defaults,
    "v1beta4-cluster-print-defaults": v1beta4_cluster_print_defaults,
    "v1beta4-join-worker": v1beta4_join_worker,
    "v1beta4-join-control-plane": v1beta4_join_control_plane,
    "v1beta4-join-file-discovery": v1beta4_join_file_discovery,
    "v1beta4-reset": v1beta4_reset,
    "v1beta4-upgrade": v1beta4_upgrade,
    "kubelet-print-defaults": kubelet_print_defaults,
    "kubelet-tuned": kubelet_tuned,
    "kubeproxy-print-defaults": kubeproxy_print_defaults,
    "kubeproxy-ipvs": kubeproxy_ipvs,
}


# =========================================================================== schema files
@pytest.mark.parametrize("file_name", sorted(SCHEMA_FILES.values()))
def test_schema_file_is_valid_2020_12_and_documents_its_source(file_name):
    schema = _load_schema(file_name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    description = schema["description"]
    assert "types.go" in description
    assert re.search(r"\b[0-9a-f]{40}\b", description), "description must name the commit read"
    assert "/work/" not in description and "file://" not in description


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))


def _is_struct(path, node) -> bool:
    """A schema describing a Go struct: ``type: object`` with listed properties.

    Constraint-only sub-schemas (``if`` conditions, ``anyOf``/``oneOf`` branches) carry
    no ``type`` and are skipped; so is the kubeadm root, which only dispatches on ``kind``
    to per-kind ``$defs`` that are themselves closed (checked by the field-set tests).
    """
    if node.get("type") != "object" or not isinstance(node.get("properties"), dict):
        return False
    return not (path == () and "allOf" in node)


@pytest.mark.parametrize("file_name", sorted(SCHEMA_FILES.values()))
def test_every_struct_schema_is_closed(file_name):
    """Each schema that lists Go struct fields must reject unknown ones."""
    schema = _load_schema(file_name)
    open_structs = [
        "/".join(map(str, path))
        for path, node in _walk(schema)
        if _is_struct(path, node) and node.get("additionalProperties") is not False
    ]
    assert not open_structs, f"struct schemas without additionalProperties: false: {open_structs}"


@pytest.mark.parametrize("file_name", sorted(SCHEMA_FILES.values()))
def test_every_property_has_a_description(file_name):
    schema = _load_schema(file_name)
    missing = [
        "/".join(map(str, path)) + "/" + name
        for path, node in _walk(schema)
        if _is_struct(path, node)
        for name, prop in node["properties"].items()
        if isinstance(prop, dict) and not prop.get("description")
    ]
    assert not missing, f"properties without description: {missing}"


EXPECTED_KIND_FIELDS = {
    (V1B3, "InitConfiguration"): {
        "apiVersion",
        "kind",
        "bootstrapTokens",
        "nodeRegistration",
        "localAPIEndpoint",
        "certificateKey",
        "skipPhases",
        "patches",
    },
    (V1B3, "ClusterConfiguration"): {
        "apiVersion",
        "kind",
        "etcd",
        "networking",
        "kubernetesVersion",
        "controlPlaneEndpoint",
        "apiServer",
        "controllerManager",
        "scheduler",
        "dns",
        "certificatesDir",
        "imageRepository",
        "featureGates",
        "clusterName",
    },
    (V1B3, "JoinConfiguration"): {
        "apiVersion",
        "kind",
        "nodeRegistration",
        "caCertPath",
        "discovery",
        "controlPlane",
        "skipPhases",
        "patches",
    },
    (V1B4, "InitConfiguration"): {
        "apiVersion",
        "kind",
        "bootstrapTokens",
        "dryRun",
        "nodeRegistration",
        "localAPIEndpoint",
        "certificateKey",
        "skipPhases",
        "patches",
        "timeouts",
    },
    (V1B4, "ClusterConfiguration"): {
        "apiVersion",
        "kind",
        "etcd",
        "networking",
        "kubernetesVersion",
        "controlPlaneEndpoint",
        "apiServer",
        "controllerManager",
        "scheduler",
        "dns",
        "proxy",
        "certificatesDir",
        "imageRepository",
        "featureGates",
        "clusterName",
        "encryptionAlgorithm",
        "certificateValidityPeriod",
        "caCertificateValidityPeriod",
    },
    (V1B4, "JoinConfiguration"): {
        "apiVersion",
        "kind",
        "dryRun",
        "nodeRegistration",
        "caCertPath",
        "discovery",
        "controlPlane",
        "skipPhases",
        "patches",
        "timeouts",
    },
    (V1B4, "ResetConfiguration"): {
        "apiVersion",
        "kind",
        "cleanupTmpDir",
        "certificatesDir",
        "criSocket",
        "dryRun",
        "force",
        "ignorePreflightErrors",
        "skipPhases",
        "unmountFlags",
        "timeouts",
    },
    (V1B4, "UpgradeConfiguration"): {
        "apiVersion",
        "kind",
        "apply",
        "diff",
        "node",
        "plan",
        "timeouts",
    },
}


@pytest.mark.parametrize("api_version,kind", sorted(EXPECTED_KIND_FIELDS))
def test_kubeadm_kind_field_sets_match_go_types(api_version, kind):
    schema = _load_schema(SCHEMA_FILES[api_version])
    assert kind in schema["properties"]["kind"]["enum"]
    definition = schema["$defs"][kind]
    assert set(definition["properties"]) == EXPECTED_KIND_FIELDS[(api_version, kind)]
    assert definition["additionalProperties"] is False


def test_kubeadm_kinds_per_version():
    assert _load_schema(SCHEMA_FILES[V1B3])["properties"]["kind"]["enum"] == [
        "InitConfiguration",
        "ClusterConfiguration",
        "JoinConfiguration",
    ]
    assert _load_schema(SCHEMA_FILES[V1B4])["properties"]["kind"]["enum"] == [
        "InitConfiguration",
        "ClusterConfiguration",
        "JoinConfiguration",
        "ResetConfiguration",
        "UpgradeConfiguration",
    ]


EXPECTED_KUBEPROXY_FIELDS = {
    "apiVersion",
    "kind",
    "featureGates",
    "clientConnection",
    "logging",
    "hostnameOverride",
    "bindAddress",
    "healthzBindAddress",
    "metricsBindAddress",
    "bindAddressHardFail",
    "enableProfiling",
    "showHiddenMetricsForVersion",
    "serviceProxyName",
    "mode",
    "iptables",
    "ipvs",
    "nftables",
    "winkernel",
    "detectLocalMode",
    "detectLocal",
    "clusterCIDR",
    "nodePortAddresses",
    "oomScoreAdj",
    "conntrack",
    "configSyncPeriod",
    "portRange",
}

EXPECTED_KUBELET_FIELDS = {
    "apiVersion",
    "kind",
    "enableServer",
    "staticPodPath",
    "podLogsDir",
    "syncFrequency",
    "fileCheckFrequency",
    "httpCheckFrequency",
    "staticPodURL",
    "staticPodURLHeader",
    "address",
    "port",
    "readOnlyPort",
    "tlsCertFile",
    "tlsPrivateKeyFile",
    "tlsCipherSuites",
    "tlsCurvePreferences",
    "tlsMinVersion",
    "rotateCertificates",
    "serverTLSBootstrap",
    "authentication",
    "authorization",
    "registryPullQPS",
    "registryBurst",
    "imagePullCredentialsVerificationPolicy",
    "preloadedImagesVerificationAllowlist",
    "eventRecordQPS",
    "eventBurst",
    "enableDebuggingHandlers",
    "enableContentionProfiling",
    "healthzPort",
    "healthzBindAddress",
    "oomScoreAdj",
    "clusterDomain",
    "clusterDNS",
    "streamingConnectionIdleTimeout",
    "nodeStatusUpdateFrequency",
    "nodeStatusReportFrequency",
    "nodeLeaseDurationSeconds",
    "imageMinimumGCAge",
    "imageMaximumGCAge",
    "imageGCHighThresholdPercent",
    "imageGCLowThresholdPercent",
    "volumeStatsAggPeriod",
    "kubeletCgroups",
    "systemCgroups",
    "cgroupRoot",
    "cgroupsPerQOS",
    "cgroupDriver",
    "cpuManagerPolicy",
    "singleProcessOOMKill",
    "cpuManagerPolicyOptions",
    "cpuManagerReconcilePeriod",
    "memoryManagerPolicy",
    "topologyManagerPolicy",
    "topologyManagerScope",
    "topologyManagerPolicyOptions",
    "qosReserved",
    "runtimeRequestTimeout",
    "hairpinMode",
    "maxPods",
    "podCIDR",
    "podPidsLimit",
    "resolvConf",
    "runOnce",
    "cpuCFSQuota",
    "cpuCFSQuotaPeriod",
    "nodeStatusMaxImages",
    "maxOpenFiles",
    "contentType",
    "kubeAPIQPS",
    "kubeAPIBurst",
    "serializeImagePulls",
    "maxParallelImagePulls",
    "evictionHard",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "evictionPressureTransitionPeriod",
    "evictionMaxPodGracePeriod",
    "evictionMinimumReclaim",
    "mergeDefaultEvictionSettings",
    "podsPerCore",
    "enableControllerAttachDetach",
    "protectKernelDefaults",
    "makeIPTablesUtilChains",
    "iptablesMasqueradeBit",
    "iptablesDropBit",
    "featureGates",
    "failSwapOn",
    "memorySwap",
    "containerLogMaxSize",
    "containerLogMaxFiles",
    "containerLogMaxWorkers",
    "containerLogMonitorInterval",
    "configMapAndSecretChangeDetectionStrategy",
    "systemReserved",
    "kubeReserved",
    "reservedSystemCPUs",
    "showHiddenMetricsForVersion",
    "systemReservedCgroup",
    "kubeReservedCgroup",
    "enforceNodeAllocatable",
    "allowedUnsafeSysctls",
    "volumePluginDir",
    "providerID",
    "kernelMemcgNotification",
    "logging",
    "enableSystemLogHandler",
    "enableSystemLogQuery",
    "shutdownGracePeriod",
    "shutdownGracePeriodCriticalPods",
    "shutdownGracePeriodByPodPriority",
    "crashLoopBackOff",
    "reservedMemory",
    "enableProfilingHandler",
    "enableDebugFlagsHandler",
    "seccompDefault",
    "memoryThrottlingFactor",
    "memoryReservationPolicy",
    "registerWithTaints",
    "registerNode",
    "tracing",
    "localStorageCapacityIsolation",
    "containerRuntimeEndpoint",
    "imageServiceEndpoint",
    "failCgroupV1",
    "userNamespaces",
    "systemPartition",
}


@pytest.mark.parametrize(
    "api_version,expected",
    [(KUBELET, EXPECTED_KUBELET_FIELDS), (KUBEPROXY, EXPECTED_KUBEPROXY_FIELDS)],
    ids=["kubelet", "kube-proxy"],
)
def test_component_config_top_level_is_complete_and_strict(api_version, expected):
    schema = _load_schema(SCHEMA_FILES[api_version])
    assert set(schema["properties"]) == expected
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"apiVersion", "kind"}


# =========================================================================== accepted documents
@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_realistic_document_is_accepted(validators, name):
    assert_valid(validators, ACCEPTED[name]())


def test_yaml_streams_round_trip(validators):
    """Documents survive a YAML dump/load (what kubeadm actually reads) and still validate."""
    streams = {
        V1B3: [
            v1beta3_init(),
            v1beta3_cluster(),
            kubelet_print_defaults(),
            kubeproxy_print_defaults(),
        ],
        V1B4: [v1beta4_init(), v1beta4_cluster(), kubelet_tuned(), kubeproxy_ipvs()],
    }
    for docs in streams.values():
        text = yaml.safe_dump_all(docs, sort_keys=False)
        loaded = list(yaml.safe_load_all(text))
        assert loaded == docs
        for doc in loaded:
            assert_valid(validators, doc)


def test_hand_written_yaml_v1beta4_join_is_accepted(validators):
    text = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: 10.10.0.10:6443
    token: k8sgen.0123456789abcdef
    caCertHashes:
    - sha256:7c2ab1c6f4e3d2b1a0f9e8d7c6b5a4938271605f4e3d2c1b0a9f8e7d6c5b4a39
nodeRegistration:
  kubeletExtraArgs:
  - name: node-ip
    value: 10.10.0.31
  taints: null
timeouts:
  tlsBootstrap: 5m
"""
    assert_valid(validators, yaml.safe_load(text))


def test_unquoted_yaml_int_in_v1beta3_extra_args_is_rejected(validators):
    """kubeadm decodes YAML via JSON, so `v: 4` is a number and fails map[string]string."""
    doc = yaml.safe_load(
        "apiVersion: kubeadm.k8s.io/v1beta3\n"
        "kind: InitConfiguration\n"
        "nodeRegistration:\n"
        "  kubeletExtraArgs:\n"
        "    v: 4\n"
    )
    errors = _errors(validators, doc)
    assert [(list(e.absolute_path), e.validator) for e in errors] == [
        (["nodeRegistration", "kubeletExtraArgs", "v"], "type")
    ]


# =========================================================================== rejected: v1beta3
V1B3_REJECTIONS = [
    # misspelled fields, top level and nested
    (
        "top-level-misspelling",
        v1beta3_cluster,
        lambda d: _rename(d, ["kubernetesVersion"], "kubernetesVerison"),
        [],
        "additionalProperties",
        "kubernetesVerison",
    ),
    (
        "nodeRegistration.kubeletExtraArg",
        v1beta3_init,
        lambda d: _rename(d, ["nodeRegistration", "kubeletExtraArgs"], "kubeletExtraArg"),
        ["nodeRegistration"],
        "additionalProperties",
        "kubeletExtraArg",
    ),
    (
        "discovery.bootstrapToken.caCertHash",
        v1beta3_join_worker,
        lambda d: _rename(d, ["discovery", "bootstrapToken", "caCertHashes"], "caCertHash"),
        ["discovery", "bootstrapToken"],
        "additionalProperties",
        "caCertHash",
    ),
    (
        "etcd.local.dataDirectory",
        v1beta3_cluster,
        lambda d: _rename(d, ["etcd", "local", "dataDir"], "dataDirectory"),
        ["etcd", "local"],
        "additionalProperties",
        "dataDirectory",
    ),
    (
        "apiServer.extraVolumes[0].hostpath",
        v1beta3_cluster,
        lambda d: _rename(d, ["apiServer", "extraVolumes", 0, "hostPath"], "hostpath"),
        ["apiServer", "extraVolumes", 0],
        "additionalProperties",
        "hostpath",
    ),
    (
        "bootstrapTokens[0].TTL",
        v1beta3_init,
        lambda d: _rename(d, ["bootstrapTokens", 0, "ttl"], "TTL"),
        ["bootstrapTokens", 0],
        "additionalProperties",
        "TTL",
    ),
    (
        "taint.Effect",
        v1beta3_init,
        lambda d: _rename(d, ["nodeRegistration", "taints", 0, "effect"], "Effect"),
        ["nodeRegistration", "taints", 0],
        "additionalProperties",
        "Effect",
    ),
    # v1beta4-only fields used in v1beta3
    (
        "timeouts-in-init",
        v1beta3_init,
        lambda d: _set(d, ["timeouts"], {"kubeletHealthCheck": "4m0s"}),
        [],
        "additionalProperties",
        "timeouts",
    ),
    (
        "timeouts-in-join",
        v1beta3_join_worker,
        lambda d: _set(d, ["timeouts"], {"discovery": "5m0s"}),
        [],
        "additionalProperties",
        "timeouts",
    ),
    (
        "dryRun-in-init",
        v1beta3_init,
        lambda d: _set(d, ["dryRun"], True),
        [],
        "additionalProperties",
        "dryRun",
    ),
    (
        "encryptionAlgorithm",
        v1beta3_cluster,
        lambda d: _set(d, ["encryptionAlgorithm"], "RSA-2048"),
        [],
        "additionalProperties",
        "encryptionAlgorithm",
    ),
    (
        "proxy-addon",
        v1beta3_cluster,
        lambda d: _set(d, ["proxy"], {"disabled": True}),
        [],
        "additionalProperties",
        "proxy",
    ),
    (
        "dns.disabled",
        v1beta3_cluster,
        lambda d: _set(d, ["dns", "disabled"], True),
        ["dns"],
        "additionalProperties",
        "disabled",
    ),
    (
        "imagePullSerial",
        v1beta3_init,
        lambda d: _set(d, ["nodeRegistration", "imagePullSerial"], True),
        ["nodeRegistration"],
        "additionalProperties",
        "imagePullSerial",
    ),
    (
        "extraEnvs",
        v1beta3_cluster,
        lambda d: _set(d, ["apiServer", "extraEnvs"], []),
        ["apiServer"],
        "additionalProperties",
        "extraEnvs",
    ),
    (
        "v1beta4-list-extraArgs",
        v1beta3_cluster,
        lambda d: _set(
            d, ["apiServer", "extraArgs"], [{"name": "authorization-mode", "value": "Node,RBAC"}]
        ),
        ["apiServer", "extraArgs"],
        "type",
        "object",
    ),
    # wrong types
    (
        "bindPort-string",
        v1beta3_init,
        lambda d: _set(d, ["localAPIEndpoint", "bindPort"], "6443"),
        ["localAPIEndpoint", "bindPort"],
        "type",
        "integer",
    ),
    (
        "extraArgs-int-value",
        v1beta3_cluster,
        lambda d: _set(d, ["controllerManager", "extraArgs", "node-cidr-mask-size"], 24),
        ["controllerManager", "extraArgs", "node-cidr-mask-size"],
        "type",
        "string",
    ),
    (
        "skipPhases-string",
        v1beta3_init,
        lambda d: _set(d, ["skipPhases"], "addon/kube-proxy"),
        ["skipPhases"],
        "type",
        "array",
    ),
    (
        "featureGates-string-value",
        v1beta3_cluster,
        lambda d: _set(d, ["featureGates", "EtcdLearnerMode"], "true"),
        ["featureGates", "EtcdLearnerMode"],
        "type",
        "boolean",
    ),
    (
        "timeoutForControlPlane-int",
        v1beta3_cluster,
        lambda d: _set(d, ["apiServer", "timeoutForControlPlane"], 240),
        ["apiServer", "timeoutForControlPlane"],
        "type",
        "string",
    ),
    # bad values
    (
        "duration-text",
        v1beta3_cluster,
        lambda d: _set(d, ["apiServer", "timeoutForControlPlane"], "4 minutes"),
        ["apiServer", "timeoutForControlPlane"],
        "pattern",
        "",
    ),
    (
        "token-format",
        v1beta3_init,
        lambda d: _set(d, ["bootstrapTokens", 0, "token"], "abc.def"),
        ["bootstrapTokens", 0, "token"],
        "pattern",
        "",
    ),
    (
        "token-usage",
        v1beta3_init,
        lambda d: _set(d, ["bootstrapTokens", 1, "usages"], ["signing", "login"]),
        ["bootstrapTokens", 1, "usages", 1],
        "enum",
        "",
    ),
    (
        "token-group",
        v1beta3_init,
        lambda d: _set(d, ["bootstrapTokens", 1, "groups"], ["system:nodes"]),
        ["bootstrapTokens", 1, "groups", 0],
        "pattern",
        "",
    ),
    (
        "ttl-and-expires",
        v1beta3_init,
        lambda d: _set(d, ["bootstrapTokens", 0, "expires"], "2030-01-01T00:00:00Z"),
        ["bootstrapTokens", 0],
        "not",
        "",
    ),
    (
        "taint-effect",
        v1beta3_init,
        lambda d: _set(d, ["nodeRegistration", "taints", 0, "effect"], "NoScheduled"),
        ["nodeRegistration", "taints", 0, "effect"],
        "enum",
        "",
    ),
    (
        "imagePullPolicy",
        v1beta3_init,
        lambda d: _set(d, ["nodeRegistration", "imagePullPolicy"], "always"),
        ["nodeRegistration", "imagePullPolicy"],
        "enum",
        "",
    ),
    (
        "pathType",
        v1beta3_cluster,
        lambda d: _set(d, ["apiServer", "extraVolumes", 0, "pathType"], "Dir"),
        ["apiServer", "extraVolumes", 0, "pathType"],
        "enum",
        "",
    ),
    (
        "caCertHash-format",
        v1beta3_join_worker,
        lambda d: _set(d, ["discovery", "bootstrapToken", "caCertHashes"], ["md5:abcd"]),
        ["discovery", "bootstrapToken", "caCertHashes", 0],
        "pattern",
        "",
    ),
    (
        "certificateKey-format",
        v1beta3_init,
        lambda d: _set(d, ["certificateKey"], "not-hex"),
        ["certificateKey"],
        "pattern",
        "",
    ),
    # kubeadm validation rules
    (
        "join-without-discovery",
        v1beta3_join_worker,
        lambda d: _delete(d, ["discovery"]),
        [],
        "required",
        "discovery",
    ),
    (
        "discovery-token-and-file",
        v1beta3_join_worker,
        lambda d: _set(
            d, ["discovery", "file"], {"kubeConfigPath": "/etc/kubernetes/discovery.conf"}
        ),
        ["discovery"],
        "oneOf",
        "",
    ),
    (
        "discovery-neither",
        v1beta3_join_worker,
        lambda d: _delete(d, ["discovery", "bootstrapToken"]),
        ["discovery"],
        "oneOf",
        "",
    ),
    (
        "discovery-without-apiServerEndpoint",
        v1beta3_join_worker,
        lambda d: _delete(d, ["discovery", "bootstrapToken", "apiServerEndpoint"]),
        ["discovery", "bootstrapToken"],
        "required",
        "apiServerEndpoint",
    ),
    (
        "discovery-without-ca-pinning",
        v1beta3_join_worker,
        lambda d: _delete(d, ["discovery", "bootstrapToken", "caCertHashes"]),
        ["discovery", "bootstrapToken"],
        "anyOf",
        "",
    ),
    (
        "etcd-local-and-external",
        v1beta3_cluster,
        lambda d: _set(d, ["etcd", "external"], {"endpoints": ["https://10.10.0.21:2379"]}),
        ["etcd"],
        "not",
        "",
    ),
    (
        "external-etcd-without-endpoints",
        v1beta3_cluster_external_etcd,
        lambda d: _delete(d, ["etcd", "external", "endpoints"]),
        ["etcd", "external"],
        "required",
        "endpoints",
    ),
    (
        "volume-without-mountPath",
        v1beta3_cluster,
        lambda d: _delete(d, ["apiServer", "extraVolumes", 0, "mountPath"]),
        ["apiServer", "extraVolumes", 0],
        "required",
        "mountPath",
    ),
    # document identity
    (
        "kind-ResetConfiguration",
        v1beta3_init,
        lambda d: _set(d, ["kind"], "ResetConfiguration"),
        ["kind"],
        "enum",
        "",
    ),
    ("kind-missing", v1beta3_init, lambda d: _delete(d, ["kind"]), [], "required", "kind"),
    (
        "apiVersion-v1beta4",
        v1beta3_cluster,
        lambda d: _set(d, ["apiVersion"], V1B4),
        ["apiVersion"],
        "const",
        "",
    ),
]


@pytest.mark.parametrize(
    "base,mutate,path,keyword,needle",
    [case[1:] for case in V1B3_REJECTIONS],
    ids=[case[0] for case in V1B3_REJECTIONS],
)
def test_v1beta3_rejects(validators, base, mutate, path, keyword, needle):
    assert_rejected(validators, base(), mutate, path, keyword, needle, api_version=V1B3)


# =========================================================================== rejected: v1beta4
V1B4_REJECTIONS = [
    # misspelled fields, top level and nested
    (
        "top-level-misspelling",
        v1beta4_init,
        lambda d: _rename(d, ["bootstrapTokens"], "bootstrapToken"),
        [],
        "additionalProperties",
        "bootstrapToken",
    ),
    (
        "nodeRegistration.kubeletExtraArg",
        v1beta4_init,
        lambda d: _rename(d, ["nodeRegistration", "kubeletExtraArgs"], "kubeletExtraArg"),
        ["nodeRegistration"],
        "additionalProperties",
        "kubeletExtraArg",
    ),
    (
        "discovery.bootstrapToken.caCertHash",
        v1beta4_join_worker,
        lambda d: _rename(d, ["discovery", "bootstrapToken", "caCertHashes"], "caCertHash"),
        ["discovery", "bootstrapToken"],
        "additionalProperties",
        "caCertHash",
    ),
    (
        "timeouts.kubeletHealthcheck",
        v1beta4_init,
        lambda d: _rename(d, ["timeouts", "kubeletHealthCheck"], "kubeletHealthcheck"),
        ["timeouts"],
        "additionalProperties",
        "kubeletHealthcheck",
    ),
    (
        "extraArgs[0].val",
        v1beta4_cluster,
        lambda d: _rename(d, ["apiServer", "extraArgs", 0, "value"], "val"),
        ["apiServer", "extraArgs", 0],
        "additionalProperties",
        "val",
    ),
    (
        "extraEnvs[0].Value",
        v1beta4_cluster,
        lambda d: _rename(d, ["apiServer", "extraEnvs", 0, "value"], "Value"),
        ["apiServer", "extraEnvs", 0],
        "additionalProperties",
        "Value",
    ),
    (
        "upgrade.apply.forceUpgrades",
        v1beta4_upgrade,
        lambda d: _rename(d, ["apply", "forceUpgrade"], "forceUpgrades"),
        ["apply"],
        "additionalProperties",
        "forceUpgrades",
    ),
    (
        "upgrade.diff.diffContextLines",
        v1beta4_upgrade,
        lambda d: _rename(d, ["diff", "contextLines"], "diffContextLines"),
        ["diff"],
        "additionalProperties",
        "diffContextLines",
    ),
    (
        "reset.cleanupTmpdir",
        v1beta4_reset,
        lambda d: _rename(d, ["cleanupTmpDir"], "cleanupTmpdir"),
        [],
        "additionalProperties",
        "cleanupTmpdir",
    ),
    (
        "etcd.external.httpEndpoint",
        v1beta4_cluster_external_etcd,
        lambda d: _rename(d, ["etcd", "external", "httpEndpoints"], "httpEndpoint"),
        ["etcd", "external"],
        "additionalProperties",
        "httpEndpoint",
    ),
    # v1beta3-style content in v1beta4
    (
        "v1beta3-map-extraArgs",
        v1beta4_cluster,
        lambda d: _set(d, ["apiServer", "extraArgs"], {"authorization-mode": "Node,RBAC"}),
        ["apiServer", "extraArgs"],
        "type",
        "array",
    ),
    (
        "v1beta3-map-kubeletExtraArgs",
        v1beta4_init,
        lambda d: _set(d, ["nodeRegistration", "kubeletExtraArgs"], {"v": "4"}),
        ["nodeRegistration", "kubeletExtraArgs"],
        "type",
        "array",
    ),
    (
        "v1beta3-map-etcd-extraArgs",
        v1beta4_cluster,
        lambda d: _set(
            d, ["etcd", "local", "extraArgs"], {"listen-metrics-urls": "http://0.0.0.0:2381"}
        ),
        ["etcd", "local", "extraArgs"],
        "type",
        "array",
    ),
    (
        "v1beta3-timeoutForControlPlane",
        v1beta4_cluster,
        lambda d: _set(d, ["apiServer", "timeoutForControlPlane"], "4m0s"),
        ["apiServer"],
        "additionalProperties",
        "timeoutForControlPlane",
    ),
    (
        "v1beta3-discovery.timeout",
        v1beta4_join_worker,
        lambda d: _set(d, ["discovery", "timeout"], "5m0s"),
        ["discovery"],
        "additionalProperties",
        "timeout",
    ),
    # wrong types
    (
        "dryRun-string",
        v1beta4_init,
        lambda d: _set(d, ["dryRun"], "true"),
        ["dryRun"],
        "type",
        "boolean",
    ),
    (
        "certificateValidityPeriod-int",
        v1beta4_cluster,
        lambda d: _set(d, ["certificateValidityPeriod"], 8760),
        ["certificateValidityPeriod"],
        "type",
        "string",
    ),
    (
        "imagePullSerial-string",
        v1beta4_join_worker,
        lambda d: _set(d, ["nodeRegistration", "imagePullSerial"], "yes"),
        ["nodeRegistration", "imagePullSerial"],
        "type",
        "boolean",
    ),
    (
        "arg-value-int",
        v1beta4_init,
        lambda d: _set(d, ["nodeRegistration", "kubeletExtraArgs", 0, "value"], 5),
        ["nodeRegistration", "kubeletExtraArgs", 0, "value"],
        "type",
        "string",
    ),
    (
        "contextLines-string",
        v1beta4_upgrade,
        lambda d: _set(d, ["diff", "contextLines"], "3"),
        ["diff", "contextLines"],
        "type",
        "integer",
    ),
    (
        "bindPort-string",
        v1beta4_join_control_plane,
        lambda d: _set(d, ["controlPlane", "localAPIEndpoint", "bindPort"], "6443"),
        ["controlPlane", "localAPIEndpoint", "bindPort"],
        "type",
        "integer",
    ),
    # bad values
    (
        "encryptionAlgorithm",
        v1beta4_cluster,
        lambda d: _set(d, ["encryptionAlgorithm"], "ECDSA-P521"),
        ["encryptionAlgorithm"],
        "enum",
        "",
    ),
    (
        "timeouts-duration",
        v1beta4_init,
        lambda d: _set(d, ["timeouts", "discovery"], "five minutes"),
        ["timeouts", "discovery"],
        "pattern",
        "",
    ),
    (
        "unmountFlags",
        v1beta4_reset,
        lambda d: _set(d, ["unmountFlags"], ["MNT_LAZY"]),
        ["unmountFlags", 0],
        "enum",
        "",
    ),
    (
        "upgrade.node.imagePullPolicy",
        v1beta4_upgrade,
        lambda d: _set(d, ["node", "imagePullPolicy"], "Sometimes"),
        ["node", "imagePullPolicy"],
        "enum",
        "",
    ),
    (
        "arg-without-value",
        v1beta4_cluster,
        lambda d: _delete(d, ["scheduler", "extraArgs", 0, "value"]),
        ["scheduler", "extraArgs", 0],
        "required",
        "value",
    ),
    (
        "envvar-without-name",
        v1beta4_cluster,
        lambda d: _delete(d, ["etcd", "local", "extraEnvs", 0, "name"]),
        ["etcd", "local", "extraEnvs", 0],
        "required",
        "name",
    ),
    (
        "taint-without-effect",
        v1beta4_init,
        lambda d: _delete(d, ["nodeRegistration", "taints", 1, "effect"]),
        ["nodeRegistration", "taints", 1],
        "required",
        "effect",
    ),
    # kubeadm validation rules
    (
        "join-without-discovery",
        v1beta4_join_worker,
        lambda d: _delete(d, ["discovery"]),
        [],
        "required",
        "discovery",
    ),
    (
        "discovery-token-and-file",
        v1beta4_join_worker,
        lambda d: _set(
            d, ["discovery", "file"], {"kubeConfigPath": "/etc/kubernetes/discovery.conf"}
        ),
        ["discovery"],
        "oneOf",
        "",
    ),
    (
        "file-discovery-without-path",
        v1beta4_join_file_discovery,
        lambda d: _set(d, ["discovery", "file"], {}),
        ["discovery", "file"],
        "required",
        "kubeConfigPath",
    ),
    (
        "unsafeSkipCAVerification-false",
        v1beta4_join_control_plane,
        lambda d: _set(d, ["discovery", "bootstrapToken", "unsafeSkipCAVerification"], False),
        ["discovery", "bootstrapToken"],
        "anyOf",
        "",
    ),
    # document identity
    (
        "kind-unknown",
        v1beta4_reset,
        lambda d: _set(d, ["kind"], "ResetConfig"),
        ["kind"],
        "enum",
        "",
    ),
    (
        "apiVersion-v1beta3",
        v1beta4_upgrade,
        lambda d: _set(d, ["apiVersion"], V1B3),
        ["apiVersion"],
        "const",
        "",
    ),
]


@pytest.mark.parametrize(
    "base,mutate,path,keyword,needle",
    [case[1:] for case in V1B4_REJECTIONS],
    ids=[case[0] for case in V1B4_REJECTIONS],
)
def test_v1beta4_rejects(validators, base, mutate, path, keyword, needle):
    assert_rejected(validators, base(), mutate, path, keyword, needle, api_version=V1B4)


def test_v1beta4_reset_and_upgrade_are_not_v1beta3_kinds(validators):
    for doc in (v1beta4_reset(), v1beta4_upgrade()):
        doc["apiVersion"] = V1B3
        errors = _errors(validators, doc)
        assert [(list(e.absolute_path), e.validator) for e in errors] == [(["kind"], "enum")]


# =========================================================================== rejected: components
COMPONENT_REJECTIONS = [
    (
        "kubelet-top-level-misspelling",
        kubelet_tuned,
        lambda d: _rename(d, ["cgroupDriver"], "cgroupsDriver"),
        [],
        "additionalProperties",
        "cgroupsDriver",
    ),
    (
        "kubelet-nested-misspelling",
        kubelet_print_defaults,
        lambda d: _rename(d, ["authentication", "webhook", "cacheTTL"], "cacheTtl"),
        ["authentication", "webhook"],
        "additionalProperties",
        "cacheTtl",
    ),
    (
        "kubelet-maxPods-string",
        kubelet_tuned,
        lambda d: _set(d, ["maxPods"], "150"),
        ["maxPods"],
        "type",
        "integer",
    ),
    (
        "kubelet-cgroupDriver-enum",
        kubelet_tuned,
        lambda d: _set(d, ["cgroupDriver"], "system"),
        ["cgroupDriver"],
        "enum",
        "",
    ),
    (
        "kubelet-duration",
        kubelet_tuned,
        lambda d: _set(d, ["shutdownGracePeriod"], "60 seconds"),
        ["shutdownGracePeriod"],
        "pattern",
        "",
    ),
    (
        "kubelet-systemReserved-int",
        kubelet_tuned,
        lambda d: _set(d, ["systemReserved", "cpu"], 1),
        ["systemReserved", "cpu"],
        "type",
        "string",
    ),
    (
        "kubelet-authorization-mode",
        kubelet_print_defaults,
        lambda d: _set(d, ["authorization", "mode"], "RBAC"),
        ["authorization", "mode"],
        "enum",
        "",
    ),
    (
        "kubelet-kubeadm-field",
        kubelet_tuned,
        lambda d: _set(d, ["nodeRegistration"], {}),
        [],
        "additionalProperties",
        "nodeRegistration",
    ),
    (
        "kubeproxy-top-level-misspelling",
        kubeproxy_ipvs,
        lambda d: _rename(d, ["clusterCIDR"], "clusterCidr"),
        [],
        "additionalProperties",
        "clusterCidr",
    ),
    (
        "kubeproxy-nested-misspelling",
        kubeproxy_ipvs,
        lambda d: _rename(d, ["ipvs", "strictARP"], "strictArp"),
        ["ipvs"],
        "additionalProperties",
        "strictArp",
    ),
    (
        "kubeproxy-mode-enum",
        kubeproxy_ipvs,
        lambda d: _set(d, ["mode"], "userspace"),
        ["mode"],
        "enum",
        "",
    ),
    (
        "kubeproxy-conntrack-type",
        kubeproxy_ipvs,
        lambda d: _set(d, ["conntrack", "maxPerCore"], "0"),
        ["conntrack", "maxPerCore"],
        "anyOf",
        "",
    ),
    (
        "kubeproxy-clientConnection-misspelling",
        kubeproxy_print_defaults,
        lambda d: _rename(d, ["clientConnection", "kubeconfig"], "kubeConfig"),
        ["clientConnection"],
        "additionalProperties",
        "kubeConfig",
    ),
    (
        "kubeproxy-wrong-kind",
        kubeproxy_ipvs,
        lambda d: _set(d, ["kind"], "KubeletConfiguration"),
        ["kind"],
        "const",
        "",
    ),
]


@pytest.mark.parametrize(
    "base,mutate,path,keyword,needle",
    [case[1:] for case in COMPONENT_REJECTIONS],
    ids=[case[0] for case in COMPONENT_REJECTIONS],
)
def test_component_configs_reject(validators, base, mutate, path, keyword, needle):
    assert_rejected(validators, base(), mutate, path, keyword, needle)
