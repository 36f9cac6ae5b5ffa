"""The only code that touches the output folder: atomic writes with the artifact's mode.

Nothing under OUT/<cluster> is followed if it is a symbolic link: a link there could send
user-data (with the bootstrap token) or a chmod anywhere on the machine. check_output refuses
links and special files before anything is written, and the writes themselves walk folder by
folder with O_NOFOLLOW, so a link that appears meanwhile is refused too.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import K8sgenError
from generator.render.artifact import Artifact

CREATED, CHANGED, UNCHANGED = "created", "changed", "unchanged"
NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
NOFOLLOW_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class WriteResult:
    path: Path
    status: str  # created | changed | unchanged


def _link_error(path: Path) -> K8sgenError:
    return K8sgenError(
        f"{path}: a symbolic link inside the output folder; k8sgen never writes through "
        "links there (it could put secrets anywhere): remove it, or render to another folder"
    )


def _special_error(path: Path) -> K8sgenError:
    return K8sgenError(f"{path}: not a regular file or folder; remove it from the output folder")


def check_output(root: Path) -> None:
    """Refuse links and special files under root, and a root that cannot be created."""
    try:
        info = root.lstat()
    except (FileNotFoundError, NotADirectoryError):
        _check_creatable(root.parent)
        return
    if stat.S_ISLNK(info.st_mode):
        raise _link_error(root)
    if not stat.S_ISDIR(info.st_mode):
        raise K8sgenError(f"{root}: exists and is not a folder")
    for folder, dirs, files in os.walk(root, onerror=_raise):
        for name in (*dirs, *files):
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise _link_error(path)
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise _special_error(path)
    if not os.access(root, os.W_OK | os.X_OK):
        raise K8sgenError(f"{root}: cannot write there (permission denied or read-only)")


def _check_creatable(folder: Path) -> None:
    """The nearest existing ancestor is a folder k8sgen may write in."""
    while not folder.exists() and folder != folder.parent:
        if folder.is_symlink():  # dangling: creating the folder would follow it
            raise K8sgenError(f"{folder}: a dangling symbolic link in the output path")
        folder = folder.parent
    if not folder.is_dir():
        raise K8sgenError(f"{folder}: not a folder; cannot create the output folder below it")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise K8sgenError(f"{folder}: cannot create the output folder there (permission denied)")


def _raise(exc: OSError) -> None:
    raise K8sgenError(f"{exc.filename}: cannot read the output folder: {exc.strerror}") from exc


@dataclass
class _Folders:
    """Open folder descriptors below root, each opened without following a link."""

    root: Path
    create: bool
    fds: dict[str, int] = field(default_factory=dict)
    created: list[Path] = field(default_factory=list)  # folders this render made, in order

    def fd(self, relative: str) -> int | None:
        """The folder's descriptor; None when it does not exist (and create is False)."""
        if relative in self.fds:
            return self.fds[relative]
        if relative == "":
            return self._open_root()
        parent_rel, _, name = relative.rpartition("/")
        parent = self.fd(parent_rel)
        if parent is None:
            return None
        if self.create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=parent)
                self.created.append(self.root / relative)
        return self._open(name, parent, relative)

    def _open_root(self) -> int | None:
        if self.create:
            missing = [p for p in (self.root, *self.root.parents) if not p.exists()]
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise K8sgenError(f"{self.root}: cannot create the folder: {exc.strerror}") from exc
            self.created += reversed(missing)
        try:
            parent = os.open(self.root.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            return self._open(self.root.name, parent, "")
        finally:
            os.close(parent)

    def _open(self, name: str, parent: int, relative: str) -> int | None:
        path = self.root / relative
        try:
            fd = os.open(name, NOFOLLOW_DIR, dir_fd=parent)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if Path(path).is_symlink():
                raise _link_error(path) from exc
            raise K8sgenError(f"{path}: cannot use as a folder: {exc.strerror}") from exc
        self.fds[relative] = fd
        return fd

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def write_artifacts(
    root: Path, artifacts: Iterable[Artifact], dry_run: bool = False
) -> list[WriteResult]:
    """Write each artifact below root; with dry_run only say what would happen.

    On a failure the files this call created are removed again (a changed file stays changed).
    """
    check_output(root)
    folders = _Folders(root, create=not dry_run)
    results: list[WriteResult] = []
    try:
        for artifact in artifacts:
            results.append(_write_one(folders, artifact, dry_run))
    except BaseException:
        if not dry_run:
            _undo(folders, results)
        raise
    finally:
        folders.close()
    if not dry_run and any(r.status != UNCHANGED for r in results):
        # One flush to disk for the whole render: an fsync per file cost 15 s of a 1,000-node
        # render with ISOs. Each file still appears whole (rename); after a crash, render again.
        os.sync()
    return results


def _write_one(folders: _Folders, artifact: Artifact, dry_run: bool) -> WriteResult:
    target = folders.root / artifact.path
    folder, _, name = artifact.path.rpartition("/")
    dir_fd = folders.fd(folder)
    status, mode = (CREATED, None) if dir_fd is None else _status(dir_fd, name, target, artifact)
    if not dry_run:
        assert dir_fd is not None  # created when not a dry run
        if status != UNCHANGED:
            _write_atomic(dir_fd, name, target, artifact)
        elif mode != artifact.mode:
            _chmod(dir_fd, name, target, artifact.mode)
    return WriteResult(target, status)


def _status(dir_fd: int, name: str, target: Path, artifact: Artifact) -> tuple[str, int | None]:
    """(created/changed/unchanged, current mode); reads only a regular file of the same size."""
    try:
        fd = os.open(name, NOFOLLOW_READ, dir_fd=dir_fd)
    except FileNotFoundError:
        return CREATED, None
    except OSError as exc:
        if os.path.islink(target):
            raise _link_error(target) from exc
        raise K8sgenError(f"{target}: cannot read the existing file: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _special_error(target)
        mode = stat.S_IMODE(info.st_mode)
        if info.st_size != len(artifact.content):
            return CHANGED, mode
        with os.fdopen(os.dup(fd), "rb") as handle:
            current = handle.read(len(artifact.content) + 1)
    except OSError as exc:
        raise K8sgenError(f"{target}: cannot read the existing file: {exc.strerror}") from exc
    finally:
        os.close(fd)
    return (UNCHANGED if current == artifact.content else CHANGED), mode


def _chmod(dir_fd: int, name: str, target: Path, mode: int) -> None:
    try:
        fd = os.open(name, NOFOLLOW_READ, dir_fd=dir_fd)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    except OSError as exc:
        raise K8sgenError(f"{target}: cannot set its mode: {exc.strerror}") from exc


def _write_atomic(dir_fd: int, name: str, target: Path, artifact: Artifact) -> None:
    tmp = f".{name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, NEW_FILE, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        raise K8sgenError(f"{target.parent}: cannot create files there: {exc.strerror}") from exc
    try:
        os.fchmod(fd, artifact.mode)  # before any byte lands: secrets are never world-readable
        with os.fdopen(fd, "wb") as handle:
            handle.write(artifact.content)
        # rename replaces a name, never writes through it.
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise K8sgenError(f"{target}: cannot write: {exc.strerror}") from exc


def _undo(folders: _Folders, results: list[WriteResult]) -> None:
    """Remove what this render created before it failed: files, then empty folders."""
    for result in results:
        if result.status == CREATED:
            with contextlib.suppress(OSError):
                result.path.unlink()
    for folder in reversed(folders.created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def stale_files(root: Path, written: Iterable[Path]) -> list[Path]:
    """Files under root/nodes that this render did not produce (a node removed from the spec)."""
    produced = set(written)
    return sorted(p for p in _files(root / "nodes") if p not in produced)


def _files(folder: Path) -> Iterator[Path]:
    for parent, _, files in os.walk(folder):  # does not follow links (check_output refused them)
        yield from (Path(parent) / name for name in files)


def write_new_file(
    path: Path, content: bytes, mode: int, replace: bool = False, refusal: str = "not replacing it"
) -> None:
    """Write one file the operator named (a starter spec, a kubeconfig), never through a link.

    Without replace an existing file is refused, even one that appears meanwhile (O_EXCL);
    mode is set at creation (narrowed by the umask), before any byte lands.
    """
    if path.is_symlink():  # a dangling link would otherwise create its target
        raise K8sgenError(f"{path}: a symbolic link; give the path of the file itself")
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    flags |= os.O_TRUNC if replace else os.O_EXCL  # NONBLOCK above: no hang on a FIFO
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError as exc:
        raise K8sgenError(f"{path}: already exists; {refusal}") from exc
    except OSError as exc:
        raise K8sgenError(f"{path}: cannot write: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()  # this call created it (O_EXCL or O_TRUNC): no half file is left
        raise K8sgenError(f"{path}: cannot write: {exc.strerror}") from exc
