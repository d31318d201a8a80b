"""The pieces of issue 21 on their own: the one escaping function, the checks of values that cross
into a process, link resolution inside a tree, the bounded line reader (which must agree with
Python's own line iteration on every file within the limit), and agent-chosen ids."""

from __future__ import annotations

import io
import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cab_trace.errors import TraceFileError, UsageError
from cab_trace.harness import safetree
from cab_trace.harness.crossing import check_env, check_launch, env_name_problem
from cab_trace.harness.supervise import encode_spec
from cab_trace.model.lines import bounded_lines, max_line_bytes
from cab_trace.textsafe import safe_text

# -- the one escaping function ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("a\rb", "a\\rb"),
        ("\x9b2J", "\\x9b2J"),
        ("gnp\u202eexe", "gnp\\u202eexe"),
        ("\u2066x\u2069", "\\u2066x\\u2069"),
        ("line\u2028sep", "line\\u2028sep"),
        ("bad \udcff byte", "bad \\udcff byte"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("plain ünïcode ✓ 日本", "plain ünïcode ✓ 日本"),
    ],
)
def test_safe_text_escapes_what_drives_a_terminal_and_nothing_else(text: str, shown: str) -> None:
    assert safe_text(text) == shown
    assert safe_text("a\tb\nc", one_line=True) == "a\\tb\\nc"


@given(st.text())
def test_safe_text_output_is_always_printable_and_encodable(text: str) -> None:
    out = safe_text(text, one_line=True)
    out.encode("utf-8")  # no lone surrogates left
    # No control character (C0, C1, DEL), bidi control, or line/paragraph separator survives.
    bidi = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert not [c for c in out if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in bidi]


# -- values that cross into a process ----------------------------------------------------------


def test_env_names_and_nul_bytes_are_refused() -> None:
    assert env_name_problem("PATH") is None
    assert "=" in (env_name_problem("A=B") or "")
    assert env_name_problem("") and env_name_problem("A\0B")
    with pytest.raises(UsageError, match=r"x: A holds a NUL"):
        check_env({"A": "1\0B=2"}, "x")
    with pytest.raises(UsageError, match=r"argv\[1\] holds a NUL"):
        check_launch(["a", "b\0c"], {})


def test_the_supervisor_spec_refuses_what_would_split_a_field() -> None:
    assert encode_spec(["a"], {"K": "v=w"}, "/", False).endswith(b"a\0K=v=w")
    for argv, env in ((["a\0b"], {}), (["a"], {"K": "x\0Y=1"}), (["a"], {"K=X": "1"}), (["a"], {"": "1"})):
        with pytest.raises(ValueError):
            encode_spec(argv, env, "/", False)


# -- links inside a tree -------------------------------------------------------------------------


def test_link_resolution_stays_inside_or_says_why(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "up").symlink_to("a/b")
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    (tmp_path / "abs").symlink_to("/etc")
    inside = {"x": "a/b/../b", "y": "up/..", "z": "missing/deeper", "w": "a/../up/."}
    for name, target in inside.items():
        assert safetree.link_escapes(tmp_path, name, target) is None, target
    assert safetree.link_escapes(tmp_path, "a/b/n", "../../x") is None
    assert "outside" in (safetree.link_escapes(tmp_path, "a/b/n", "../../../x") or "")
    assert "outside" in (safetree.link_escapes(tmp_path, "n", "up/../../..") or "")  # through a link
    assert "through abs" in (safetree.link_escapes(tmp_path, "n", "abs/passwd") or "")
    assert "circles" in (safetree.link_escapes(tmp_path, "n", "loop1") or "")


def test_the_copy_keeps_links_skips_special_files_and_never_follows(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.txt").write_text("hello")
    (src / "d" / "f.txt").chmod(0o640)
    (src / "link").symlink_to("d/f.txt")
    os.mkfifo(src / "fifo")
    report = safetree.copy_tree(src, dst, lambda _rel, _dir: False)
    assert report.files == ["d/f.txt"] and report.links == [("link", "d/f.txt")]
    assert report.skipped == [("fifo", "fifo")]
    assert os.readlink(dst / "link") == "d/f.txt" and (dst / "link").read_text() == "hello"
    assert (dst / "d" / "f.txt").stat().st_mode & 0o777 == 0o640
    (src / "out").symlink_to("../..")
    with pytest.raises(safetree.TreeError, match="outside"):
        safetree.copy_tree(src, tmp_path / "dst2", lambda _rel, _dir: False)


def test_reading_beneath_a_root_refuses_links_and_special_files(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    (tmp_path / "linkdir").symlink_to("d")
    os.mkfifo(tmp_path / "fifo")
    with safetree.open_beneath(tmp_path, "d/f") as fd:
        assert os.read(fd, 10) == b"x"
    for rel in ("linkdir/f", "fifo"):
        with pytest.raises(OSError), safetree.open_beneath(tmp_path, rel):
            pass


def test_adapter_files_are_written_without_following_links(tmp_path: Path) -> None:
    root = tmp_path / "config"
    root.mkdir()
    safetree.write_files(root, {"a/b.json": "{}", "c": "x"})
    assert (root / "a" / "b.json").read_text() == "{}" and (root / "a").stat().st_mode & 0o777 == 0o700
    outside = tmp_path / "outside"
    (root / "evil").symlink_to(outside)
    with pytest.raises(OSError):
        safetree.write_files(root, {"evil": "x"})
    assert not outside.exists()


# -- the bounded line reader -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")), max_size=30), st.booleans())
def test_bounded_lines_agree_with_pythons_lines_within_the_limit(
    lines: list[bytes], final_newline: bool
) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    expected = list(enumerate(io.BytesIO(data), start=1))
    longest = max((len(x) for x in lines), default=0)
    assert list(bounded_lines(io.BytesIO(data), "f", limit=max(longest, 1))) == expected
    if longest > 1:
        with pytest.raises(TraceFileError, match="longer than"):
            list(bounded_lines(io.BytesIO(data), "f", limit=longest - 1))


def test_a_long_line_is_found_in_pieces_and_named(monkeypatch) -> None:
    from cab_trace.model import lines

    monkeypatch.setattr(lines, "PIECE", 4)
    data = b"ok\n" + b"x" * 30 + b"\nafter\n"
    assert [n for n, _ in bounded_lines(io.BytesIO(data), "f", limit=30)] == [1, 2, 3]
    with pytest.raises(TraceFileError) as caught:
        list(bounded_lines(io.BytesIO(data), "f", limit=29))
    assert caught.value.line == 2 and "CAB_TRACE_MAX_LINE" in (caught.value.hint or "")


def test_the_limit_comes_from_the_environment() -> None:
    assert max_line_bytes({}) == 64 << 20
    assert max_line_bytes({"CAB_TRACE_MAX_LINE": "256m"}) == 256 << 20
    assert max_line_bytes({"CAB_TRACE_MAX_LINE": "1G"}) == 1 << 30
    assert max_line_bytes({"CAB_TRACE_MAX_LINE": "4096"}) == 4096
    for bad in ("lots", "0", "-1m", "1t"):
        with pytest.raises(UsageError):
            max_line_bytes({"CAB_TRACE_MAX_LINE": bad})
