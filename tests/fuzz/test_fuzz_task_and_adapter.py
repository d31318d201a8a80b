"""Fuzz targets for the two kinds of file people download and run by the hundred: a task directory
(its task.toml, and files, links and fifos beside it) and an adapter TOML. Whatever they hold:
a one-line error (TaskError, AdapterError, UsageError) or a usable task/adapter; never a
traceback, a hang, a link followed out, or a file written outside the run's own directories."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

from cab_trace.errors import CabTraceError
from cab_trace.harness.adapters import BUILTIN_PLACEHOLDERS, build_argv, build_env, build_files, parse_adapter
from cab_trace.harness.crossing import check_launch
from cab_trace.harness.runner import write_adapter_files
from cab_trace.harness.task import Task
from tests.fuzz.inputs import FUZZ, texts, toml_document, toml_string, toml_value, values

LINK_TARGETS = [
    "../canary/secret",
    "/etc/passwd",
    "../canary",
    "sub/../f",
    "sub/../../canary",
    "nowhere",
    ".",
    "f",
]
CANARY = b"canary: must never be copied, read into the run, or changed\n"


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file() and not path.is_symlink():
            h.update(path.read_bytes())
    return h.hexdigest()


def everything_under(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


@st.composite
def task_toml(draw: st.DrawFn) -> str:
    """Mostly a task.toml with an id and a prompt (so that copying is reached), else any fields,
    else any text."""
    kind = draw(st.sampled_from(["fields", "fields", "fields", "any-fields", "text"]))
    if kind == "text":
        return draw(st.text(max_size=300))
    if kind == "any-fields":
        doc = draw(
            st.dictionaries(
                st.sampled_from(["id", "prompt", "check", "category"]) | texts, values, max_size=5
            )
        )
    else:
        nonempty = texts.filter(str.strip)
        doc = draw(
            st.fixed_dictionaries(
                {"id": nonempty, "prompt": nonempty},
                optional={"check": texts | values, "category": texts | values},
            )
        )
    return toml_document(doc)


@FUZZ
@given(
    text=task_toml(),
    links=st.lists(
        st.tuples(st.sampled_from(["l1", "sub/l2", "l3"]), st.sampled_from(LINK_TARGETS)), max_size=3
    ),
    fifo=st.booleans(),
)
def test_any_task_directory(text: str, links: list[tuple[str, str]], fifo: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        box = Path(tmp)
        (box / "canary").mkdir()
        (box / "canary" / "secret").write_bytes(CANARY)
        task = box / "task"
        (task / "sub").mkdir(parents=True)
        (task / "f").write_text("f\n")
        (task / "task.toml").write_text(text, errors="surrogatepass")
        for name, target in links:
            if not os.path.lexists(task / name):
                (task / name).symlink_to(target)
        if fifo:
            os.mkfifo(task / "sub" / "pipe")
        before = tree_digest(box / "canary")
        try:
            loaded = Task.load(task)
        except CabTraceError:
            return
        finally:
            assert tree_digest(box / "canary") == before
        assert "\0" not in loaded.prompt + loaded.id + (loaded.check or "")
        event("task loaded")
        work = box / "work"
        work.mkdir()
        outside = everything_under(box) - everything_under(work)
        with contextlib.suppress(CabTraceError):
            loaded.copy_into(work)
        assert everything_under(box) - everything_under(work) == outside  # nothing written beside it
        assert tree_digest(box / "canary") == before
        for path in work.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert path.read_bytes() != CANARY, path
            if path.is_symlink() and path.exists():
                assert Path(os.path.realpath(path)).is_relative_to(os.path.realpath(work)), path


@st.composite
def adapter_text(draw: st.DrawFn) -> str:
    if draw(st.sampled_from(["structured", "structured", "structured", "structured", "text"])) == "text":
        return draw(st.text(max_size=300))
    placeholder = st.sampled_from(
        [f"{{{name}}}" for name in [*BUILTIN_PLACEHOLDERS, "plugin_args", "v", "nope"]]
    )
    part = st.one_of(texts, placeholder, st.lists(texts | placeholder, max_size=3).map("".join))
    lines = [f"name = {toml_string(draw(texts.filter(bool)))}"]
    if draw(st.booleans()):
        lines.append(f"command = {toml_value(draw(st.lists(part, max_size=5)))}")
    tables: list[str] = []
    if draw(st.booleans()):
        tables.append(
            "[vars]\n"
            + "".join(
                f"{toml_string(k)} = {toml_string(draw(texts))}\n"
                for k in ["v", *draw(st.lists(texts, max_size=2))]
            )
        )
    if draw(st.booleans()):
        env = draw(st.dictionaries(texts | st.sampled_from(["KEY", "A=B", "PATH"]), part, max_size=3))
        tables.append("[env]\n" + "".join(f"{toml_string(k)} = {toml_string(v)}\n" for k, v in env.items()))
    for name in draw(
        st.lists(
            texts | st.sampled_from(["models.json", "a", "a/b", ".", "../x", "/abs", "a//b"]),
            max_size=3,
            unique=True,
        )
    ):
        spec = (
            {"content": draw(part)}
            if draw(st.booleans())
            else draw(st.dictionaries(texts, values, max_size=2))
        )
        tables.append(
            f"[files.{toml_string(name)}]\n"
            + "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in spec.items())
        )
    if draw(st.booleans()):
        plugin = {
            "args": draw(st.lists(part, max_size=3)),
            "env": draw(st.dictionaries(texts, part, max_size=2)),
        }
        tables.append(
            f"[plugins.{toml_string(draw(texts))}]\n"
            + "".join(f"{k} = {toml_value(v)}\n" for k, v in plugin.items())
        )
    return "\n".join(lines) + "\n" + "\n".join(tables)


@FUZZ
@given(
    text=adapter_text(),
    filled=st.dictionaries(st.sampled_from([*BUILTIN_PLACEHOLDERS, "v"]), texts | st.none()),
    command=st.lists(texts, max_size=3),
)
def test_any_adapter_file(text: str, filled: dict[str, str | None], command: list[str]) -> None:
    try:
        adapter = parse_adapter(text, "fuzz.toml")
    except CabTraceError:
        return
    event("adapter parsed")
    values = {**adapter.vars, **filled}
    with tempfile.TemporaryDirectory() as tmp:
        box = Path(tmp)
        config = box / "config"
        config.mkdir(mode=0o700)
        try:
            argv = build_argv(adapter, values, [], command)
            env = build_env(adapter, values, {})
            check_launch(argv, env)
            files = build_files(adapter, values)
        except CabTraceError:
            return
        event("files written")
        write_adapter_files(config, files)
        assert {p.name for p in box.iterdir()} == {"config"}  # nothing beside it
        for name in files:
            assert (config / name).resolve().is_relative_to(config.resolve())
