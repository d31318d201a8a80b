"""Ownership that cannot be mistaken: what a run leaves outside its run directory (the scratch
directory; for Docker, its containers) is removed by someone else only with proof that the run
is dead.

**The proof is a lock.** A run creates ``cab-trace.lock`` in its scratch directory (under a
temporary name, locked, then renamed into place, so nobody ever sees it unlocked) and holds an
exclusive ``flock`` on it for as long as it lives. The kernel drops the lock when the last
process holding it dies, however it dies (``kill -9`` included). Whoever gets the lock has
proven the run dead. Unlike a pid (``host:pid:start``), this means the same thing in every PID
namespace of a machine (containers with host networking, ``unshare``, CI runners sharing
``/tmp``), and on a directory that several hosts share over NFS (Linux makes ``flock`` there a
lock the server arbitrates). Within one process, two open files of the lock conflict too, so a
sweep running runs in threads cannot mistake one of them for dead.

**Containers** carry labels that bind them to that proof: the lock file's path and a random
token the run wrote into it. They are removed only when the lock is free, the token in the
file is the label's, and the container's name is one the run wrote into its scratch directory
(``cab-trace.containers``) *before* it asked the engine to make it. A label anyone with access
to the engine can write (such as the ``cab-trace.owner`` one of older versions) proves nothing.

**When in doubt, leave it, and say so**: a directory with no lock file (being created, kept with
``--keep-workdir``, an older version's ``cab-trace.owner`` mark), a lock file that is a link or
not in our format, another user's directory, a container whose proof does not hold: each is
left, with the reason, for `cab-trace gc` to print.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: The lock file in a scratch directory; its run holds an exclusive flock on it while it lives.
LOCK_FILE = "cab-trace.lock"
#: The names of the containers a run asked the engine for, one per line, written before each request.
CONTAINERS_FILE = "cab-trace.containers"
#: What older versions marked their scratch directories with (``host:pid:start``): not a proof.
OLD_OWNER_FILE = "cab-trace.owner"
SCRATCH_PREFIX = "cab-trace-"
_MAGIC = "cab-trace lock v1"
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
#: What flock fails with where the file system does not lock (some FUSE and network file systems).
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


@dataclass(frozen=True)
class Owner:
    """What a runtime needs to bind what it makes to its run's proof."""

    lock_path: str
    token: str
    record_container: Callable[[str], None]


