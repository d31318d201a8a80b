"""Copying and reading directory trees that are someone else's data, without being led out of them.

A task directory is downloaded data; the workdir, after the run, is the agent's. Neither may
make cab-trace read or write anything outside it on the user's behalf:

- **Symlinks are never followed.** Every file is opened relative to an open handle of its
  directory with ``O_NOFOLLOW`` (and every directory with ``O_DIRECTORY | O_NOFOLLOW``), so a
  name swapped for a link between the look and the open fails instead of being followed.
- **A symlink is copied as a symlink** when it resolves inside the tree (through any other
  links on its way, each resolved inside the tree too), and **refused** when it points
  outside: an absolute target, ``..`` above the root, or a way out through another link. The
  check runs on the task before anything is recorded, and again on the copy (the workdir,
  which nothing else writes until the agent starts), so a task that changes while it is copied
  cannot slip a link past it.
- **Special files** (fifos, sockets, devices) are never opened (a fifo nobody writes to would
  block the read forever): they are skipped, and the skip is reported.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Non-blocking: a fifo put where a regular file was seen does not hang the open.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
#: As the kernel allows (MAXSYMLINKS): past this many links on one path, resolution fails.
MAX_LINKS = 40
_COPY_CHUNK = 1 << 20


class TreeError(Exception):
    """The tree cannot be used as it is; ``path`` is relative to its root."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def special_kind(mode: int) -> str:
    """What a non-regular, non-directory, non-link file is, in a word."""
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"


@dataclass
class CopyReport:
    """What a copy did: regular files copied, links made (relative path, target), and what
    was skipped (relative path, why)."""

    files: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skipped_text(self) -> list[str]:
        return [f"{path} ({why})" for path, why in self.skipped]


# -- resolving a link inside a tree -----------------------------------------------------------


def link_escapes(root: Path, rel: str, target: str) -> str | None:
    """Why the link at ``rel`` (relative to ``root``) with ``target`` leads out of ``root``, or
    None when it stays inside (or dangles inside). Every link met on the way is resolved the
    same way, read from the tree as it is now (call it on a tree nobody else writes)."""
    if target.startswith("/"):
        return f"is a symlink to {target}, outside the task (an absolute path)"
    current = list(PurePosixPath(rel).parts[:-1])
    todo = target.split("/")
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not current:
                return f"is a symlink to {target}, outside the task"
            current.pop()
            continue
        candidate = [*current, part]
        try:
            info = os.lstat(root.joinpath(*candidate))
        except OSError:
            current = candidate  # does not exist (yet): the rest is judged by its words alone
            continue
        if stat.S_ISLNK(info.st_mode):
            hops += 1
            if hops > MAX_LINKS:
                return f"is a symlink to {target}, which goes round in circles"
            hop = os.readlink(root.joinpath(*candidate))
            if hop.startswith("/"):
                return f"is a symlink to {target}, which leads outside the task through {'/'.join(candidate)}"
            todo = hop.split("/") + todo
            continue
        current = candidate
    return None


# -- walking without following ------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    rel: str
    kind: str  # "file", "dir", "link" or a special_kind()
    target: str = ""  # a link's target


def _open_root(root: Path) -> int:
    # The root itself is the user's choice and may be reached through links; nothing below it is.
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def walk(root: Path, skip: Callable[[str, bool], bool] = lambda _rel, _is_dir: False) -> Iterator[Entry]:
    """Everything below ``root``, in sorted order, without following a link; ``skip(rel, is_dir)``
    leaves an entry (and, for a directory, all below it) out.

    Raises:
        OSError: the root cannot be opened.
    """
    fd = _open_root(root)
    try:
        yield from _walk(fd, "", skip)
    finally:
        os.close(fd)


def _walk(fd: int, prefix: str, skip: Callable[[str, bool], bool]) -> Iterator[Entry]:
    for name in sorted(os.listdir(fd)):
        rel = f"{prefix}{name}"
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # gone since it was listed
        mode = info.st_mode
        if skip(rel, stat.S_ISDIR(mode)):
            continue
        if stat.S_ISDIR(mode):
            yield Entry(rel, "dir")
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise TreeError(rel, f"cannot be opened ({exc.strerror})") from None
            try:
                yield from _walk(child, f"{rel}/", skip)
            finally:
                os.close(child)
        elif stat.S_ISREG(mode):
            yield Entry(rel, "file")
        elif stat.S_ISLNK(mode):
            yield Entry(rel, "link", os.readlink(name, dir_fd=fd))
        else:
            yield Entry(rel, special_kind(mode))


def check_links(root: Path, skip: Callable[[str, bool], bool] = lambda _rel, _is_dir: False) -> None:
    """Raise TreeError for the first link below ``root`` that leads out of it."""
    for entry in walk(root, skip):
        if entry.kind == "link" and (why := link_escapes(root, entry.rel, entry.target)):
            raise TreeError(entry.rel, why)


# -- copying --------------------------------------------------------------------------------------


