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

import re
from collections.abc import Callable
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


@dataclass(frozen=True)
class Rule:
    """A pattern whose group ``secret`` is the secret; ``name`` says what kind (for ``scan``)."""

    name: str
    pattern: re.Pattern[str]
    #: The cheap test run before the pattern: a lowercase literal that every match contains.
    keyword: str | None = None
    #: Extra check on a match (for context rules: is the name secret, is the value real?).
    accept: Callable[[re.Match[str]], bool] | None = None


def _token(name: str, regex: str, keyword: str | None) -> Rule:
    # Provider tokens: not preceded by a token character, not followed by one either.
    return Rule(name, re.compile(rf"(?<![A-Za-z0-9_-])(?P<secret>{regex})(?![A-Za-z0-9_-])"), keyword)


def _named_value(m: re.Match[str]) -> bool:
    return secret_value(m.group("name"), m.group("secret"))


def _field_value(m: re.Match[str]) -> bool:
    """``name: value``: prose says "Key: the point is..." too, so an unquoted one-word name
    counts only for the strong words, with a password-like value."""
    name, value = m.group("name"), m.group("secret")
    if not _named_value(m):
        return False
    if m.group("kq") or m.group("q") or "_" in name or "-" in name:
        return True
    words = name_words(name)
    return (
        len(words) == 1
        and words[0] in STRONG_WORDS
        and len(value) >= 6
        and any(not c.isalpha() for c in value)
    )


TOKEN_RULES: tuple[Rule, ...] = (
    _token("anthropic-api-key", r"sk-ant-[A-Za-z0-9_-]{20,}", "sk-ant-"),
    _token("openrouter-api-key", r"sk-or-[A-Za-z0-9_-]{20,}", "sk-or-"),
    _token("openai-api-key", r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}", "sk-"),
    _token("stripe-secret-key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}", "k_"),
    _token("github-token", r"gh[pousr]_[A-Za-z0-9]{30,}", "gh"),
    _token("github-fine-grained-token", r"github_pat_[A-Za-z0-9_]{30,}", "github_pat_"),
    _token("gitlab-token", r"glpat-[A-Za-z0-9_-]{20,}", "glpat-"),
    _token("aws-access-key-id", r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}", None),
    _token("slack-token", r"xox[abposr]-[A-Za-z0-9-]{10,}", "xox"),
    _token("slack-app-token", r"xapp-[0-9]-[A-Za-z0-9-]{10,}", "xapp-"),
    _token("google-api-key", r"AIza[0-9A-Za-z_-]{35}", "aiza"),
    _token("huggingface-token", r"hf_[A-Za-z0-9]{30,}", "hf_"),
    _token("nvidia-api-key", r"nvapi-[A-Za-z0-9_-]{20,}", "nvapi-"),
    _token("groq-api-key", r"gsk_[A-Za-z0-9]{40,}", "gsk_"),
    _token("xai-api-key", r"xai-[A-Za-z0-9]{40,}", "xai-"),
    _token("npm-token", r"npm_[A-Za-z0-9]{36}", "npm_"),
    _token("pypi-token", r"pypi-AgE[A-Za-z0-9_-]{50,}", "pypi-"),
    _token("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "eyj"),
)

CONTEXT_RULES: tuple[Rule, ...] = (
    Rule(
        "private-key",
        re.compile(
            r"(?P<secret>-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----.*?"
            r"-----END (?P=kind)PRIVATE KEY( BLOCK)?-----)",
            re.DOTALL,
        ),
        "private key",
    ),
    Rule(
        "authorization-header",
        re.compile(
            r"(?i)\b(?:proxy-)?authorization[ \t]*[:=][ \t]*[\"']?"
            r"(?:(?:bearer|basic|token|bot|digest|apikey)[ \t]+)?(?P<secret>[^\s\"',;]{4,})"
        ),
        "authorization",
    ),
    Rule("bearer-token", re.compile(r"\bBearer[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)"), "bearer"),
    Rule(
        "api-key-header",
        re.compile(
            r"(?i)\b(?:x-api-key|api-key|x-auth-token|x-goog-api-key)[ \t]*:[ \t]*[\"']?"
            r"(?P<secret>[^\s\"',;]{4,})"
        ),
        ":",
        lambda m: not is_placeholder(m.group("secret")),
    ),
    Rule(
        "url-password",
        re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/:@\"'<>]+:(?P<secret>[^\s/@\"'<>]+)@"),
        "://",
        lambda m: not is_placeholder(m.group("secret")),
    ),
    # NAME=value in shell, env files, argv elements and -e options; `export NAME="value"`.
    Rule(
        "secret-assignment",
        re.compile(
            r"(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)[ \t]?=(?![=~])[ \t]?"
            r"(?P<q>[\"'])?(?P<secret>(?(q)[^\"'\n]+|[^\s\"'&;|,)}\]]*[^\s\"'&;|,)}\].:!?]))"
        ),
        "=",
        _named_value,
    ),
    # --api-key VALUE and --api-key=VALUE inside free text (a shell string: bash -c 'aider --api-key ...').
    Rule(
        "secret-option",
        re.compile(
            r"(?<![A-Za-z0-9_-])--?(?P<name>[A-Za-z][A-Za-z0-9_-]*)(?:=|[ \t]+)"
            r"(?P<q>[\"'])?(?P<secret>(?(q)[^\"'\n]+|[^\s\"'&;|]*[^\s\"'&;|.,:!?]))"
        ),
        "-",
        lambda m: not m.group("secret").startswith("-") and _named_value(m),
    ),
    # "name": "value" in JSON, name: value in YAML-like output.
    Rule(
        "secret-field",
        re.compile(
            r"(?<![A-Za-z0-9_.-])(?P<kq>[\"'])?(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?(kq)(?P=kq))[ \t]*:[ \t]*"
            r"(?P<q>[\"'])?(?P<secret>(?(q)[^\"'\n]+|[^\s\"',}\]]*[^\s\"',}\].:;!?]))"
        ),
        ":",
        _field_value,
    ),
)

RULES: tuple[Rule, ...] = CONTEXT_RULES[:1] + TOKEN_RULES + CONTEXT_RULES[1:]
