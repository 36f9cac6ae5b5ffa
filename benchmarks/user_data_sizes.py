#!/usr/bin/env python3
"""Benchmark: the user-data size of every node of every example, with fresh secrets.

Prints, per node, the raw and gzip-compressed bytes of user-data as `k8sgen render` writes it
with default options, and whether it fits AWS's 16,384 bytes raw and gzip-compressed. Nothing is
written: secrets are generated in memory. Prints numbers; asserts nothing.

    .venv/bin/python benchmarks/user_data_sizes.py
"""

from __future__ import annotations

from pathlib import Path

from generator import model, secrets
from generator.delivery.budget import PLATFORMS, fits
from generator.embed import embed_local_files
from generator.render import UserDataSize, user_data_bytes
from generator.secrets import joincred
from generator.spec.load import load_spec
from generator.spec.validate import validate

REPO = Path(__file__).resolve().parents[1]
AWS = PLATFORMS["aws"]


def example_sizes(spec: Path) -> list[tuple[str, UserDataSize]]:
    """(role, size) of every node of the example SPEC."""
    loaded = load_spec(spec)
    validate(loaded)
    cluster = embed_local_files(model.build(loaded.data, loaded.base_dir))
    made = secrets.generate(cluster.name, algorithm=secrets.NEW_KEY_ALGORITHM)
    value = joincred.reconcile(cluster, made).secrets
    sizes = []
    for node in cluster.nodes:
        raw, packed = user_data_bytes(cluster, node, value)
        sizes.append((node.role, UserDataSize(node.name, len(raw), len(packed))))
    return sizes


def main() -> None:
    print(f"{'example':<22} {'node':<12} {'role':<14} {'raw':>7} {'gzip':>7}  aws raw  aws gzip")
    for spec in sorted((REPO / "examples").glob("*.yaml")):
        for role, size in example_sizes(spec):
            raw = "ok" if fits(size, AWS, gzipped=False) else "NO"
            packed = "ok" if fits(size, AWS, gzipped=True) else "NO"
            print(
                f"{spec.stem:<22} {size.node:<12} {role:<14} {size.raw:>7,} {size.gzip:>7,}"
                f"  {raw:>7}  {packed:>8}"
            )


if __name__ == "__main__":
    main()
