"""Client kubeconfigs: admin.conf, `k8sgen kubeconfig`, and a node's join credential."""

from __future__ import annotations

import base64
from typing import Any

from generator.model import Cluster
from generator.secrets.pki import CertPair


def client_kubeconfig(
    cluster: Cluster, ca_cert: str, user: str, client: CertPair
) -> dict[str, Any]:
    """A kubeconfig for the cluster's endpoint that logs in with a client certificate."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    context = f"{user}@{cluster.name}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster.name,
                "cluster": {
                    "certificate-authority-data": b64(ca_cert),
                    "server": f"https://{cluster.endpoint}",
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster.name, "user": user}}],
        "current-context": context,
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(client.cert),
                    "client-key-data": b64(client.key),
                },
            }
        ],
        "preferences": {},
    }
