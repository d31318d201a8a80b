"""Secret redaction. Pure: no I/O; stdlib, and google-re2 for the prefilter when installed.

Every span, every line of output and every file the harness writes passes through a
:class:`Redactor` before anything leaves the process. The reliable layer is *known*
secrets: values the harness itself hands to the agent (the adapter's key, the values of
secret-named environment variables, values named with ``--secret-env``), replaced
wherever they appear, whatever their shape, and so is every piece of one 16 characters or
longer. Where to look is found by one prefilter pass (``prefilter.py``); what to look at is
the text as it is and as a person would see it (``screen.py``); the rules are data
(``table.py``) and the name/value logic (``rules.py``). The Redactor itself is in
``redactor.py`` (the windows it looks in, ``windows.py``; the views it builds, ``gates.py``);
this module is the package's public surface.
"""

from __future__ import annotations

from collections.abc import Mapping

from cab_trace.redact.known import MIN_SECRET_LENGTH, PIECE
from cab_trace.redact.redactor import Redactor
from cab_trace.redact.rules import is_placeholder, is_secret_name
from cab_trace.redact.spans import REDACTED, Finding, apply
from cab_trace.redact.stream import StreamRedactor

__all__ = [
    "MIN_SECRET_LENGTH",
    "PIECE",
    "REDACTED",
    "Finding",
    "Redactor",
    "StreamRedactor",
    "apply",
    "is_secret_name",
    "secrets_from_env",
]


#: Values of secret-*named* environment variables shorter than this are flags and switches
#: ("1", "true", "none"), not credentials.
MIN_ENV_SECRET_LENGTH = 8


def secrets_from_env(env: Mapping[str, str]) -> list[str]:
    """The values of secret-named variables in ``env`` that are long enough to be credentials
    (a path to a credentials file, or another variable's name, is not one)."""
    return [
        value
        for name, value in env.items()
        if is_secret_name(name) and len(value) >= MIN_ENV_SECRET_LENGTH and not is_placeholder(value)
    ]
