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

from collections.abc import Iterable, Mapping, Sequence

from cab_trace.errors import CabTraceError, TaskError, UsageError

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


#: Placeholders whose values come from the task (downloaded data), not from the user or adapter.
TASK_PLACEHOLDERS = {"prompt": "prompt", "task_id": "id"}


def check_option_injection(template: Sequence[str], values: Mapping[str, str | None], task_file: str) -> None:
    """A task's value that is a whole argv element of its own and starts with ``-`` would be read
    by the agent as an option (a prompt of ``--dangerously-skip-permissions``): refused, unless
    the template ends the options with ``--`` before it.

    Raises:
        TaskError: naming the task file and the field.
    """
    for i, part in enumerate(template):
        if "--" in template[:i]:
            return
        for placeholder, field in TASK_PLACEHOLDERS.items():
            value = values.get(placeholder)
            if part == f"{{{placeholder}}}" and value is not None and value.startswith("-"):
                raise TaskError(
                    f"{task_file}: {field} starts with '-', and the adapter passes it as an argument of "
                    "its own, where the agent would read it as an option",
                    hint="start it with another character, or end the agent's options before it in "
                    "the adapter's command ('--', where the agent honours it; pi does not) or pass it "
                    "as an option's value (--prompt={prompt})",
                )
