"""Tasks: a directory with a ``task.toml`` and the files the agent starts from.

A task is downloaded data. Reading it never follows a link out of it (see
:mod:`cab_trace.harness.safetree`): a symlink that stays inside the task is copied as a
symlink, one that leads outside is refused before anything runs, and special files (fifos,
sockets, devices) are skipped and said so. Its text fields are checked for NUL bytes, which
would split them on their way into the agent's argv (:mod:`cab_trace.harness.crossing`).
"""

from __future__ import annotations

import errno
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cab_trace.errors import TaskError
from cab_trace.harness import safetree
from cab_trace.harness.crossing import check_text

TASK_FILE = "task.toml"
#: A task.toml larger than this is not a task description.
MAX_TASK_FILE = 16 << 20
#: A task id names directories (the run's, the scratch one): it is kept well under a file name's limit.
MAX_ID = 256


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    Attributes:
        id: e.g. ``polyglot/rust-error-handling``.
        category: e.g. ``polyglot``; defaults to the part of ``id`` before the first slash.
        prompt: what the agent is asked to do.
        check: an optional shell command that tells whether the agent succeeded.
        directory: where the task's files are.
    """

    id: str
    category: str
    prompt: str
    check: str | None
    directory: Path

    @classmethod
    def load(cls, directory: Path | str) -> Task:
        """Read ``directory/task.toml``.

        Raises:
            TaskError: the directory or file is missing, or a field is missing or mistyped.
        """
        root = Path(directory)
        path = root / TASK_FILE
        if not root.is_dir():
            raise TaskError(
                f"task directory {root} does not exist",
                hint=f"a task is a directory holding a {TASK_FILE} and the agent's starting files",
            )
        data = _read_toml(path)
        unknown = sorted(set(data) - {"id", "category", "prompt", "check"})
        if unknown:
            raise TaskError(
                f"{path}: unknown field {unknown[0]!r}",
                hint="a task.toml has id, prompt, and optionally category and check",
            )
        task_id = _str_field(data, "id", path)
        prompt = _str_field(data, "prompt", path)
        category = data.get("category", task_id.split("/", 1)[0] if "/" in task_id else "uncategorized")
        check = data.get("check")
        if not isinstance(category, str):
            raise TaskError(f"{path}: category must be a string")
        if check is not None and not isinstance(check, str):
            raise TaskError(f"{path}: check must be a string (a shell command)")
        if len(task_id) > MAX_ID:
            raise TaskError(
                f"{path}: id is {len(task_id)} characters long; at most {MAX_ID}",
                hint="a task id names directories; give the task a shorter one",
            )
        for key, value in (("id", task_id), ("prompt", prompt), ("category", category), ("check", check)):
            if value is not None:
                check_text(value, f"{path}: {key}", TaskError)
        task = cls(task_id, category, prompt, check, root)
        task.check_tree()
        return task

    def _skip(self, rel: str, is_dir: bool) -> bool:
        """What is not a starting file: task.toml itself, and bytecode caches."""
        return rel == TASK_FILE or (is_dir and rel.rsplit("/", 1)[-1] == "__pycache__")

    def check_tree(self) -> None:
        """Refuse a task holding a symlink that leads out of it.

        Raises:
            TaskError: naming the link and where it points.
        """
        try:
            safetree.check_links(self.directory, self._skip)
        except safetree.TreeError as exc:
            raise _tree_error(self.directory, exc) from None
        except OSError as exc:
            raise TaskError(
                f"task directory {self.directory}: cannot be read ({exc.strerror or exc})"
            ) from None

    def special_files(self) -> list[str]:
        """The task's fifos, sockets and devices (``path (kind)``): they are not copied."""
        return [
            f"{e.rel} ({e.kind})"
            for e in safetree.walk(self.directory, self._skip)
            if e.kind not in ("file", "dir", "link")
        ]

    def starting_files(self) -> list[Path]:
        """The regular files copied into the workdir (everything but task.toml), relative to the task."""
        return [Path(e.rel) for e in safetree.walk(self.directory, self._skip) if e.kind == "file"]

    def copy_into(self, workdir: Path) -> safetree.CopyReport:
        """Copy the starting files into the empty ``workdir``: links that stay inside the task as
        links, special files skipped (and listed in the report).

        Raises:
            TaskError: a link leads outside the task, or the task changed while it was copied.
        """
        try:
            return safetree.copy_tree(self.directory, workdir, self._skip)
        except safetree.TreeError as exc:
            raise _tree_error(self.directory, exc) from None

    def copy_to(self, workdir: Path) -> int:
        """Copy the starting files into ``workdir``; returns how many regular files were copied."""
        return len(self.copy_into(workdir).files)


def _tree_error(root: Path, exc: safetree.TreeError) -> TaskError:
    return TaskError(
        f"{root / exc.path}: {exc.problem}",
        hint="a task may hold symlinks that stay inside it; copy what it needs from outside into it",
    )


def _read_toml(path: Path) -> dict[str, object]:
    try:
        # Not a link out of the task (nor a fifo, a device, a huge file): it is downloaded data.
        with safetree.open_beneath(path.parent, path.name) as fd:
            data = bytearray()
            while chunk := os.read(fd, 1 << 20):
                data += chunk
                if len(data) > MAX_TASK_FILE:
                    raise TaskError(f"{path}: larger than {MAX_TASK_FILE >> 20} MB; not a task description")
        return tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise TaskError(
            f"{path}: no such file",
            hint=f"a task directory needs a {TASK_FILE} with at least id and prompt",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise TaskError(f"{path}: not UTF-8 text") from None
    except RecursionError:
        raise TaskError(f"{path}: not valid TOML (nested too deeply)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise TaskError(f"{path}: is a symlink; a task's {TASK_FILE} must be a file of its own") from None
        raise TaskError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _str_field(data: dict[str, object], key: str, path: Path) -> str:
    value = data.get(key)
    if value is None:
        raise TaskError(f"{path}: missing field {key!r}")
    if not isinstance(value, str) or not value.strip():
        raise TaskError(f"{path}: {key} must be a non-empty string")
    return value
