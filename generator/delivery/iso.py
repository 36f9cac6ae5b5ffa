"""ISO images built in-process with pycdlib (ISO9660 + Joliet + Rock Ridge), the same bytes for
the same files: the NoCloud seeds here, the offline bundle's image in
generator/offline/bundle/iso.py.

A seed has the layout `cloud-localds` (genisoimage) writes: 8.3 ISO9660 names, and the real
names in the Joliet and Rock Ridge trees, which is what Linux and cloud-init read.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from time import gmtime, struct_time
from types import ModuleType
from typing import Any

import pycdlib
import pycdlib.dates
import pycdlib.headervd
import pycdlib.pycdlib

from generator.errors import K8sgenError

VOLUME_LABEL = "cidata"
# The names NoCloud looks for, and their ISO9660 level-1 names (as genisoimage makes them).
SEED_FILES = {
    "user-data": "/USER_DAT.;1",
    "meta-data": "/META_DAT.;1",
    "network-config": "/NETWORK_.;1",
    "vendor-data": "/VENDOR_D.;1",
}
FILE_MODE = 0o100644  # as cloud-localds writes them
# 2000-01-01T00:00:00Z: every volume, directory and file date of the image.
FIXED_TIME = 946684800.0


class _FixedClock:
    """Stands in for the `time` module inside pycdlib, which stamps time.time() everywhere."""

    def __init__(self, real: ModuleType) -> None:
        self._real = real

    def time(self) -> float:
        return FIXED_TIME

    def localtime(self, seconds: float | None = None) -> struct_time:
        # UTC, so the dates and their GMT offset do not depend on the machine's time zone.
        return gmtime(FIXED_TIME if seconds is None else seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


_PATCHED_MODULES = (pycdlib.pycdlib, pycdlib.headervd, pycdlib.dates)


@contextmanager
def _fixed_clock() -> Iterator[None]:
    saved = [module.time for module in _PATCHED_MODULES]
    clock = _FixedClock(time)
    try:
        for module in _PATCHED_MODULES:
            module.time = clock  # type: ignore[attr-defined]
        yield
    finally:
        for module, original in zip(_PATCHED_MODULES, saved, strict=True):
            module.time = original  # type: ignore[attr-defined]


@contextmanager
def new_iso(**options: Any) -> Iterator[pycdlib.PyCdlib]:
    """An empty ISO with Joliet and Rock Ridge (pycdlib's `new` OPTIONS besides), closed on exit.

    Add to it and write it inside the `with`: until then every date pycdlib stamps is
    FIXED_TIME, so the same files make the same bytes."""
    with _fixed_clock():
        iso = pycdlib.PyCdlib()
        iso.new(joliet=3, rock_ridge="1.09", **options)
        try:
            yield iso
        finally:
            iso.close()


def seed_iso(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A NoCloud seed holding files, given as (name, content) with names from SEED_FILES."""
    unknown = [name for name, _ in files if name not in SEED_FILES]
    if unknown:
        raise K8sgenError(f"not a NoCloud seed file: {', '.join(unknown)}")
    out = io.BytesIO()
    with new_iso(
        interchange_level=1, sys_ident="LINUX", vol_ident=VOLUME_LABEL, app_ident_str="k8sgen"
    ) as iso:
        for name, content in sorted(files):
            iso.add_fp(
                io.BytesIO(content),
                len(content),
                SEED_FILES[name],
                rr_name=name,
                joliet_path=f"/{name}",
                file_mode=FILE_MODE,
            )
        iso.write_fp(out)
    return out.getvalue()
