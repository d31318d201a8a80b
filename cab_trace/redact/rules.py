"""What counts as a secret in free text. Pure: stdlib only.

Each rule finds *where* a secret is (the ``secret`` group of its pattern); the redactor
replaces only that part, so ``Authorization: Bearer [REDACTED]`` and
``OPENAI_API_KEY=[REDACTED]`` keep the context a reader of a trace needs.

Written for this project after reading gitleaks' and detect-secrets' rule sets. Two
principles keep it precise: provider tokens are matched by their fixed prefixes (the
industry's way of making tokens recognisable), and generic context rules (``name=value``,
``"name": "value"``) fire only for names that *end* in a secret word, with values that are
not placeholders. Long hex strings on their own (digests, git SHAs, trace ids) are never
secrets here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: Words that make a name secret when they are its last word: ``OPENAI_API_KEY``, ``authToken``.
SECRET_WORDS = frozenset(
    {
        "KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "PASSPHRASE",
        "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH", "AUTHORIZATION", "PAT", "COOKIE",
    }
)  # fmt: skip
#: Words that make a name secret wherever they stand (``SECRET_KEY_BASE``, ``DB_PASSWORD_HASH``)...
STRONG_WORDS = frozenset({"SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "APIKEY"})
#: ...unless the name ends in one of these: then it names where a secret is, not the secret.
POINTER_WORDS = frozenset(
    {
        "FILE",
        "PATH",
        "DIR",
        "ENV",
        "NAME",
        "VAR",
        "URL",
        "LIMIT",
        "LENGTH",
        "COUNT",
        "TYPE",
        "ID",
        "HEADER",
        "PREFIX",
        "FORMAT",
        "MODE",
        "POLICY",
        "STRENGTH",
    }
)
#: Last words that are ambiguous alone (``key``, ``auth``) or after a data-structure word
#: (``sort_key=name``, ``primary_key=id``): then the value must look like a credential too.
WEAK_WORDS = frozenset({"KEY", "AUTH", "PASS", "PAT", "COOKIE"})
DATA_WORDS = frozenset(
    {
        "SORT", "PRIMARY", "FOREIGN", "CACHE", "PARTITION", "GROUP", "LOOKUP", "HASH", "DICT", "MAP",
        "UNIQUE", "COMPOSITE", "INDEX", "ROW", "SHARD", "ROUTING", "IDEMPOTENCY", "SEARCH", "MEMO",
        "STATE", "RANGE", "SECONDARY", "KEYBOARD", "HOT", "SHORTCUT", "DEDUP", "JOIN", "ORDER", "MERGE",
        "NEXT", "PREV", "LAST", "FIRST", "CURSOR", "PAGE", "RESUME", "OBJECT", "S3", "FILE", "TABLE",
    }
)  # fmt: skip
#: Values that stand for a secret without being one.
_PLACEHOLDER_VALUE = re.compile(
    r"(?i)^(\[REDACTED\]|\*+|x{4,}|\.+|<.*|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%[A-Za-z_]+%|\{\{.*\}\}|"
    r"\{[A-Za-z_]+\}|none|null|nil|true|false|yes|no|undefined|changeme|redacted|secret|password|"
    r"your[-_ ]?(api[-_ ]?)?key(\s*here)?|env|os\.environ.*|process\.env.*|getenv.*)$"
)
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def name_words(name: str) -> list[str]:
    """``OPENAI_API_KEY`` -> OPENAI, API, KEY; ``apiKey`` -> API, KEY; ``--auth-token`` -> AUTH, TOKEN."""
    return [w for w in re.split(r"[^A-Za-z0-9]+", _CAMEL.sub(r"\1_\2", name).upper()) if w]


@functools.lru_cache(maxsize=4096)  # logs repeat the same few names endlessly
def is_secret_name(name: str) -> bool:
    """Whether a variable, option or field name says its value is a secret.

    ``MAX_TOKENS``, ``TOKENIZER``, ``--token-limit``, ``API_KEY_FILE`` and ``--secret-env``
    are not; ``CAB_KEY``, ``GITHUB_TOKEN``, ``--api-key``, ``clientSecret`` are.
    """
    words = name_words(name)
    if not words:
        return False
    last = words[-1]
    if last in SECRET_WORDS or (last.endswith("KEY") and last != "KEY" and len(last) <= 8):
        return True  # APIKEY, PRIVKEY, ...
    return last not in POINTER_WORDS and any(w in STRONG_WORDS for w in words)


def is_weak_name(name: str) -> bool:
    """``key``, ``auth``, ``sort_key``: secret-named, but too often not a secret to trust the name alone."""
    words = name_words(name)
    if not words or words[-1] not in WEAK_WORDS or any(w in STRONG_WORDS for w in words):
        return False
    return len(words) == 1 or words[-2] in DATA_WORDS


def looks_like_credential(value: str) -> bool:
    """A value long and mixed enough to be a key rather than an identifier such as ``name`` or ``id``."""
    return (
        len(value) >= 12
        and not any(c.isspace() for c in value)
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    )


def is_placeholder(value: str) -> bool:
    return not value.strip() or bool(_PLACEHOLDER_VALUE.match(value.strip()))


def secret_value(name: str, value: str) -> bool:
    """Whether ``value``, given under ``name``, is to be redacted."""
    if not is_secret_name(name) or is_placeholder(value) or len(value) < 4:
        return False
    return not is_weak_name(name) or looks_like_credential(value)


TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

#: A span of text that a rule says is secret: (start, end, rule name).
Span = tuple[int, int, str]


@dataclass(frozen=True)
class Rule:
    """A secret pattern, found fast: ``str.find`` for each of ``literals`` (lowercase when
    ``ignore_case``), then ``pattern`` matched *at* each occurrence; group ``secret`` is the
    secret. Python's ``re`` has no multi-literal scan, and a pattern that starts with a
    look-behind is tried at every position; this keeps the regex off the rest of the text.
    """

    name: str
    literals: tuple[str, ...]
    pattern: re.Pattern[str]
    ignore_case: bool = False
    #: Whole tokens only: no token character right before the literal or right after the match.
    token: bool = False
    #: Extra check on a match (is the value a real one rather than a placeholder?).
    accept: Callable[[re.Match[str]], bool] | None = None
    #: The literal must start a word (``authorization``, not ``xauthorization``).
    word_start: bool = True

    def find(self, text: str, lowered: str) -> Iterator[Span]:
        haystack = lowered if self.ignore_case else text
        for literal in self.literals:
            i = haystack.find(literal)
            while i != -1:
                span = self._at(text, i)
                if span is not None:
                    yield span
                i = haystack.find(literal, i + 1)

    def _at(self, text: str, i: int) -> Span | None:
        before = text[i - 1] if i else ""
        if before and (before in TOKEN_CHARS if self.token else self.word_start and before in _WORD_CHARS):
            return None
        m = self.pattern.match(text, i)
        if m is None or (self.token and m.end() < len(text) and text[m.end()] in TOKEN_CHARS):
            return None
        if self.accept is not None and not self.accept(m):
            return None
        return (m.start("secret"), m.end("secret"), self.name)


def _token(name: str, regex: str, *literals: str) -> Rule:
    return Rule(name, literals, re.compile(f"(?P<secret>{regex})"), token=True)


def _not_placeholder(m: re.Match[str]) -> bool:
    return not is_placeholder(m.group("secret"))


TOKEN_RULES: tuple[Rule, ...] = (
    _token("anthropic-api-key", r"sk-ant-[A-Za-z0-9_-]{20,}", "sk-ant-"),
    _token("openrouter-api-key", r"sk-or-[A-Za-z0-9_-]{20,}", "sk-or-"),
    _token("openai-api-key", r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}", "sk-"),
    _token(
        "stripe-secret-key",
        r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
        "sk_live_",
        "sk_test_",
        "rk_live_",
        "rk_test_",
    ),
    _token("github-token", r"gh[pousr]_[A-Za-z0-9]{30,}", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    _token("github-fine-grained-token", r"github_pat_[A-Za-z0-9_]{30,}", "github_pat_"),
    _token("gitlab-token", r"glpat-[A-Za-z0-9_-]{20,}", "glpat-"),
    _token("aws-access-key-id", r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}", "AKIA", "ASIA", "ABIA", "ACCA"),
    _token("slack-token", r"xox[abposr]-[A-Za-z0-9-]{10,}", "xox"),
    _token("slack-app-token", r"xapp-[0-9]-[A-Za-z0-9-]{10,}", "xapp-"),
    _token("google-api-key", r"AIza[0-9A-Za-z_-]{35}", "AIza"),
    _token("huggingface-token", r"hf_[A-Za-z0-9]{30,}", "hf_"),
    _token("nvidia-api-key", r"nvapi-[A-Za-z0-9_-]{20,}", "nvapi-"),
    _token("groq-api-key", r"gsk_[A-Za-z0-9]{40,}", "gsk_"),
    _token("xai-api-key", r"xai-[A-Za-z0-9]{40,}", "xai-"),
    _token("npm-token", r"npm_[A-Za-z0-9]{36}", "npm_"),
    _token("pypi-token", r"pypi-AgE[A-Za-z0-9_-]{50,}", "pypi-AgE"),
    _token("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "eyJ"),
)

CONTEXT_RULES: tuple[Rule, ...] = (
    Rule(
        "private-key",
        ("-----BEGIN ",),
        re.compile(
            r"(?P<secret>-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----.*?"
            r"-----END (?P=kind)PRIVATE KEY( BLOCK)?-----)",
            re.DOTALL,
        ),
    ),
    Rule(
        "authorization-header",
        ("authorization",),
        re.compile(
            r"(?i)authorization[ \t]*[:=][ \t]*[\"']?"
            r"(?:(?:bearer|basic|token|bot|digest|apikey)[ \t]+)?(?P<secret>[^\s\"',;]{4,})"
        ),
        ignore_case=True,
    ),
    Rule("bearer-token", ("Bearer",), re.compile(r"Bearer[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)")),
    Rule(
        "api-key-header",
        ("x-api-key", "api-key", "x-auth-token", "x-goog-api-key"),
        re.compile(
            r"(?i)(?:x-api-key|api-key|x-auth-token|x-goog-api-key)[ \t]*:[ \t]*[\"']?"
            r"(?P<secret>[^\s\"',;]{4,})"
        ),
        ignore_case=True,
        accept=_not_placeholder,
    ),
    Rule(
        "url-password",
        ("://",),
        re.compile(r"://[^\s/:@\"'<>]+:(?P<secret>[^\s/@\"'<>]+)@"),
        accept=_not_placeholder,
        word_start=False,  # "://" follows the scheme
    ),
)

# -- values given under a secret name: NAME=value, --name value, "name": "value" ---------------

#: Where a secret name can end: its last word, searched for case-insensitively.
_NAME_ENDINGS = tuple(sorted(w.lower() for w in SECRET_WORDS))
#: One pattern per word: a literal prefix lets ``re`` scan in C, and the look-ahead drops
#: "tokens" and "keyboard" there too, so only real candidates reach Python.
_ENDING_PATTERNS = tuple(re.compile(f"{word}(?![a-z0-9_])") for word in _NAME_ENDINGS)
#: Strings up to this long are first checked with one regex pass (all anchors, all secret words)
#: before the per-rule and per-word scans; nearly every longer text holds one, so it skips that.
SHORT_TEXT = 4096
#: Any secret word at all: one pass that lets a short string with none skip the per-word scans.
_ANY_ENDING = re.compile("|".join(sorted(_NAME_ENDINGS, key=len, reverse=True)))
_UNQUOTED_END = ".,:;!?"
_AFTER_NAME = re.compile(r"(?P<kq>[\"'])?[ \t]?(?P<op>=(?![=~])|:)[ \t]*|(?P<sp>[ \t]+)")
_VALUE = re.compile(r"(?P<q>[\"'])(?P<qv>[^\"'\n]+)(?P=q)|(?P<uv>[^\s\"'&;|,)}\]]+)")


def find_named_values(text: str, lowered: str) -> Iterator[Span]:
    """Values given under a secret name: ``NAME=value`` (shell, env files, ``-e``, URLs),
    ``--name value`` and ``--name=value`` (a command line inside free text), ``"name": "value"``
    and ``name: value`` (JSON, YAML, logs). Found from the secret word backwards rather than by
    trying every word of the text."""
    if len(text) <= SHORT_TEXT and _ANY_ENDING.search(lowered) is None:
        return
    seen: set[int] = set()
    for ending in _ENDING_PATTERNS:
        for m in ending.finditer(lowered):
            end = m.end()
            start = m.start()
            while start > 0 and text[start - 1] in _NAME_CHARS:
                start -= 1
            if start in seen:
                continue
            seen.add(start)
            span = _named_value_at(text, start, end)
            if span is not None:
                yield span


def _named_value_at(text: str, start: int, end: int) -> Span | None:
    # Cheapest test first: nearly every candidate ("PASSED", "path") has no operator after it.
    after = _AFTER_NAME.match(text, end)
    if after is None:
        return None
    raw_name = text[start:end]
    dashes = len(raw_name) - len(raw_name.lstrip("-"))
    key_quote, op = after.group("kq"), after.group("op")
    if after.group("sp") is not None and not dashes:
        return None  # "api key here" is prose: only --options take their value after a space
    name = raw_name[dashes:].lstrip(".")
    if not name or not is_secret_name(name) or (dashes and name.lower().startswith("no-")):
        return None
    if key_quote and (start == 0 or text[start - 1] != key_quote):
        return None
    value = _VALUE.match(text, after.end())
    if value is None:
        return None
    quoted = value.group("q") is not None
    v_start, v_end = value.span("qv" if quoted else "uv")
    if not quoted:
        while v_end > v_start and text[v_end - 1] in _UNQUOTED_END:
            v_end -= 1  # sentence punctuation is not part of the value
    secret = text[v_start:v_end]
    if (dashes and secret.startswith("-")) or not secret_value(name, secret):
        return None
    if op == ":" and not (key_quote or quoted or "_" in name or "-" in name):
        # name: value -- prose says "Key: the point is ..." too; an unquoted one-word name counts
        # only for the strong words, with a password-like value.
        words = name_words(name)
        if not (
            len(words) == 1
            and words[0] in STRONG_WORDS
            and len(secret) >= 6
            and any(not c.isalpha() for c in secret)
        ):
            return None
    rule = "secret-option" if dashes else ("secret-assignment" if op == "=" else "secret-field")
    return (v_start, v_end, rule)


RULES: tuple[Rule, ...] = CONTEXT_RULES[:1] + TOKEN_RULES + CONTEXT_RULES[1:]
#: Every rule name, for ``scan`` output and documentation.
RULE_NAMES = (*(r.name for r in RULES), "secret-assignment", "secret-option", "secret-field", "known-secret")
