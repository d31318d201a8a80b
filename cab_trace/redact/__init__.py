"""Secret redaction. Pure: stdlib only.

Every span, every line of output and every file the harness writes passes through a
:class:`Redactor` before anything leaves the process. The reliable layer is *known*
secrets: values the harness itself hands to the agent (the adapter's key, the values of
secret-named environment variables, values named with ``--secret-env``), replaced
literally wherever they appear, whatever their shape.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Mapping
from typing import TypeVar

REDACTED = "[REDACTED]"

#: A known secret shorter than this cannot be replaced without destroying ordinary text
#: (a key "ab" would blank every "ab"); the harness warns about such values instead.
MIN_SECRET_LENGTH = 4
#: Values of secret-*named* environment variables shorter than this are flags and switches
#: ("1", "true", "none"), not credentials.
MIN_ENV_SECRET_LENGTH = 8

_SECRET_NAME_PARTS = frozenset(
    {
        "KEY", "APIKEY", "TOKEN", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "PASSPHRASE",
        "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH", "AUTHORIZATION", "PAT", "PRIVATE", "COOKIE",
        "SESSION",
    }
)  # fmt: skip

T = TypeVar("T")


def is_secret_name(name: str) -> bool:
    """Whether an environment variable or option name looks like it holds a secret.

    Names are split into words (``OPENAI_API_KEY`` -> OPENAI, API, KEY; ``apiKey`` -> API, KEY),
    so that ``MAX_TOKENS`` or ``TOKENIZER`` are not taken for ``TOKEN``.
    """
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).upper().replace("-", "_").split("_")
    words = [w for w in words if w]
    if not words:
        return False
    return any(w in _SECRET_NAME_PARTS for w in words) or words[-1].endswith("KEY")


def secrets_from_env(env: Mapping[str, str]) -> list[str]:
    """The values of secret-named variables in ``env`` that are long enough to be credentials."""
    return [
        value for name, value in env.items() if is_secret_name(name) and len(value) >= MIN_ENV_SECRET_LENGTH
    ]


class Redactor:
    """Replaces secrets in text, argv, environments and attribute values.

    Args:
        known_secrets: values to replace literally wherever they appear. Values shorter
            than :data:`MIN_SECRET_LENGTH` are left out (see :attr:`too_short`).
    """

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        secrets = {s for s in known_secrets if s}
        self.too_short: list[str] = sorted(s for s in secrets if len(s) < MIN_SECRET_LENGTH)
        self._secrets = sorted((s for s in secrets if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)
        # Longest first, so that a secret containing another is replaced whole.
        self._known = re.compile("|".join(map(re.escape, self._secrets))) if self._secrets else None

    @property
    def known_secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    @property
    def longest_secret(self) -> int:
        return len(self._secrets[0]) if self._secrets else 0

    def with_secrets(self, more: Iterable[str]) -> Redactor:
        """A redactor that also knows ``more``."""
        return Redactor([*self._secrets, *self.too_short, *more])

    def text(self, text: str) -> str:
        """Free text: output, prompts, status messages."""
        if self._known is None or not text:
            return text
        return self._known.sub(REDACTED, text)

    def argv(self, argv: Iterable[str]) -> list[str]:
        """An argument vector: same length, flags kept, secret values replaced."""
        return [self.text(arg) for arg in argv]

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        """An environment: values of secret-named variables replaced whole, others redacted as text."""
        return {
            name: REDACTED if is_secret_name(name) and value else self.text(value)
            for name, value in env.items()
        }

    def value(self, value: T) -> T:
        """Any attribute value: strings and lists of strings redacted, others returned as they are."""
        if isinstance(value, str):
            return self.text(value)  # type: ignore[return-value]
        if isinstance(value, list | tuple) and any(isinstance(v, str) for v in value):
            return type(value)(self.text(v) if isinstance(v, str) else v for v in value)
        return value

    def stream(self) -> StreamRedactor:
        """A redactor for text that arrives in chunks."""
        return StreamRedactor(self)


class StreamRedactor:
    """Redacts a stream of byte chunks, catching a secret cut in two by a chunk boundary.

    After redacting what it has, it holds back the longest end of it that is the start of
    a known secret (a secret whose end has not arrived yet), and releases everything else
    at once, so live output is not delayed. :meth:`finish` releases the rest. Bytes are
    decoded as UTF-8 (invalid bytes become U+FFFD) so that a multi-byte character split
    across chunks is not broken.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, chunk: bytes) -> str:
        """Redacted text that is safe to emit now (possibly empty)."""
        text = self._redactor.text(self._pending + self._decoder.decode(chunk))
        cut = len(text) - _secret_prefix_at_end(text, self._redactor.known_secrets)
        self._pending = text[cut:]
        return text[:cut]

    def finish(self) -> str:
        """The rest, once the stream has ended."""
        text = self._redactor.text(self._pending + self._decoder.decode(b"", final=True))
        self._pending = ""
        return text


def _secret_prefix_at_end(text: str, secrets: Iterable[str]) -> int:
    """Length of the longest end of ``text`` that is a proper prefix of one of ``secrets``."""
    best = 0
    for secret in secrets:
        for length in range(min(len(secret) - 1, len(text)), best, -1):
            if text.endswith(secret[:length]):
                best = length
                break
    return best