class Scratch:
    """A run's scratch directory, locked while the run lives. Make one with :meth:`create`."""

    def __init__(self, path: Path, lock_fd: int, token: str) -> None:
        self.path = path
        self.token = token
        self._fd: int | None = lock_fd

    @classmethod
    def create(cls, slug: str, root: Path | None = None) -> Scratch:
        """A fresh private scratch directory (``mkdtemp``, 0700) whose lock this process holds."""
        path = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{slug}-", dir=root))
        token = secrets.token_hex(16)
        dir_fd = os.open(path, _OPEN_DIR)
        try:
            temporary = f".{LOCK_FILE}.new"
            fd = os.open(
                temporary,
                os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dir_fd,
            )
            try:
                lock = "flock"
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a file nobody else has seen: free
                except OSError as exc:
                    if exc.errno not in _NO_LOCKS:
                        raise
                    # A file system that cannot lock: the run still runs, and says so in the file,
                    # so that nobody takes the lock's absence for its run's death.
                    lock = "none"
                body = (
                    f"{_MAGIC}\ntoken {token}\nlock {lock}\nhost {socket.gethostname()}\npid {os.getpid()}\n"
                )
                os.write(fd, body.encode())
                # Only now does it get its name: gc never finds it unlocked or half-written.
                os.rename(temporary, LOCK_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                os.close(fd)
                raise
        finally:
            os.close(dir_fd)
        return cls(path, fd, token)

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_FILE

    def owner(self) -> Owner:
        return Owner(str(self.lock_path), self.token, self.record_container)

    def record_container(self, name: str) -> None:
        """Note a container's name before asking the engine to make it (the proof gc needs)."""
        fd = os.open(
            self.path / CONTAINERS_FILE,
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )
        try:
            os.write(fd, f"{name}\n".encode())
        finally:
            os.close(fd)

    def keep(self) -> None:
        """``--keep-workdir``: the directory is the user's now, no leftover for gc; the lock file
        goes first, so the lock is never seen free on a directory that is still to be kept."""
        for name in (LOCK_FILE, CONTAINERS_FILE):
            with contextlib.suppress(OSError):
                (self.path / name).unlink()
        self.abandon()

    def remove(self) -> bool:
        """Remove the directory (the lock is held until it is gone); True if it is gone."""
        shutil.rmtree(self.path, ignore_errors=True)
        gone = not os.path.lexists(self.path)
        self.abandon()
        return gone

    def abandon(self) -> None:
        """Let go of the lock, leaving the directory as it is (as the run's death would)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# -- proving a run dead ---------------------------------------------------------------------------


@dataclass
class Verdict:
    """Whether a scratch directory's run is proven dead, or why that cannot be said."""

    dead: bool
    why: str = ""
    alive: bool = False  # the lock is held: a live run's
    token: str | None = None
    containers: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _proof(directory: Path) -> Iterator[Verdict]:
    """Look at ``directory``; while the block runs, a dead run's lock is held by us."""
    try:
        dir_fd = os.open(directory, _OPEN_DIR)
    except OSError as exc:
        yield Verdict(
            False, f"cannot be opened ({exc.strerror})" if exc.errno != errno.ELOOP else "is a symlink"
        )
        return
    lock_fd: int | None = None
    try:
        verdict, lock_fd = _judge(dir_fd)
        yield verdict
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
        os.close(dir_fd)


def _judge(dir_fd: int) -> tuple[Verdict, int | None]:
    if os.fstat(dir_fd).st_uid != os.getuid():
        return Verdict(False, "another user's"), None
    try:
        fd = os.open(LOCK_FILE, _OPEN_FILE, dir_fd=dir_fd)
    except FileNotFoundError:
        if _exists(OLD_OWNER_FILE, dir_fd):
            return Verdict(
                False, "marked by an older cab-trace (host:pid), which cannot prove its run dead"
            ), None
        return Verdict(
            False, "no lock file (kept with --keep-workdir, still being made, or not cab-trace's)"
        ), None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Verdict(False, "its lock file is a symlink"), None
        return Verdict(False, f"its lock file cannot be opened ({exc.strerror})"), None
    info = os.fstat(fd)
    text = os.read(fd, 4096).decode("utf-8", "replace") if stat.S_ISREG(info.st_mode) else ""
    fields = dict(line.partition(" ")[::2] for line in text.splitlines()[1:])
    if not text.startswith(_MAGIC + "\n") or info.st_uid != os.getuid() or not fields.get("token"):
        os.close(fd)
        return Verdict(False, "its lock file is not a cab-trace lock of yours"), None
    if fields.get("lock") == "none":
        os.close(fd)
        return Verdict(False, "made where files cannot be locked: nothing can prove its run dead"), None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return Verdict(False, "in use by a live run", alive=True), None
        return Verdict(False, f"its lock cannot be taken ({exc.strerror})"), None
    # Locked: but is it still the directory's lock file? (--keep-workdir unlinks it, then lets go.)
    try:
        current = os.stat(LOCK_FILE, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        current = None
    if current is None or (current.st_dev, current.st_ino) != (info.st_dev, info.st_ino):
        os.close(fd)
        return Verdict(False, "its lock file went away while it was looked at (kept, or removed)"), None
    return Verdict(True, token=fields["token"], containers=_containers(dir_fd)), fd


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def _containers(dir_fd: int) -> list[str]:
    try:
        fd = os.open(CONTAINERS_FILE, _OPEN_FILE, dir_fd=dir_fd)
    except OSError:
        return []
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        return [line for line in os.read(fd, 1 << 20).decode("utf-8", "replace").splitlines() if line]
    finally:
        os.close(fd)


# -- collecting ------------------------------------------------------------------------------------


@dataclass
class Collected:
    """What a collection did: removed (paths or names), left (with why), and how many were in use."""

    removed: list[Path] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)
    in_use: int = 0


def collect_scratch(
    root: Path | None = None, container_gone: Callable[[str], bool] | None = None
) -> Collected:
    """Remove the scratch directories under ``root`` (default: the temp directory) whose runs
    are proven dead.

    Args:
        container_gone: tells whether a container (by name) no longer exists. A dead run's
            directory that names containers is removed only when they are all gone (their
            proof is in it); without this, such a directory is left for `cab-trace gc`.
    """
    root = Path(tempfile.gettempdir()) if root is None else root
    report = Collected()
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return report
    for entry in entries:
        if not entry.name.startswith(SCRATCH_PREFIX):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        path = Path(entry.path)
        with _proof(path) as verdict:
            if verdict.alive:
                report.in_use += 1
                continue
            if not verdict.dead:
                report.left.append((str(path), verdict.why))
                continue
            if verdict.containers:
                if container_gone is None:
                    report.left.append(
                        (str(path), "its run made containers: `cab-trace gc` removes them first")
                    )
                    continue
                if not all(container_gone(name) for name in verdict.containers):
                    report.left.append((str(path), "its run's containers are still there"))
                    continue
            shutil.rmtree(path, ignore_errors=True)
            if os.path.lexists(path):
                report.left.append((str(path), "could not be removed entirely"))
            else:
                report.removed.append(path)
    return report


def container_proven_dead(lock_path: str, token: str, name: str) -> tuple[bool, str]:
    """Whether a container labelled with ``lock_path`` and ``token`` belongs to a run proven dead:
    the lock is free, the file's token is the label's, and the run wrote down ``name`` before it
    asked for the container. Returns (proven, why not)."""
    path = Path(lock_path)
    if path.name != LOCK_FILE or not path.parent.name.startswith(SCRATCH_PREFIX) or not path.is_absolute():
        return False, "its lock label does not name a cab-trace scratch directory"
    if not os.path.lexists(path.parent):
        return False, "its run's scratch directory is gone (on another host, or removed): no proof"
    with _proof(path.parent) as verdict:
        if verdict.alive:
            return False, "its run is alive"
        if not verdict.dead:
            return False, f"its run's scratch directory: {verdict.why}"
        if not token or not secrets.compare_digest(verdict.token or "", token):
            return False, "its token is not the one its lock file holds"
        if name not in verdict.containers:
            return False, "its run never asked for a container of that name"
        return True, ""
