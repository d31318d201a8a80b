"""Values that cross into a process: checked before anything runs.

Pure: stdlib only. A process gets its argv and environment as NUL-terminated C strings, and
``NAME=value`` pairs split at the first ``=``; every framing cab-trace uses on the way there
(the supervisor's spec is NUL-separated fields) relies on the same. So a NUL inside a prompt,
an argv element, a variable's value or a file's name, or an ``=`` inside a variable's name,
would end the value early and start another: a task could set ``LD_PRELOAD`` or ``PATH``.
Such a value is a usage error that names where it came from (the file and the field), found
when the task or adapter is read, and once more, on the filled-in argv and environment,
before the agent is started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cab_trace.errors import CabTraceError, UsageError

NUL_HINT = (
    "a NUL byte would end the value early and start another (an injected argument or variable); remove it"
)


def nul_problem(where: str) -> str:
    return f"{where} holds a NUL byte (\\0), which no process can be given"


def check_text(value: str, where: str, error: type[CabTraceError] = UsageError) -> str:
    """``value`` unchanged, or ``error`` naming ``where`` if it holds a NUL byte."""
    if "\0" in value:
        raise error(nul_problem(where), hint=NUL_HINT)
    return value


def check_texts(values: Iterable[str], where: str, error: type[CabTraceError] = UsageError) -> None:
    for i, value in enumerate(values):
        if "\0" in value:
            raise error(nul_problem(f"{where}[{i}]"), hint=NUL_HINT)


def env_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an environment variable's name, or None if it can."""
    if not name:
        return "an empty variable name"
    if "\0" in name:
        return f"variable name {name!r} holds a NUL byte (\\0)"
    if "=" in name:
        return f"variable name {name!r} holds '=' (the environment splits NAME=value at the first '=')"
    return None


def check_env(env: Mapping[str, str], where: str, error: type[CabTraceError] = UsageError) -> None:
    """Every name and value of ``env``, as :func:`check_text` and :func:`env_name_problem` say."""
    for name, value in env.items():
        problem = env_name_problem(name)
        if problem is not None:
            raise error(f"{where}: {problem}", hint="a variable's name is letters, digits and _")
        if "\0" in value:
            raise error(nul_problem(f"{where}: {name}"), hint=NUL_HINT)


def check_launch(argv: Iterable[str], env: Mapping[str, str]) -> None:
    """The last check before a process is started: the filled-in argv and environment.

    Raises:
        UsageError: naming the argv element or variable.
    """
    check_texts(argv, "the agent's argv")
    check_env(env, "the agent's environment")