def copy_tree(source: Path, target: Path, skip: Callable[[str, bool], bool]) -> CopyReport:
    """Copy ``source`` into the empty, private directory ``target`` (made if need be): regular files
    with their mode and times, directories, links as links; special files skipped. Then every
    link in the copy is checked to resolve inside it.

    Raises:
        TreeError: a link leads outside (in the copy), or the source changed under the copy.
        OSError: a file could not be read or written.
    """
    report = CopyReport()
    target.mkdir(parents=True, exist_ok=True)
    src = _open_root(source)
    try:
        dst = os.open(target, _DIR_FLAGS)
        try:
            into = os.fstat(dst)
            # The target may lie inside the source (a task copied into itself): never copy it.
            _copy_dir(src, dst, "", skip, report, (into.st_dev, into.st_ino))
        finally:
            os.close(dst)
    finally:
        os.close(src)
    for rel, link_target in report.links:
        if why := link_escapes(target, rel, link_target):
            raise TreeError(rel, why)
    return report


def _copy_dir(  # noqa: PLR0917
    src: int,
    dst: int,
    prefix: str,
    skip: Callable[[str, bool], bool],
    report: CopyReport,
    target: tuple[int, int],
) -> None:
    for name in sorted(os.listdir(src)):
        rel = f"{prefix}{name}"
        try:
            info = os.stat(name, dir_fd=src, follow_symlinks=False)
        except FileNotFoundError:
            continue
        mode = info.st_mode
        if skip(rel, stat.S_ISDIR(mode)) or (info.st_dev, info.st_ino) == target:
            continue
        if stat.S_ISDIR(mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            child_src = _open_child_dir(src, name, rel)
            try:
                child_dst = os.open(name, _DIR_FLAGS, dir_fd=dst)
                try:
                    _copy_dir(child_src, child_dst, f"{rel}/", skip, report, target)
                    os.chmod(child_dst, stat.S_IMODE(mode))
                    os.utime(child_dst, ns=(info.st_atime_ns, info.st_mtime_ns))
                finally:
                    os.close(child_dst)
            finally:
                os.close(child_src)
        elif stat.S_ISREG(mode):
            if _copy_file(src, dst, name, rel):
                report.files.append(rel)
            else:
                report.skipped.append((rel, "not a regular file when opened"))
        elif stat.S_ISLNK(mode):
            link_target = os.readlink(name, dir_fd=src)
            os.symlink(link_target, name, dir_fd=dst)
            report.links.append((rel, link_target))
        else:
            report.skipped.append((rel, special_kind(mode)))


def _open_child_dir(parent: int, name: str, rel: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise TreeError(rel, "changed while it was being copied (a directory became a link)") from None
        raise


def _copy_file(src: int, dst: int, name: str, rel: str) -> bool:
    """Copy one regular file; False if what the name now holds is not a regular file."""
    try:
        fin = os.open(name, _FILE_FLAGS, dir_fd=src)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise TreeError(rel, "changed while it was being copied (a file became a link)") from None
        raise
    try:
        info = os.fstat(fin)
        if not stat.S_ISREG(info.st_mode):
            return False
        os.set_blocking(fin, True)
        fout = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dst
        )
        try:
            while chunk := os.read(fin, _COPY_CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fout, view) :]
            os.fchmod(fout, stat.S_IMODE(info.st_mode))
            os.utime(fout, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(fout)
    finally:
        os.close(fin)
    return True


# -- reading one file beneath a root ------------------------------------------------------------


@contextlib.contextmanager
def open_beneath(root: Path, rel: str) -> Iterator[int]:
    """An fd of the regular file ``rel`` below ``root``, opened component by component without
    following a link (the root itself may be reached through one).

    Raises:
        OSError: it does not exist, is reached through a link (ELOOP), or is not a regular file
            (EINVAL).
    """
    parts = PurePosixPath(rel).parts
    fd = _open_root(root)
    try:
        for part in parts[:-1]:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)
    try:
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(root / rel))
        os.set_blocking(file_fd, True)
        yield file_fd
    finally:
        os.close(file_fd)


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``limit`` bytes (a link to
    one is followed: the user named it). A fifo is not waited on; a device is not read.

    Raises:
        OSError: it cannot be opened; EINVAL if it is not a regular file, EFBIG if too large.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file (a {special_kind(info.st_mode)})", str(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
        os.set_blocking(fd, True)
        chunks = []
        total = 0
        while chunk := os.read(fd, _COPY_CHUNK):
            total += len(chunk)
            if total > limit:  # it grew since fstat
                raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


# -- writing files beneath a root ---------------------------------------------------------------


def write_files(root: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` ({relative name: text}) into the fresh, private directory ``root``: each
    directory made 0700 and opened without following links, each file created (never opened
    if it exists: ``O_EXCL``) 0600. Names were checked when the adapter was read."""
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        for name, content in files.items():
            parts = PurePosixPath(name).parts
            fd = os.dup(root_fd)
            try:
                for part in parts[:-1]:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o700, dir_fd=fd)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                    os.close(fd)
                    fd = child
                out = os.open(
                    parts[-1],
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=fd,
                )
                with os.fdopen(out, "w", encoding="utf-8") as handle:
                    handle.write(content)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)
