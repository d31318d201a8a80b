"""A line longer than the limit is a one-line error naming the file and the line, read in
bounded memory, by every command that reads a trace or a recording; `scan` and `redact` read a
line of any length in bounded pieces (and `redact` of a trace refuses a record over the limit).
Measured on real `cab-trace` processes: the peak resident memory (VmHWM) of a command given a
1 GB single-line file, against the same command on a small valid file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

#: The size of the hostile line: a sparse file, so writing it costs nothing.
BIG = 1 << 30
LIMIT = 64 << 20  # the default
#: What a command may take beyond the small file's peak: the limit, and a small constant.
ALLOWANCE = LIMIT + (40 << 20)
RECORD = {
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "parent_span_id": None,
    "name": "run",
    "kind": "run",
    "span_kind": "INTERNAL",
    "start_time_unix_nano": 1,
    "end_time_unix_nano": 2,
    "status": {"code": "OK", "message": ""},
    "attributes": {},
    "events": [],
    "links": [],
    "resource": {},
    "scope": {"name": "t", "version": None},
}


#: Runs `cab-trace ARGS` in this process and writes its peak resident memory (VmHWM: ru_maxrss
#: would carry the parent's over through fork and exec) to the file named by $PEAK_OUT.
_MEASURED = """
import os, sys
from cab_trace.cli import main
code = main(sys.argv[1:])
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
open(os.environ["PEAK_OUT"], "w").write(peak)
sys.exit(code)
"""


def peak(*args: str, env: dict[str, str] | None = None) -> tuple[int, int, str]:
    """(exit code, peak resident bytes, stderr) of `cab-trace ARGS`."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"peak-{os.getpid()}-{id(args)}"
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {}), "PEAK_OUT": str(out)},
        check=False,
    )
    used = int(out.read_text()) * 1024
    out.unlink()
    return done.returncode, used, done.stderr.decode("utf-8", "replace")


def sparse(path: Path, prefix: bytes, size: int = BIG, before: bytes = b"") -> Path:
    with path.open("wb") as handle:
        # Text first, past the 4 KB a reader sniffs (a file that starts with NUL bytes is called
        # binary before its length is looked at); the rest reads as NUL bytes, with no newline.
        handle.write(before + prefix + b" " * 8192)
        handle.truncate(len(before) + size)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("small") / "small.jsonl"
    path.write_text(json.dumps(RECORD) + "\n")
    return path


COMMANDS = {
    "validate": lambda p, o: ["validate", str(p)],
    "show": lambda p, o: ["show", str(p)],
    "export": lambda p, o: ["export", str(p), "--format", "otlp-json", "-o", str(o)],
    "replay": lambda p, o: ["replay", str(p)],
}
SHAPES = {
    # a record's start, then a gigabyte with no newline: the first line
    "jsonl-first-line": (b'{"trace_id":"', b"", 1),
    # a valid first line, then the long one
    "jsonl-second-line": (b'{"trace_id":"', (json.dumps(RECORD) + "\n").encode(), 2),
    # OTLP/JSON lines as a Collector writes them
    "otlp-json": (b'{"resourceSpans":[', b"", 1),
    # a pretty-printed document: read whole, so the same limit applies to the whole of it
    "document": (b"{\n", b"", None),
}


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_a_gigabyte_line_is_one_error_in_bounded_memory(
    tmp_path: Path, small: Path, command: str, shape: str
) -> None:
    prefix, before, line = SHAPES[shape]
    big = sparse(tmp_path / "big.jsonl", prefix, before=before)
    _, base_peak, _ = peak(*COMMANDS[command](small, tmp_path / "small.out"))
    code, used, err = peak(*COMMANDS[command](big, tmp_path / "big.out"))
    assert code == 2, err[-2000:]
    assert "Traceback" not in err
    errors = [x for x in err.splitlines() if x.startswith("cab-trace: error:")]
    assert len(errors) == 1, err
    where = f"{big}:{line}:" if line else f"{big}:"
    assert errors[0].startswith(f"cab-trace: error: {where}"), errors[0]
    assert "longer than" in errors[0] or "larger than" in errors[0], errors[0]
    assert "CAB_TRACE_MAX_LINE" in err  # the hint says how to raise it
    assert used - base_peak < ALLOWANCE, (
        f"{command} took {(used - base_peak) >> 20} MB more than on a small file"
    )


