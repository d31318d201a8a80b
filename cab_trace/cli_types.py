"""Argument types for the command line: each turns one flag's text into a value or raises
ValueError / ArgumentTypeError, which argparse reports as a usage error (exit 2) naming the
flag, before anything runs. A type's ``__name__`` is what argparse calls it in the message."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path


def seconds(text: str) -> float:
    """--timeout: a finite number of seconds, 0 or more (argparse turns a ValueError into exit 2)."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def positive(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


def byte_size(text: str) -> int:
    """A size as Docker writes it: bytes, or a number with b, k, m or g (powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(text)
    value = int(float(match[1]) * 1024 ** "bkmg".index((match[2] or "b").lower()))
    if value <= 0:
        raise ValueError(text)
    return value


def memory_limit(text: str) -> str:
    # Docker refuses less than 6 MiB only once the container is being created: say so now.
    if byte_size(text) < 6 * 1024 * 1024:
        raise ValueError(text)
    return text


def directory(text: str) -> Path:
    """--out, --runs-dir: a directory that may not exist yet, but not a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a directory")
    return path


seconds.__name__ = "number of seconds (0 or more)"
positive.__name__ = "positive number"
positive_int.__name__ = "positive integer"
byte_size.__name__ = "size (e.g. 500m, 2g)"
memory_limit.__name__ = "memory limit of 6m or more (e.g. 512m, 2g)"
