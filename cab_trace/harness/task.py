"""Tasks: a directory with a ``task.toml`` and the files the agent starts from."""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cab_trace.errors import TaskError

TASK_FILE = "task.toml"


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
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TaskError(
                f"{path}: no such file",
                hint=f"a task directory needs a {TASK_FILE} with at least id and prompt",
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise TaskError(f"{path}: not valid TOML ({exc})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TaskError(f"{path}: cannot be read ({exc})") from None
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
        return cls(task_id, category, prompt, check, root)

    def starting_files(self) -> list[Path]:
        """The files copied into the workdir (everything but task.toml), relative to the task."""
        return sorted(
            p.relative_to(self.directory)
            for p in self.directory.rglob("*")
            if p.is_file()
            and p.relative_to(self.directory) != Path(TASK_FILE)
            and "__pycache__" not in p.parts
        )

    def copy_to(self, workdir: Path) -> int:
        """Copy the starting files into ``workdir``; returns how many were copied."""
        files = self.starting_files()
        for rel in files:
            target = workdir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.directory / rel, target)
        return len(files)


def _str_field(data: dict[str, object], key: str, path: Path) -> str:
    value = data.get(key)
    if value is None:
        raise TaskError(f"{path}: missing field {key!r}")
    if not isinstance(value, str) or not value.strip():
        raise TaskError(f"{path}: {key} must be a non-empty string")
    return value
