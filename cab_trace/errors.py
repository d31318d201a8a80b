"""One error hierarchy for everything a user can get wrong or run into.

The CLI catches :class:`CabTraceError`, prints ``error: <message>`` and the hint to
stderr and exits with :attr:`CabTraceError.exit_code`. Nothing below the CLI prints.
"""

from __future__ import annotations

from pathlib import Path


class CabTraceError(Exception):
    """Base error: a message for the user and an optional hint saying what to do."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(CabTraceError):
    """The command line does not make sense."""


class AgentNotInstalled(UsageError):
    """The agent's command is not installed where the agent would run (not on the PATH it gets).

    `run` refuses the cell before anything is recorded (a usage error, exit 2); a sweep takes it
    as a cause: every cell of that agent is failed without running, said once."""

    def __init__(self, command: str, adapter: str, hint: str | None = None) -> None:
        super().__init__(f"{command}{self.SAID} (the agent adapter {adapter} runs; {self.WHERE})", hint)
        self.command = command

    #: What the message says, so that a sweep can tell it in a cell's log (a Ray node's `run`).
    SAID = ": command not found"
    WHERE = "looked for on the PATH the agent gets"

    @classmethod
    def said_in(cls, message: str) -> bool:
        """Whether ``message`` (an error line of `run`) is this error's."""
        return cls.SAID + " (the agent adapter " in message and cls.WHERE in message


class TraceFileError(CabTraceError):
    """A trace file cannot be read: names the file, the line (when there is one) and the problem."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None, hint: str | None = None):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}", hint)
        self.path = Path(path)
        self.line = line
        self.problem = problem


class TaskError(CabTraceError):
    """A task directory or its task.toml is unusable."""


class AdapterError(CabTraceError):
    """An adapter or plugin definition is unusable, or cannot be filled in."""


class LaunchError(CabTraceError):
    """The agent could not be started at all (as opposed to starting and failing)."""