def test_the_limit_is_configurable_and_a_line_within_it_is_read(tmp_path: Path) -> None:
    wide = dict(RECORD, attributes={"big": "x" * (3 << 20)})
    path = tmp_path / "wide.jsonl"
    path.write_text(json.dumps(wide) + "\n")
    code, _, err = peak("validate", str(path), env={"CAB_TRACE_MAX_LINE": "1m"})
    assert code == 2 and f"{path}:1: line is longer than 1048576 bytes" in err, err
    code, _, err = peak("validate", str(path), env={"CAB_TRACE_MAX_LINE": "8m"})
    assert code == 0, err
    code, _, err = peak("validate", str(path), env={"CAB_TRACE_MAX_LINE": "lots"})
    assert code == 2 and "CAB_TRACE_MAX_LINE" in err and "Traceback" not in err


def test_a_long_event_in_a_terminal_recording(tmp_path: Path, small: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "trace.jsonl").write_bytes(small.read_bytes())
    header = json.dumps({"version": 2, "width": 80, "height": 24}) + "\n"
    event = b'[0.5, "o", "' + b"x" * (3 << 20) + b'"]\n'
    (run_dir / "terminal.cast").write_bytes(header.encode() + event)
    code, _, err = peak("replay", str(run_dir), env={"CAB_TRACE_MAX_LINE": "1m"})
    assert code == 2 and f"{run_dir / 'terminal.cast'}:2: line is longer than" in err, err


# -- scan and redact -------------------------------------------------------------------------------
#
# They read every kind of file, not only traces. A long line of text is read in pieces with an
# overlap (a line they refused would be a place to hide a secret); a trace redacted record by
# record refuses a record over the limit, as the trace readers do. The gigabyte of text is
# generated as it is read (a fifo, or stdin), so neither the disk nor the test holds it; it is
# words, not NUL bytes, as a minified bundle or a JSON message would be.

KEY = "qwertyuiopasdf1234zz"  # no provider shape: found by its option's name
#: What scan or redact of a gigabyte line may take beyond the same command on a small file.
STREAM_ALLOWANCE = 40 << 20


