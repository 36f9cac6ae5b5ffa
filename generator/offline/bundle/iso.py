"""One ISO 9660 image of a folder, with Rock Ridge and Joliet names (generator/delivery/iso.py
writes it)."""

from __future__ import annotations

from pathlib import Path

import pycdlib

from generator.delivery.iso import new_iso
from generator.offline.bundle.tools import BundleError

JOLIET_MAX = 64  # characters of a Joliet name


def write_iso(source: Path, target: Path, label: str) -> None:
    """TARGET holds every file under SOURCE (same relative paths), volume label LABEL.

    ISO 9660 names are short generated ones; Linux mounts show the Rock Ridge names.
    """
    try:
        with new_iso(interchange_level=3, vol_ident=label) as iso:
            _add_folder(iso, source)
            iso.write(str(target))
    except (pycdlib.pycdlibexception.PyCdlibException, OSError) as exc:
        raise BundleError(f"{target}: cannot write the ISO: {exc}") from exc


def _add_folder(iso: pycdlib.PyCdlib, source: Path) -> None:
    for number, path in enumerate(sorted(source.rglob("*")), 1):
        relative = path.relative_to(source)
        parent = _iso_dir(relative.parent)
        name = relative.name
        short = all(len(part) <= JOLIET_MAX for part in relative.parts)
        joliet = "/" + relative.as_posix() if short else None
        if path.is_dir():
            iso.add_directory(_iso_dir(relative), rr_name=name, joliet_path=joliet)
        else:
            iso_path = f"{parent.rstrip('/')}/F{number:05d}.;1"
            iso.add_file(str(path), iso_path, rr_name=name, joliet_path=joliet)


def _iso_dir(relative: Path) -> str:
    """The ISO 9660 directory for a folder of the bundle (its fixed, distinct folder names)."""
    if relative == Path("."):
        return "/"
    return "/" + "/".join(_dir_name(part) for part in relative.parts)


def _dir_name(part: str) -> str:
    cleaned = "".join(c for c in part.upper() if c.isalnum() or c == "_")[:8]
    return cleaned or "D"
