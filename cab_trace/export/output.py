"""Where an export writes: never over a file it reads, and whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from cab_trace.errors import UsageError


def refuse_overwriting(output: Path, inputs: Iterable[Path]) -> None:
    """A UsageError when ``output`` is one of the files being read: writing it would destroy
    the recording it is made from."""
    for source in inputs:
        with contextlib.suppress(OSError):  # an output that does not exist yet is no input
            if os.path.samefile(output, source):
                raise UsageError(
                    f"-o {output}: is {source}, which this export reads; writing it would destroy it",
                    hint="give -o another file",
                )


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[IO[bytes]]:
    """A file to write that becomes ``path`` only when the block ends without an error: an
    export stopped by a bad line leaves what was at ``path`` before, not half a file."""
    if path.is_dir():
        raise UsageError(f"-o {path}: is a directory; --format writes one file", hint="give -o a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"-o {path}: cannot be written ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