def _text_piece() -> bytes:
    words = [b"alpha", b"beta", b"gamma", b"the", b"quick", b"fox", b'{"role":"user","content":"', b'"},']
    piece = b" ".join(words[(i * 7 + i // 3) % len(words)] for i in range(250_000))
    return piece[: 1 << 20]


def _gigabyte_line(sink: IO[bytes]) -> None:
    """A gigabyte of text with no newline, then a secret at the end of that same line."""
    piece = _text_piece()
    sink.write(b"start ")
    for _ in range(BIG // len(piece)):
        sink.write(piece)
    sink.write(b" --api-key " + KEY.encode() + b" end\n")


def _fed_peak(args: list[str], tmp_path: Path, *, stdin: bool) -> tuple[int, int, str, int, bytes]:
    """(exit code, peak resident bytes, stderr, stdout size, stdout's last 4 KB) of `cab-trace
    ARGS` fed :func:`_gigabyte_line`: on stdin, or through the fifo ``tmp_path/big.txt``."""
    fifo = tmp_path / "big.txt"
    if not stdin:
        os.mkfifo(fifo)
    out = tmp_path / "peak"
    proc = subprocess.Popen(
        [sys.executable, "-c", _MEASURED, *args],
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PEAK_OUT": str(out)},
    )
    got = {"size": 0, "tail": b"", "err": b""}

    def write() -> None:
        try:
            if stdin:
                assert proc.stdin is not None
                with proc.stdin:
                    _gigabyte_line(proc.stdin)
            else:
                with fifo.open("wb") as sink:
                    _gigabyte_line(sink)
        except (BrokenPipeError, ValueError):
            pass  # the command stopped reading

    def read() -> None:
        assert proc.stdout is not None
        while data := proc.stdout.read(1 << 20):
            got["size"] += len(data)
            got["tail"] = (got["tail"] + data)[-4096:]

    def read_err() -> None:
        assert proc.stderr is not None
        got["err"] = proc.stderr.read()

    threads = [threading.Thread(target=f, daemon=True) for f in (write, read, read_err)]
    for thread in threads:
        thread.start()
    code = proc.wait(timeout=600)
    if not stdin and threads[0].is_alive():
        # The command never opened the fifo: open it here so that the writer's open returns.
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    for thread in threads:
        thread.join(timeout=60)
    used = int(out.read_text()) * 1024
    return code, used, got["err"].decode("utf-8", "replace"), int(got["size"]), bytes(got["tail"])


@pytest.mark.slow
def test_scan_reads_a_gigabyte_line_in_bounded_memory_and_finds_the_secret_at_its_end(
    tmp_path: Path, small: Path
) -> None:
    _, base_peak, _ = peak("scan", str(small))
    code, used, err, _, out = _fed_peak(["scan", str(tmp_path / "big.txt")], tmp_path, stdin=False)
    assert code == 1, err[-2000:]
    assert "Traceback" not in err
    assert out.decode().splitlines() == [f"{tmp_path / 'big.txt'}:1: secret-option: …(20 chars)"]
    assert used - base_peak < STREAM_ALLOWANCE, f"scan took {(used - base_peak) >> 20} MB more"


@pytest.mark.slow
def test_redact_filters_a_gigabyte_line_in_bounded_memory(tmp_path: Path, small: Path) -> None:
    _, base_peak, _ = peak("redact", str(small))
    code, used, err, size, tail = _fed_peak(["redact"], tmp_path, stdin=True)
    assert code == 0, err[-2000:]
    assert err == ""
    piece = len(_text_piece())
    sent = len(b"start ") + (BIG // piece) * piece + len(b" --api-key " + KEY.encode() + b" end\n")
    assert tail.endswith(b" --api-key [REDACTED] end\n"), tail[-200:]
    assert size == sent - len(KEY) + len("[REDACTED]")  # every other byte went through
    assert used - base_peak < STREAM_ALLOWANCE, f"redact took {(used - base_peak) >> 20} MB more"


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["jsonl-first-line", "jsonl-second-line"])
def test_redact_refuses_a_gigabyte_record_in_bounded_memory_and_writes_only_whole_records(
    tmp_path: Path, small: Path, shape: str
) -> None:
    prefix, before, line = SHAPES[shape]
    big = sparse(tmp_path / "big.jsonl", prefix, before=before)
    _, base_peak, _ = peak("redact", str(small))
    out = tmp_path / "redacted.jsonl"
    with out.open("wb") as sink:
        done = subprocess.run(
            [sys.executable, "-c", _MEASURED, "redact", str(big)],
            stdout=sink,
            stderr=subprocess.PIPE,
            env={**os.environ, "PEAK_OUT": str(tmp_path / "peak")},
            check=False,
        )
    err = done.stderr.decode("utf-8", "replace")
    used = int((tmp_path / "peak").read_text()) * 1024
    assert done.returncode == 2, err[-2000:]
    assert "Traceback" not in err
    errors = [x for x in err.splitlines() if x.startswith("cab-trace: error:")]
    assert len(errors) == 1 and errors[0].startswith(f"cab-trace: error: {big}:{line}: line is longer than")
    assert "CAB_TRACE_MAX_LINE" in err
    # Nothing half-written: the records before the long one, whole, and nothing of it.
    whole = subprocess.run(
        [sys.executable, "-m", "cab_trace", "redact", str(small)], capture_output=True, check=True
    )
    assert out.read_bytes() == (whole.stdout if before else b"")
    assert used - base_peak < ALLOWANCE, f"redact took {(used - base_peak) >> 20} MB more"
