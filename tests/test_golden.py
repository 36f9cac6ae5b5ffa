"""Golden output trees of the examples, secrets masked; `--update-golden` rewrites them."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from generator.secrets import ClusterSecrets

from .support.golden import GOLDEN, masked_tree
from .support.repo import EXAMPLES, REPO
from .support.specs import render_spec


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_golden_tree(spec: Path, request: pytest.FixtureRequest) -> None:
    tree = masked_tree(render_spec(spec))
    folder = GOLDEN / spec.stem
    if request.config.getoption("--update-golden"):
        for old in folder.rglob("*") if folder.exists() else []:
            if old.is_file():
                old.unlink()
        for path, text in tree.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text)
    on_disk = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
    assert sorted(on_disk) == sorted(tree), "run scripts/test --update-golden and review the diff"
    for path, text in tree.items():
        assert on_disk[path] == text, f"{spec.stem}/{path} differs from tests/golden"


def test_masking_leaves_no_secret(demo_secrets: ClusterSecrets) -> None:
    rendered = render_spec(REPO / "examples" / "single.yaml", demo_secrets)
    everything = "".join(masked_tree(rendered).values())
    pems = [demo_secrets.ca.key, demo_secrets.ca.cert, demo_secrets.service_account.key]
    for pem in pems:
        assert pem.splitlines()[1] not in everything
    assert "(masked) -----END RSA PRIVATE KEY-----" in everything
    assert demo_secrets.bootstrap_token not in everything
    assert base64.b64encode(demo_secrets.ca.cert.encode()).decode()[:40] not in everything
