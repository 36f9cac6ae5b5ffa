"""Golden output trees: where they live and how secrets are masked in them."""

from __future__ import annotations

import json
import re

import yaml

from generator.layout import CALICO_PATCHED
from generator.secrets import ClusterSecrets

from .nodedata import decoded
from .repo import REPO
from .specs import Rendered

GOLDEN = REPO / "tests" / "golden"
PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----\n.*?-----END \1-----", re.DOTALL)
BASE64_PEM = re.compile(r"LS0tLS1CRUdJT[A-Za-z0-9+/=]+")
MASKED_IN_MANIFEST = ("user-data", "admin.conf")
# The end of a node's join certificate, in its bootstrap script (minted with the secrets).
JOIN_CREDENTIAL_END = re.compile(r"join_credential_valid [0-9]+ '[^']*'")


def mask(text: str, secrets: ClusterSecrets) -> str:
    """Replace every secret (and what depends on it) with a stable placeholder."""
    text = PEM.sub(lambda m: f"-----BEGIN {m[1]}----- (masked) -----END {m[1]}-----", text)
    text = BASE64_PEM.sub("(masked base64 PEM)", text)
    text = JOIN_CREDENTIAL_END.sub("join_credential_valid (masked end) (masked date)", text)
    for value, name in (
        (secrets.bootstrap_token, "(masked token)"),
        (secrets.ca_cert_hash, "sha256:(masked CA hash)"),
        (secrets.certificate_key, "(masked certificate key)"),
        (secrets.encryption_key or "", "(masked encryption key)"),
    ):
        if value:
            text = text.replace(value, name)
    return text


def mask_manifest(text: str) -> str:
    data = json.loads(text)
    for entry in data["files"]:
        if entry["path"].endswith(MASKED_IN_MANIFEST):
            entry["sha256"] = "(masked: depends on secrets)"
            entry["bytes"] = "(masked: depends on secrets)"
    return json.dumps(data, indent=2) + "\n"


def masked_tree(rendered: Rendered) -> dict[str, str]:
    tree = {}
    for path, artifact in rendered.artifacts.items():
        text = artifact.content.decode()
        is_manifest = path == "manifest.json"
        if path.endswith("/user-data"):
            beside = packed_scripts(path, text, rendered.secrets)
            tree.update(beside)
            text = without_packed(text, beside)
        tree[path] = mask_manifest(text) if is_manifest else mask(text, rendered.secrets)
    return tree


def reviewed_packed(entry: dict[str, str]) -> bool:
    """Packed entries decoded beside user-data, all but the embedded Calico manifest (a third
    party's file, not k8sgen's output): the scripts, the join credential's kubeconfig (its
    compressed bytes depend on the secrets) and the configuration files gzip shrinks."""
    return entry["path"] != CALICO_PATCHED


def packed_scripts(user_data: str, text: str, secrets: ClusterSecrets) -> dict[str, str]:
    """The files user-data carries gzip+base64-compressed (scripts, join.conf, configuration),
    decoded beside it for review."""
    folder = user_data.removesuffix("user-data") + "gz+b64"
    scripts = {}
    for entry in yaml.safe_load(text)["write_files"]:
        if entry.get("encoding") == "gz+b64" and reviewed_packed(entry):
            scripts[folder + entry["path"]] = mask(decoded(entry), secrets)
    return scripts


def without_packed(text: str, beside: dict[str, str]) -> str:
    """user-data with the compressed content of what is decoded beside it named instead: a
    script with a join certificate's end date, and join.conf, differ with every secrets file."""
    for entry in yaml.safe_load(text)["write_files"]:
        path = entry["path"]
        if any(key.endswith("gz+b64" + path) for key in beside):
            text = text.replace(entry["content"], f"(gz+b64 of gz+b64{path}, beside)")
    return text
