"""asciicast v2 and v3 files: telling them apart, converting one version to the other exactly,
and a recording on its own as a one-span trace. Pure: lines of bytes in (a file handle is
one), records or lines out, streamed.

- v2 (https://docs.asciinema.org/manual/asciicast/v2/): header ``{"version": 2, "width",
  "height", …}``; events ``[time, code, data]``, ``time`` in seconds since the start.
- v3 (…/v3/): header ``{"version": 3, "term": {"cols", "rows", "type"?, "theme"?}, …}``; events
  ``[interval, code, data]``, seconds since the previous event; ``#`` lines are comments; the
  ``x`` event holds the exit status.

Times are carried in integer microseconds (what both versions write), so converting a long
recording does not drift by adding up floats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from cab_trace.model.imported import SpanDraft, span_id, trace_id
from cab_trace.model.record import RecordError, Scope, SpanRecord

SCOPE = Scope("cab_trace.import.asciicast", None)
#: Header keys each version defines (the others do not carry over).
V2_KEYS = (
    "version",
    "width",
    "height",
    "timestamp",
    "duration",
    "idle_time_limit",
    "command",
    "title",
    "env",
    "theme",
)
V3_KEYS = ("version", "term", "timestamp", "idle_time_limit", "command", "title", "env", "tags")


def header_version(obj: object) -> int | None:
    """2 or 3 when ``obj`` is an asciicast header with a positive size; None otherwise."""
    if not isinstance(obj, dict):
        return None
    version = obj.get("version")
    if version == 2:
        size: Any = obj
        keys = ("width", "height")
    elif version == 3:
        size, keys = obj.get("term"), ("cols", "rows")
    else:
        return None
    if not isinstance(size, dict):
        return None
    ok = all(isinstance(size.get(k), int) and not isinstance(size.get(k), bool) and size[k] > 0 for k in keys)
    return int(version) if ok else None


@dataclass
class Event:
    """One event: its time since the start (µs), code and data."""

    time_us: int
    code: str
    data: str


@dataclass
class Cast:
    header: dict[str, Any]
    version: int
    events: Iterator[Event]
    notes: list[str] = field(default_factory=list)


def _micros(value: object, number: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"line {number}: an event's time must be a number")
    try:
        us = int((Decimal(repr(value)) * 1_000_000).to_integral_value())
    except InvalidOperation:
        raise RecordError(f"line {number}: an event's time must be a finite number") from None
    if us < 0:
        raise RecordError(f"line {number}: an event's time must not be negative")
    return us


def read(lines: Iterable[bytes]) -> Cast:
    """The header and (lazily) the events of a v2 or v3 recording.

    Raises:
        RecordError: the header is not a v2/v3 header; (while iterating) an event is malformed.
    """
    it = iter(lines)
    first = next(it, b"")
    try:
        header = orjson.loads(first)
    except orjson.JSONDecodeError:
        raise RecordError("line 1: not an asciicast header (not JSON)") from None
    version = header_version(header)
    if version is None:
        raise RecordError(
            "line 1: not an asciicast v2 or v3 header (a version of 2 or 3 and a positive size)"
        )
    cast = Cast(header, version, iter(()))
    cast.events = _events(it, version, cast.notes)
    return cast


def _events(lines: Iterator[bytes], version: int, notes: list[str]) -> Iterator[Event]:
    clock = 0
    for number, raw in enumerate(lines, start=2):
        if not raw.strip() or (version == 3 and raw.lstrip().startswith(b"#")):
            continue
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            if not raw.endswith(b"\n"):
                # A recording cut off mid-line (the recorder was killed): what came before
                # stands, and what was lost is said.
                notes.append(
                    f"line {number}: the last line is incomplete (the recorder was probably killed "
                    f"mid-line); read the {number - 2} line(s) of events before it"
                )
                return
            raise RecordError(f"line {number}: not JSON") from None
        if not (isinstance(event, list) and len(event) == 3 and isinstance(event[1], str)):
            raise RecordError(f"line {number}: an event must be [time, code, data]")
        us = _micros(event[0], number)
        clock = clock + us if version == 3 else max(clock, us)
        data = event[2] if isinstance(event[2], str) else orjson.dumps(event[2]).decode()
        yield Event(clock, event[1], data)


def _seconds(us: int) -> bytes:
    """Seconds with up to six decimals, as asciinema writes them (``1.5``, ``0.000123``)."""
    whole, frac = divmod(us, 1_000_000)
    text = f"{whole}.{frac:06d}".rstrip("0")
    return (text + "0" if text.endswith(".") else text).encode()


def _line(time_us: int, code: str, data: str) -> bytes:
    return b"[" + _seconds(time_us) + b", " + orjson.dumps(code) + b", " + orjson.dumps(data) + b"]\n"


def convert_header(header: dict[str, Any], source: int, target: int) -> tuple[dict[str, Any], list[str]]:
    """The header in the ``target`` version, and what could not be carried over."""
    if source == target:
        return dict(header), []
    return _to_v2(header) if target == 2 else _to_v3(header)


def _to_v2(header: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    term: dict[str, Any] = header["term"] if isinstance(header.get("term"), dict) else {}
    out: dict[str, Any] = {"version": 2, "width": term.get("cols"), "height": term.get("rows")}
    out.update({k: header[k] for k in ("timestamp", "idle_time_limit", "command", "title") if k in header})
    env = dict(header["env"]) if isinstance(header.get("env"), dict) else {}
    if isinstance(term.get("type"), str):
        env.setdefault("TERM", term["type"])  # v2 keeps the terminal type in env
    if env:
        out["env"] = env
    if "theme" in term:
        out["theme"] = term["theme"]
    lost = [k for k in header if k not in V3_KEYS or k == "tags"]
    lost += [f"term.{k}" for k in term if k not in ("cols", "rows", "type", "theme")]
    return out, [f"v2 has no place for {', '.join(sorted(set(lost)))} (left out)"] if lost else []


def _to_v3(header: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    term: dict[str, Any] = {"cols": header["width"], "rows": header["height"]}
    env = dict(header["env"]) if isinstance(header.get("env"), dict) else {}
    if isinstance(env.get("TERM"), str):
        term["type"] = env.pop("TERM")
    if "theme" in header:
        term["theme"] = header["theme"]
    out: dict[str, Any] = {"version": 3, "term": term}
    out.update({k: header[k] for k in ("timestamp", "idle_time_limit", "command", "title") if k in header})
    if env:
        out["env"] = env
    lost = [k for k in header if k not in V2_KEYS or k == "duration"]
    return out, [f"v3 has no place for {', '.join(sorted(set(lost)))} (left out)"] if lost else []


def convert(lines: Iterable[bytes], target: int, notes: list[str] | None = None) -> Iterator[bytes]:
    """The recording as asciicast ``target`` (2 or 3), line by line. Output, input, resize and
    marker events keep their times to the microsecond; the idle-time limit stays in the header.
    v2 has no exit event: a v3 ``x`` event is left out and its status noted.

    Raises:
        RecordError: the input is not a v2/v3 recording.
    """
    cast = read(lines)
    header, header_notes = convert_header(cast.header, cast.version, target)
    if notes is not None:
        notes.extend(header_notes)
    yield orjson.dumps(header) + b"\n"
    previous = 0
    for event in cast.events:
        if target == 2:
            if event.code == "x":
                if notes is not None:
                    notes.append(f"v2 has no exit event: the exit status {event.data!r} is left out")
                continue
            yield _line(event.time_us, event.code, event.data)
        else:
            yield _line(event.time_us - previous, event.code, event.data)
        previous = event.time_us


def records_from_cast(
    lines: Iterable[bytes], name: str = "terminal recording", warn: Callable[[str], None] | None = None
) -> Iterator[SpanRecord]:
    """A recording on its own as one ``container`` span, from the header's timestamp (the Unix
    epoch when it has none) to its last event; markers are events, ``x`` the exit code. ``warn``
    gets what was lost (a last line cut off)."""
    cast = read(lines)
    header = cast.header
    digest = hashlib.sha256(orjson.dumps(header, option=orjson.OPT_SORT_KEYS) + name.encode())
    stamp = header.get("timestamp")
    start = (
        int(stamp * 1_000_000_000) if isinstance(stamp, int | float) and not isinstance(stamp, bool) else 0
    )
    trace = trace_id("asciicast", digest.hexdigest())
    title = header.get("title") or header.get("command") or name
    span = SpanDraft(trace, span_id(trace, "cast"), None, str(title), "container", start, start)
    size = header if cast.version == 2 else header["term"]
    a = span.attributes
    a.update(
        {
            "terminal_cast": name,
            "asciicast.version": cast.version,
            "asciicast.cols": size["width" if cast.version == 2 else "cols"],
            "asciicast.rows": size["height" if cast.version == 2 else "rows"],
        }
    )
    if isinstance(header.get("command"), str):
        a["process.command_line"] = header["command"]
    last = 0
    events = 0
    for event in cast.events:
        events += 1
        last = event.time_us
        if event.code == "m":
            span.event("marker", start + event.time_us * 1000, {"asciicast.marker": event.data})
        elif event.code == "x":
            try:
                a["exit_code"] = int(event.data)
            except ValueError:
                a["asciicast.exit"] = event.data
    a["asciicast.events"] = events
    span.end_ns = start + last * 1000
    for note in cast.notes:
        if warn is not None:
            warn(note)
    if start == 0:
        a["cab.import.timing"] = "no timestamp in the header: times start at the Unix epoch"
    return iter([span.record({"service.name": "asciicast"}, SCOPE)])
