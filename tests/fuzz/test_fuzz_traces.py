"""Fuzz targets for trace files of every format cab-trace reads (its JSONL, OTLP/JSON lines and
documents, Jaeger JSON) and for terminal recordings, through every reader a command uses: the
streaming reader, the index (and each row's record), `validate`, `show`'s table, and the cast
index with each event's text. Whatever the bytes: records, or one TraceFileError naming the
file; never a traceback or a hang."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
from hypothesis import event, given
from hypothesis import strategies as st

from cab_trace.errors import CabTraceError
from cab_trace.model import read_records
from cab_trace.model.formats import read_trace
from cab_trace.model.index import open_index
from cab_trace.model.jaeger_json import jaeger_document
from cab_trace.model.otlp_json import traces_data
from cab_trace.show import render_index
from cab_trace.validate import validate_file
from replay.cast import read_cast
from tests.fuzz.inputs import FUZZ, mutated, values

DEMO = Path(__file__).resolve().parents[1] / "replay" / "fixtures" / "demo-run"
JSONL = (DEMO / "trace.jsonl").read_bytes()
RECORDS = list(read_records(DEMO / "trace.jsonl"))
OTLP_LINES = orjson.dumps(traces_data(RECORDS[:3])) + b"\n" + orjson.dumps(traces_data(RECORDS[3:])) + b"\n"
OTLP_PRETTY = json.dumps(traces_data(RECORDS), indent=2).encode()
JAEGER = orjson.dumps(jaeger_document(RECORDS))
CAST = (DEMO / "terminal.cast").read_bytes()
CAST_V3 = (
    b'{"version": 3, "term": {"cols": 80, "rows": 24}}\n# a comment\n[0.1, "o", "a\\u001b[31mb"]\n'
    b'[0.2, "r", "100x30"]\n[0.1, "m", "mark"]\n[0.3, "x", "0"]\n'
)
SEEDS = [JSONL, OTLP_LINES, OTLP_PRETTY, JAEGER]


@st.composite
def json_lines(draw: st.DrawFn) -> bytes:
    """Lines that are JSON values of any shape, some of them near a record."""
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            record = orjson.loads(JSONL.splitlines()[0])
            record[draw(st.sampled_from(sorted(record)))] = draw(values)
            lines.append(json.dumps(record).encode("utf-8", "surrogatepass"))
        else:
            lines.append(json.dumps(draw(values)).encode("utf-8", "surrogatepass"))
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n"]))


trace_bytes = st.one_of(
    st.sampled_from(SEEDS).flatmap(mutated),
    json_lines(),
    st.binary(max_size=400),
)


@contextlib.contextmanager
def written(data: bytes, name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        yield path


@FUZZ
@given(data=trace_bytes)
def test_any_trace_file_through_every_reader(data: bytes) -> None:
    with written(data, "trace.jsonl") as path:
        try:
            records = list(read_trace(path, warn=lambda _m: None))
            event("read")
        except CabTraceError:
            records = None
        try:
            index = open_index(path, warn=lambda _m: None)
        except CabTraceError:
            # The index reads what the streaming reader reads: it refuses the same files.
            assert records is None
            return
        try:
            # A row's record is read from its line when asked for: a line the scan took only in
            # part is an error then, naming the file and line, as the stream's was at once.
            got = [index.record(row) for row in range(len(index))]
        except CabTraceError:
            assert records is None
            return
        finally:
            index.close()
        assert records is not None and got == records
        if got:
            list(render_index(index, width=100, full=True, warn=lambda _m: None))
        with contextlib.suppress(CabTraceError):
            validate_file(path)


@FUZZ
@given(data=st.one_of(st.sampled_from([CAST, CAST_V3]).flatmap(mutated), st.binary(max_size=300)))
def test_any_terminal_recording(data: bytes) -> None:
    with written(data, "terminal.cast") as path:
        try:
            cast = read_cast(path)
        except CabTraceError:
            return
        event("cast read")
        try:
            for i in range(len(cast)):
                cast.text(i)
                cast.text_tail(i, 8)
            cast.activity_ns()
        finally:
            cast.close()
