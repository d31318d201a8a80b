"""Inspect AI's ``.eval`` logs: a zip archive of JSON members (``header.json``, one
``samples/<id>_epoch_<n>.json`` per sample, ``_journal/`` while the eval runs), which Inspect
compresses with Zstandard (zip method 93; the stdlib's zipfile reads it only from Python 3.14).
Pure: bytes in, records out (:mod:`cab_trace.model.inspect_log` makes them).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from cab_trace.model.inspect_log import InspectLog
from cab_trace.model.record import RecordError, SpanRecord

Json = Any
#: Decompressed size allowed for one archive member (a sample), and for the whole archive.
MEMBER_LIMIT = 1 << 30
ARCHIVE_LIMIT = 4 << 30
_ZSTD = 93


def is_inspect_archive(names: list[str]) -> bool:
    """An ``.eval`` archive: a ``header.json`` or a ``_journal/start.json`` (while it runs)."""
    return "header.json" in names or "_journal/start.json" in names


# -- the archive -----------------------------------------------------------------------------------


def _decompress_zstd(raw: bytes, size: int) -> bytes:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - a dependency; the stdlib has it from 3.14
        try:
            from compression import zstd  # type: ignore[import-not-found]
        except ImportError:
            raise RecordError(
                "its members are Zstandard-compressed and no Zstandard decoder is installed "
                "(pip install zstandard)"
            ) from None
        return bytes(zstd.decompress(raw))
    return bytes(zstandard.ZstdDecompressor().decompress(raw, max_output_size=max(size, 1)))


def _member(data: bytes, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes; a damaged member (bad checksum, a compressed stream that does not
    decode, a method this reader does not know) is a RecordError naming it."""
    try:
        return _read_member(data, archive, info)
    except RecordError:
        raise
    except (zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError, OSError, ValueError) as exc:
        raise RecordError(f"{info.filename}: cannot be unpacked ({exc})") from None
    except Exception as exc:  # zstandard's ZstdError: its module is imported lazily
        if type(exc).__name__ != "ZstdError":
            raise
        raise RecordError(f"{info.filename}: the Zstandard data does not decode ({exc})") from None


def _read_member(data: bytes, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MEMBER_LIMIT:
        raise RecordError(f"{info.filename}: {info.file_size:,} bytes uncompressed, over the limit")
    if info.compress_type != _ZSTD:
        return archive.read(info)
    # zipfile does not know method 93: the member's bytes are after its local header.
    at = info.header_offset
    if data[at : at + 4] != b"PK\x03\x04":
        raise RecordError(f"{info.filename}: no local file header where the directory says")
    name_len, extra_len = struct.unpack("<HH", data[at + 26 : at + 30])
    start = at + 30 + name_len + extra_len
    out = _decompress_zstd(data[start : start + info.compress_size], info.file_size)
    if len(out) != info.file_size:
        raise RecordError(
            f"{info.filename}: decompressed to {len(out)} bytes, the directory says {info.file_size}"
        )
    return out


def _json_member(data: bytes, archive: zipfile.ZipFile, name: str) -> Json:
    try:
        return orjson.loads(_member(data, archive, archive.getinfo(name)))
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"{name}: not valid JSON ({exc})") from None


def archive_names(data: bytes) -> list[str] | None:
    """The member names of a zip archive, or None when ``data`` is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def records_from_eval_archive(data: bytes, warn: Callable[[str], None] | None = None) -> Iterator[SpanRecord]:
    """The records of an ``.eval`` archive.

    Raises:
        RecordError: not an Inspect archive, or a member that cannot be read.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise RecordError(f"not a readable zip archive ({exc})") from None
    with archive:
        names = archive.namelist()
        if not is_inspect_archive(names):
            raise RecordError(
                "a zip archive with no header.json or _journal/start.json: not an Inspect AI log"
            )
        if sum(i.file_size for i in archive.infolist()) > ARCHIVE_LIMIT:
            raise RecordError("the archive unpacks to more than 4 GiB")
        header = _json_member(
            data, archive, "header.json" if "header.json" in names else "_journal/start.json"
        )
        if not isinstance(header, dict) or not isinstance(header.get("eval"), dict):
            raise RecordError("header.json has no eval object")
        samples = sorted(n for n in names if n.startswith("samples/") and n.endswith(".json"))
        log = InspectLog(header)
        for name in samples:
            sample = _json_member(data, archive, name)
            if not isinstance(sample, dict):
                raise RecordError(f"{name}: not a sample object")
            yield from log.sample_records(sample)
        yield from log.eval_records()
        if "header.json" not in names and warn is not None:
            warn("the eval had not finished when this log was written (no header.json): read what it holds")
