"""`scan` and `redact` on lines of any length: `scan` reads a long line in pieces that overlap,
and finds what the redactor finds in the whole line (a secret across a seam included); `redact`
streams text in pieces and refuses a trace record over the line limit, having written only whole
records. The pieces here are small (the module's sizes are patched) so that many seams fall in a
line of a few hundred KB; the real sizes are measured on a gigabyte in
tests/harness/test_bounded_readers.py."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from cab_trace.errors import TraceFileError
from cab_trace.model import SpanRecord, encode_record
from cab_trace.redact import Redactor, scan
from cab_trace.redact.records import redact_stream
from cab_trace.redact.scan import event_lines, files_under, leak_check, scan_file

KEY = "qwertyuiopasdf1234zz"  # no provider shape: found by its option's name
PHRASE = f"--api-key {KEY}"
KNOWN = "opaque-Key-With-No-Shape-0451"
BLOCK, OVERLAP = 16 << 10, 4 << 10


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "BLOCK", BLOCK)
    monkeypatch.setattr(scan, "OVERLAP", OVERLAP)


def _filler(size: int) -> bytearray:
    words = b"alpha beta gamma delta the quick brown fox "
    return bytearray((words * (size // len(words) + 1))[:size])


def _seams(data: bytes) -> list[int]:
    """Byte offsets where the pieces of ``data`` (one line) end and begin, and where one piece
    hands over what it reports to the next."""
    out: list[int] = []
    offset = 0
    for block in scan._blocks(io.BytesIO(data), OVERLAP, BLOCK):
        offset_end = block.column + len(block.text)
        out += [block.column, block.column + block.report_from, block.column + block.report_until, offset_end]
        offset = offset_end
    assert offset == len(data)
    return sorted({s for s in out if 0 < s < len(data)})


def test_a_long_line_is_read_in_overlapping_pieces_and_a_secret_on_every_seam_is_found(
    tmp_path: Path, small_pieces: None
) -> None:
    size = 20 * BLOCK
    seams = _seams(bytes(_filler(size)))
    assert len(seams) > 40  # many pieces, so many seams
    line = _filler(size)
    placed = 0
    last_end = -1
    for seam in seams:
        # The secret across the seam, starting a few bytes before it (never two overlapping).
        start = seam - len(PHRASE) // 2
        if start <= last_end + 1:
            continue
        line[start - 1 : start + len(PHRASE) + 1] = b" " + PHRASE.encode() + b" "
        last_end = start + len(PHRASE)
        placed += 1
    text = b"first line\n" + bytes(line) + b"\nlast line " + PHRASE.encode() + b"\n"
    path = tmp_path / "long.txt"
    path.write_bytes(text)
    redactor = Redactor()
    hits = list(scan_file(path, redactor))
    whole = [f for f in redactor.findings(text.decode()) if f.rule == "secret-option"]
    assert len(whole) == placed + 1
    assert [(h.line, h.rule, h.preview) for h in hits] == [(2, "secret-option", "…(20 chars)")] * placed + [
        (3, "secret-option", "…(20 chars)")
    ]


def test_a_known_secret_across_a_seam_of_a_long_line_and_the_lines_after_it(
    tmp_path: Path, small_pieces: None
) -> None:
    size = 6 * BLOCK
    seams = _seams(bytes(_filler(size)))
    line = _filler(size)
    for seam in seams[::3]:
        line[seam - 10 : seam - 10 + len(KNOWN)] = KNOWN.encode()
    path = tmp_path / "known.log"
    path.write_bytes(bytes(line) + b"\nnothing\n" + KNOWN[:12].encode() + b"\n" + KNOWN[12:].encode() + b"\n")
    hits = leak_check(tmp_path, [KNOWN])
    lines = [h.line for h in hits]
    assert lines.count(1) == len(seams[::3])
    assert lines[-1] == 3  # split over a line end after the long line: still seen whole
    assert all(KNOWN not in str(h) for h in hits)


def test_scan_holds_a_block_and_its_overlap_not_the_line(small_pieces: None) -> None:
    data = bytes(_filler(60 * BLOCK))
    longest = max(len(b.text) for b in scan._blocks(io.BytesIO(data), OVERLAP, BLOCK))
    assert longest <= 2 * BLOCK + OVERLAP


def test_a_multibyte_character_on_a_seam_is_not_broken(tmp_path: Path, small_pieces: None) -> None:
    line = ("é" * (BLOCK * 3)).encode() + b" " + PHRASE.encode() + b" " + ("日本" * BLOCK).encode()
    texts = [b.text for b in scan._blocks(io.BytesIO(line), OVERLAP, BLOCK)]
    # No replacement character where a piece starts: every piece starts on a character.
    assert all(not t.startswith("\ufffd") for t in texts)
    path = tmp_path / "utf8.txt"
    path.write_bytes(line)
    assert [h.line for h in scan_file(path, Redactor())] == [1]


def test_files_under_lists_as_sorted_paths_do_without_links_or_fifos(tmp_path: Path) -> None:
    for name in ("b/c.txt", "b.txt", "a/z/y.txt", "a/x.txt", "c"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "link.txt").symlink_to(tmp_path / "c")
    (tmp_path / "linked-dir").symlink_to(tmp_path / "a")
    os.mkfifo(tmp_path / "fifo")
    expected = sorted(p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink())
    assert list(files_under(tmp_path)) == expected
    assert list(files_under(tmp_path / "c")) == [tmp_path / "c"]


def test_files_under_a_very_deep_tree(tmp_path: Path) -> None:
    # Deeper than Python's recursion limit: the walk keeps its own stack.
    top = tmp_path / "deep"
    deep = top
    try:
        for _ in range(1200):
            deep.mkdir()
            deep /= "d"
        (deep.parent / "f.txt").write_text(PHRASE)
        assert list(files_under(top)) == [deep.parent / "f.txt"]
    finally:
        # Taken down from the bottom here: pytest's own clean-up recurses, and would fail on it.
        (deep.parent / "f.txt").unlink(missing_ok=True)
        while deep != top:
            deep = deep.parent
            deep.rmdir()


def test_a_cast_is_read_as_what_it_showed_in_windows(tmp_path: Path, small_pieces: None) -> None:
    header = {"version": 2, "width": 80, "height": 24}
    events: list[list[object]] = []
    for i in range(400):
        events.append([0.1 * i, "o", f"output line {i} of the agent's work\r\n"])
    # A known secret drawn over three events, at several places, some across a window's seam.
    marks: list[int] = []
    for at in range(40, 400, 37):
        events[at : at + 3] = [[0.1, "o", KNOWN[:8]], [0.1, "o", KNOWN[8:17]], [0.1, "o", KNOWN[17:]]]
        marks.append(at + 2)  # the header is line 1
    path = tmp_path / "terminal.cast"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in [header, *events]) + b"\n")
    hits = leak_check(tmp_path, [KNOWN])
    assert [h.line for h in hits] == marks


def test_a_cast_event_line_longer_than_the_limit_is_passed_over(tmp_path: Path) -> None:
    data = b'{"version": 2}\n[0.1, "o", "' + b"x" * 5000 + b'"]\n[0.2, "o", "tail"]\nlast'
    lines = list(event_lines(io.BytesIO(data), 1000))
    assert [n for n, _ in lines] == [1, 3, 4]
    assert lines[-1][1] == b"last"


def _record(name: str) -> bytes:
    record = SpanRecord(
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", None, name, "container", 1, 2,
        attributes={"argv": ["pi", "--api-key", KEY]},
    )  # fmt: skip
    return encode_record(record)


def test_redact_refuses_a_record_over_the_limit_having_written_only_whole_records() -> None:
    long = _record("x" * 5000)
    sink = io.BytesIO()
    with pytest.raises(TraceFileError) as caught:
        redact_stream(
            io.BytesIO(_record("a") + _record("b") + long + _record("c")), sink, Redactor(), limit=4096
        )
    assert caught.value.line == 3 and "longer than 4096 bytes" in caught.value.message
    written = sink.getvalue().splitlines(keepends=True)
    assert len(written) == 2 and all(KEY.encode() not in w for w in written)
    assert [orjson.loads(w)["name"] for w in written] == ["a", "b"]


def test_redact_refuses_a_first_record_over_the_limit_and_writes_nothing() -> None:
    sink = io.BytesIO()
    with pytest.raises(TraceFileError) as caught:
        redact_stream(io.BytesIO(_record("x" * 5000)), sink, Redactor(), limit=4096, path="t.jsonl")
    assert str(caught.value.path) == "t.jsonl" and caught.value.line == 1
    assert sink.getvalue() == b""


@pytest.mark.parametrize(
    "first",
    [
        b"plain text " * 2000 + PHRASE.encode(),  # text
        json.dumps({"messages": ["word " * 4000, PHRASE]}).encode(),  # JSON, but not a record
    ],
    ids=["text", "json-document"],
)
def test_redact_streams_a_long_line_that_is_not_a_record(first: bytes) -> None:
    data = first + b"\nsecond " + PHRASE.encode() + b"\n"
    sink = io.BytesIO()
    redact_stream(io.BytesIO(data), sink, Redactor(), chunk_size=1024, limit=4096)
    out = sink.getvalue()
    assert KEY.encode() not in out
    assert out == data.replace(KEY.encode(), b"[REDACTED]")


def test_scan_does_not_say_nothing_found_when_it_could_not_read_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cab_trace.cli import main

    (tmp_path / "ok.txt").write_text("nothing here\n")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "inside.txt").write_text(PHRASE)
    real = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(scan.os, "scandir", scandir)
    assert main(["scan", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'locked'}: cannot be listed (Permission denied); skipped" in err
    assert "no suspected secrets in 1 file(s), but 1 could not be read" in err
