"""What counts as a secret in free text. Pure: stdlib only. The credential rules themselves
are data in ``table.py``; this module compiles them and holds what is judged in code: which
names are secret, which values only stand for one, and ``name=value`` in all its forms.

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from cab_trace.redact.table import ALL, RuleSpec

#: Words that make a name secret when they are its last word: ``OPENAI_API_KEY``, ``authToken``.
SECRET_WORDS = frozenset(
    {
        "KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "PASSPHRASE", "PWD",
        "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH", "AUTHORIZATION", "PAT", "COOKIE", "DSN",
    }
)  # fmt: skip
#: A last word that *ends* in one of these is secret too (``PGPASSWORD``, ``SSHPASS``, ``AUTHTOKEN``)...
SECRET_ENDINGS = ("PASSWORD", "PASSWD", "PASS", "TOKEN", "SECRET", "APIKEY", "PASSPHRASE")
#: ...but for these words.
NOT_SECRET_WORDS = frozenset(
    {"BYPASS", "COMPASS", "SURPASS", "OVERPASS", "UNDERPASS", "TRESPASS", "ENCOMPASS"}
)
#: Words that make a name secret wherever they stand (``SECRET_KEY_BASE``, ``DB_PASSWORD_HASH``)...
STRONG_WORDS = frozenset({"SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "APIKEY"})
#: ...unless the name ends in one of these: then it names where a secret is, not the secret.
POINTER_WORDS = frozenset(
    {
        "FILE", "PATH", "DIR", "ENV", "NAME", "VAR", "URL", "LIMIT", "LENGTH", "COUNT", "TYPE", "ID",
        "HEADER", "PREFIX", "FORMAT", "MODE", "POLICY", "STRENGTH", "REF", "ARN", "LOCATION", "FIELD",
        "SOURCE", "PROVIDER", "HELPER", "COMMAND", "CMD", "PROMPT", "REQUIRED", "EXPIRY", "EXPIRES", "TTL",
        "AGE", "LEN", "SIZE", "MIN", "MAX", "ENABLED", "DISABLED", "VERSION", "ALGORITHM", "STDIN",
    }
)  # fmt: skip
#: Names of variables that hold secrets although no word says so.
SECRET_NAME_PATTERNS = re.compile(
    r"(?i)^(?:TF_TOKEN_\w+|OTEL_EXPORTER_OTLP(?:_(?:TRACES|LOGS|METRICS))?_HEADERS|"
    r"(?:NPM|YARN|NODE)_AUTH_TOKEN|SSHPASS|PGPASSWORD|MYSQL_PWD|REDISCLI_AUTH|"
    r"[A-Z0-9_]*_(?:CONNECTION_STRING|CONN_STR|DATABASE_URL))$"
)
#: Words that make a name *not* secret wherever they stand: a public key is not a secret.
PUBLIC_WORDS = frozenset({"PUBLIC", "PUB", "PUBLISHABLE", "PUBKEY"})
_LIMIT_WORDS = frozenset({"MAX", "MIN", "NUM", "TOTAL", "COUNT", "N", "NO"})
#: Last words that are ambiguous alone (``key``, ``auth``): the value must look like a credential too.
WEAK_WORDS = frozenset({"KEY", "AUTH", "PASS", "PAT", "COOKIE", "PWD", "DSN"})
#: Option names that name a secret rather than give one, unless the value looks like a credential.
WEAK_OPTION_WORDS = frozenset({"SECRET", "SECRETS", "CREDENTIAL", "CREDENTIALS"})
#: ``sort_key``, ``cache_key``, ``idempotency_key``: a key into a data structure, never a secret.
DATA_WORDS = frozenset(
    {
        "SORT", "PRIMARY", "FOREIGN", "CACHE", "PARTITION", "GROUP", "LOOKUP", "HASH", "DICT", "MAP",
        "UNIQUE", "COMPOSITE", "INDEX", "ROW", "SHARD", "ROUTING", "IDEMPOTENCY", "SEARCH", "MEMO",
        "STATE", "RANGE", "SECONDARY", "KEYBOARD", "HOT", "SHORTCUT", "DEDUP", "JOIN", "ORDER", "MERGE",
        "NEXT", "PREV", "LAST", "FIRST", "CURSOR", "PAGE", "RESUME", "OBJECT", "S3", "FILE", "TABLE",
        "DEDUPLICATION", "DICTIONARY", "ENV", "CONFIG", "SETTING", "SETTINGS", "LABEL", "METRIC",
        "TRANSLATION", "I18N", "MESSAGE", "REGISTRY", "STORAGE", "LOCK", "QUEUE", "TOPIC", "EVENT",
        "FIELD", "COLUMN", "SSH", "GPG", "PGP", "HOST", "KNOWN", "TASK", "JOB", "RUN",
        "REQUEST", "RESPONSE", "CONTEXT", "PROMPT", "MODEL", "CHECKSUM", "ETAG", "VERSION",
    }
)  # fmt: skip
#: Values that stand for a secret without being one: recognised by their whole shape.
_PLACEHOLDER_VALUE = re.compile(
    r"(?i)^(?:\[REDACTED\]|\*+|x{3,}|\.{2,}|…|-+|_+|"
    r"<[A-Za-z][A-Za-z0-9 _.\-/]*>|<[^<>\n]* [^<>\n]*>|"  # <your key>, <API_KEY>, <generate with: ...>
    # $X and $x (not $ecretPa55: mixed case is a password's shape), ${X}, $(cmd), %X%
    r"(?-i:\$[A-Z_][A-Z0-9_]*|\$[a-z_][a-z0-9_]*)|\$\{[^}]*\}[`'\")\]}]*|\$\([^)]*\)|"
    r"%[A-Za-z_][A-Za-z0-9_]*%|"
    r"\{\{.*\}\}|\{[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z0-9_./-]+)?\}|#\{[^}]*\}|"  # {{x}} {x} {env:X} #{x}
    r"none|null|nil|true|false|yes|no|on|off|undefined|changeme|change[-_]?me|redacted|secret|password|"
    r"example|dummy|test|testing|placeholder|todo|tbd|string|str|bytes|int|bool|any|bearer|basic|digest|token|"
    r"your[-_ ]?(?:api[-_ ]?)?(?:key|token|secret|password)(?:[-_ ]?here)?|env|os\.environ.*|"
    r"process\.env.*|getenv.*|import\.meta\.env.*|(?:os\.)?getenv\(.*|settings\..*|config\..*)$"
)
#: An environment variable's name as a value (``"apiKey": "PI_API_KEY"``): a pointer, not a secret.
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
#: Code: a dotted or bare identifier (``self.api_key``, ``apiKey``, ``opts.token``), a call.
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(?:(?:\.|\?\.|::|->)[A-Za-z_$][A-Za-z0-9_$]*)*(?:\(\))?$")
#: ``{**defaults``, ``{name!r``, ``{name``: a dict spread or a format field cut at its brace.
_BRACED_CODE = re.compile(r"^\{\*{0,2}[A-Za-z_][\w.]*(?:![rsa])?$")
_CODE = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|\?\.|::|->)[A-Za-z_$][\w$]*)*[(\[<].*$")
_CODE_ROOTS = frozenset(
    {
        "self", "this", "cls", "os", "process", "env", "environ", "config", "cfg", "conf", "settings",
        "opts", "options", "args", "argv", "kwargs", "ctx", "context", "req", "request", "params", "props",
        "secrets", "vars", "inputs", "app", "import", "window", "globalthis", "std", "sys", "creds",
        "credentials", "auth", "client", "session", "state", "store", "user", "data", "body", "headers",
        "payload", "response", "res", "result", "opt", "flags", "cli", "parser", "values", "input", "keys",
        "tokens", "var", "local", "module", "each", "steps", "needs", "github", "matrix", "vault",
    }
)  # fmt: skip
_PATH = re.compile(r"^(?:~|\.{1,2}|[A-Za-z]:)?[/\\](?:[\w.@%+=,-]+[/\\]?)+$|^(?:~|\.{1,2})$")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def name_words(name: str) -> list[str]:
    """``OPENAI_API_KEY`` -> OPENAI, API, KEY; ``apiKey`` -> API, KEY; ``--auth-token`` -> AUTH, TOKEN."""
    return [w for w in re.split(r"[^A-Za-z0-9]+", _CAMEL.sub(r"\1_\2", name).upper()) if w]


def _secret_last_word(word: str) -> bool:
    if word in SECRET_WORDS:
        return True
    if word in NOT_SECRET_WORDS:
        return False
    if word.endswith(SECRET_ENDINGS):
        return True
    return (
        word.endswith("KEY") and word != "KEY" and len(word) <= 8 and word not in DATA_WORDS
    )  # APIKEY, PRIVKEY


@functools.lru_cache(maxsize=4096)  # logs repeat the same few names endlessly
def is_secret_name(name: str) -> bool:
    """Whether a variable, option or field name says its value is a secret.

    ``MAX_TOKENS``, ``TOKENIZER``, ``--token-limit``, ``API_KEY_FILE``, ``--secret-env``,
    ``public_key``, ``cache_key`` and ``PWD`` are not; ``CAB_KEY``, ``GITHUB_TOKEN``,
    ``--api-key``, ``clientSecret``, ``PGPASSWORD``, ``MYSQL_PWD``, ``TF_TOKEN_app_terraform_io`` are.
    """
    if SECRET_NAME_PATTERNS.match(name.lstrip("-")):
        return True
    words = name_words(name)
    if not words or any(w in PUBLIC_WORDS for w in words) or (len(words) > 1 and words[0] in _LIMIT_WORDS):
        return False  # public_key, max_token, num_keys
    last = words[-1]
    if last in ("PWD", "DSN") and len(words) == 1:
        return False  # $PWD is the working directory
    if (
        last in WEAK_WORDS
        and len(words) > 1
        and words[-2] in DATA_WORDS
        and not any(w in STRONG_WORDS for w in words)
    ):
        return False  # cache_key, idempotency_key, ssh_key (a path), sort_key
    if _secret_last_word(last):
        return True
    return last not in POINTER_WORDS and any(w in STRONG_WORDS for w in words)


def is_weak_name(name: str, option: bool = False) -> bool:
    """``key``, ``auth``, ``pat``: secret-named, but too often not a secret to trust the name alone;
    as an option, ``--secret`` too (``docker build --secret id=npmrc``, ``gcloud ... --secret=db-password``
    name a secret)."""
    words = name_words(name)
    return len(words) == 1 and (words[0] in WEAK_WORDS or (option and words[0] in WEAK_OPTION_WORDS))


def looks_like_credential(value: str) -> bool:
    """A value long and mixed enough to be a key rather than an identifier such as ``name`` or ``id``."""
    if len(value) < 12 or any(c.isspace() for c in value) or _UUID.match(value) or _is_slug(value):
        return False
    if is_named_identifier(value) or _SPEC.search(value):
        return False  # strings.TrimSpace, configOutputModule; id=npmrc,src=~/.npmrc
    if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
        return True
    # Base64 without digits (dXNlcjpwYXNz): long, both cases.
    return len(value) >= 16 and any(c.isupper() for c in value) and any(c.islower() for c in value)


_SLUG = re.compile(r"^[a-z0-9]+(?:[-._/:@][a-z0-9]+)+$")
#: ``id=npmrc,src=...``: a specification of where a secret is (docker build --secret), not one.
_SPEC = re.compile(r"^[a-z]+=[^=]|,[a-z]+=")
#: Reserved words and literals of the languages agents write: a value that is one is code.
CODE_WORDS = frozenset(
    {
        "await", "async", "new", "yield", "lambda", "function", "typeof", "void", "return", "not",
        "None", "null", "nil", "undefined", "True", "False", "true", "false", "self", "this", "super",
        "if", "else", "for", "while", "in", "is", "and", "or", "of", "from", "import", "def", "fn", "let",
        "const", "var", "mut", "ref", "move", "impl", "dyn", "pub", "static", "struct", "class",
        "interface", "type", "enum", "match", "case", "when", "try", "catch", "throw", "raise", "with",
        "as", "do", "then", "fi", "done", "esac", "local", "readonly", "declare", "unset", "err", "ok",
    }
)  # fmt: skip
_IDENT_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


@functools.lru_cache(maxsize=4096)
def is_named_identifier(value: str) -> bool:
    """A name a person gave to a thing in code (``configOutputModule``, ``strings.TrimSpace``,
    ``Session``, ``refresh``, ``ctx.token``): words of letters joined by ``_``, ``.`` or case
    changes, or a reserved word. A random string of letters breaks into one-letter pieces
    (``QWxhZGRpbjpv``); a password with a digit (``hunter2``) is no name."""
    v = value.strip()
    if v in CODE_WORDS:
        return True
    if not _IDENTIFIER.match(v) or any(c.isdigit() for c in v):
        return False
    pieces = [p for p in re.split(r"\?\.|::|->|[._$()]", v) if p]
    words = [w for p in pieces for w in _IDENT_WORD.findall(p)]
    if not words or len(words) > 8:
        return False
    # Words: two or more letters with a vowel (or an all-caps acronym of up to five: URL, HTTP, DB).
    return (
        all(
            (len(w) >= 2 and any(c in "aeiouyAEIOUY" for c in w)) or (w.isupper() and len(w) <= 5)
            for w in words
        )
        and sum(len(w) == 1 for w in words) <= 1
    )


def _is_slug(value: str) -> bool:
    """``claude-3-5-sonnet-20241022``, ``gpt-4o-2024-08-06``, ``v2.1.0-rc1``: short lowercase words
    and numbers joined by separators name things; keys are long runs of mixed characters."""
    return bool(_SLUG.match(value)) and all(len(part) <= 10 for part in re.split(r"[-._/:@]", value))


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _random_part(part: str) -> bool:
    """A path segment that looks generated rather than named (``bPxRfiCYEXAMPLEKEY7``)."""
    return (
        len(part) >= 16
        and any(c.isupper() for c in part)
        and any(c.islower() for c in part)
        and (any(c.isdigit() for c in part) or len(part) >= 24)
    )


def is_path(value: str) -> bool:
    """``/run/secrets/key``, ``~/.ssh/id_ed25519``, ``./creds.json``: where a secret is, not the secret."""
    if not _PATH.match(value) or "//" in value:
        return False
    parts = [p for p in re.split(r"[/\\]", value) if p]
    if value[0] in "/\\" and len(parts) < 2:
        return False  # "/K7MDENG" could be the start of a base64 key
    return not any(_random_part(p) for p in parts)


#: Words of the values that ``.env.example`` files and docs put where a secret goes.
_FILLER_WORDS = frozenset(
    {
        "your", "here", "insert", "replace", "change", "changeme", "example", "dummy", "fake", "sample",
        "placeholder", "enter", "put", "todo", "generate", "redacted", "xxx", "fill", "set", "real",
        "my", "secret", "password", "token", "key", "api", "goes", "value", "me", "with", "a", "long",
        "random", "string", "the", "of", "in", "to", "some", "test", "dev", "local", "development",
    }
)  # fmt: skip
_FILLER = re.compile(r"^[A-Za-z]+(?:[-_ .][A-Za-z]+)*$")
_FILLER_MARK = frozenset({"your", "here", "insert", "replace", "change", "changeme", "example", "dummy",
                          "fake", "sample", "placeholder", "enter", "put", "todo", "generate", "fill"})  # fmt: skip  # noqa: E501


def is_filler(value: str) -> bool:
    """``your-api-key-here``, ``replace-me-with-a-long-random-string``, ``sk-...``, ``sk_test_your_key``:
    what stands where a secret goes, in words (or trailing off with dots)."""
    v = value.strip()
    if v.endswith(("...", "…")) or ("xxxx" in v.lower() and len(re.sub(r"[xX\W_]", "", v)) <= 4):
        return True
    parts = [p for p in re.split(r"[-_ .]", v.lower()) if p]
    return (
        bool(_FILLER.match(v) or parts[:1] in (["sk"], ["pk"]))
        and any(p in _FILLER_MARK for p in parts)
        and sum(p not in _FILLER_WORDS for p in parts) <= 2
    )


def is_placeholder(value: str) -> bool:
    """Whether ``value`` stands for a secret (a variable, a template, a type, a path, an
    environment variable's name) rather than being one. By the value's whole shape: a real
    password that merely starts with ``$`` or ``<`` is a password."""
    v = value.strip()
    if not v or _PLACEHOLDER_VALUE.match(v) or _ENV_NAME.match(v) or is_path(v) or is_filler(v):
        return True
    if _CODE.match(v) or _BRACED_CODE.match(v):
        return True  # a call, a subscript or a generic type: getpass.getpass(), Optional[str], Option<String>
    if _IDENTIFIER.match(v):
        # A code reference (self.api_key, apiKey, opts.token) names a secret; an identifier-shaped
        # password (hunter2, Tr0ub4dor) does not: it has no secret word in it and no code root.
        parts = re.split(r"\?\.|::|->|\.", v.replace("$", ""))
        if parts[0].lower() in _CODE_ROOTS and len(parts) > 1:
            return True
        if len(parts) > 1:
            return any(w in SECRET_WORDS or w.endswith(SECRET_ENDINGS) for p in parts for w in name_words(p))
        return is_secret_name(v) and not any(c.isdigit() for c in v)
    return False


def secret_value(name: str, value: str, option: bool = False) -> bool:
    """Whether ``value``, given under ``name`` (an option's name with ``option``), is to be redacted."""
    if not is_secret_name(name) or is_placeholder(value) or len(value) < 4:
        return False
    return not is_weak_name(name, option) or looks_like_credential(value)


TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

#: A span of text that a rule says is secret: (start, end, rule name).
Span = tuple[int, int, str]
_SECRET_GROUPS = ("secret", "s2", "s3", "s4")


@dataclass(frozen=True)
class Rule:
    """A compiled :class:`~cab_trace.redact.table.RuleSpec`: run over a window of text that
    holds one of its keywords (the prefilter found the window)."""

    name: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]
    ignore_case: bool = False
    token: bool = False
    digits: bool = False
    trigger: str = ""
    multiline: bool = False
    accept: Callable[[str], bool] | None = None
    requires: re.Pattern[str] | None = None

    @classmethod
    def of(cls, spec: RuleSpec) -> Rule:
        flags = (re.IGNORECASE if spec.ignore_case else 0) | (re.DOTALL if spec.multiline else 0)
        keywords = tuple(k.lower() for k in spec.keywords)
        trigger = spec.trigger or "|".join(map(re.escape, spec.keywords))
        if (spec.ignore_case or not spec.trigger) and not trigger.startswith("(?i"):
            trigger = f"(?i)(?:{trigger})"
        return cls(
            spec.id,
            keywords,
            re.compile(spec.pattern, flags),
            spec.ignore_case,
            spec.token,
            spec.digits,
            trigger,
            spec.multiline,
            _accept(spec),
            re.compile(spec.requires) if spec.requires else None,
        )

    def applies(self, text: str, lowered: str) -> bool:
        """Whether ``text`` holds one of the keywords (compared case-insensitively, as gitleaks does)."""
        return any(k in lowered for k in self.keywords)

    def find(self, text: str, lowered: str = "") -> Iterator[Span]:
        """Every secret this rule finds in ``text``."""
        if self.requires is not None and not self.requires.search(text):
            return
        for m in self.pattern.finditer(text):
            group = next((g for g in _SECRET_GROUPS if g in m.re.groupindex and m.group(g) is not None), None)
            start, end = m.span(group) if group else m.span()
            if self.token and (
                (start > 0 and text[start - 1] in TOKEN_CHARS)
                or (end < len(text) and text[end] in TOKEN_CHARS)
            ):
                continue
            value = text[start:end]
            if self.digits and not any(c.isdigit() for c in value):
                continue
            if self.accept is not None and not self.accept(value):
                continue
            if end > start:
                yield (start, end, self.name)


def _accept(spec: RuleSpec) -> Callable[[str], bool] | None:
    if spec.token:
        return None
    if spec.shaped:
        return _shaped_value
    return _literal_value if spec.code_aware else _real_value


def _real_value(value: str) -> bool:
    return not is_placeholder(value)


#: ``n7.token?``, ``e.headers``, ``strings.TrimSpace``: member access in (minified) code.
_MEMBER = re.compile(r"^[A-Za-z_$][\w$]*(?:\??\.[A-Za-z_$][\w$]*)+")


def is_code(value: str) -> bool:
    """A name or an expression of code rather than a literal: a reserved word, a named identifier,
    or member access whose parts are names or minified short names (``n7.token?``). A JWT's
    dotted parts are long random runs, not names."""
    if is_named_identifier(value.rstrip("?!;:),")):
        return True
    m = _MEMBER.match(value)
    if m is None:
        return False
    parts = [p for p in re.split(r"\??\.", m.group()) if p]
    return all(len(p) <= 3 or is_named_identifier(p) for p in parts)


def _literal_value(value: str) -> bool:
    return not is_placeholder(value) and not is_code(value)


def _shaped_value(value: str) -> bool:
    return looks_like_credential(value) and not is_placeholder(value)


# -- values given under a secret name: NAME=value, --name value, "name": "value" ---------------

#: Where a secret name can end: its last word, searched for case-insensitively.
_NAME_ENDINGS = tuple(sorted({w.lower() for w in SECRET_WORDS} | {w.lower() for w in SECRET_ENDINGS}))
NAME_ENDINGS = (*_NAME_ENDINGS, "tf_token_", "otel_exporter_otlp")
_ENDING = re.compile("(?:" + "|".join(sorted(_NAME_ENDINGS, key=len, reverse=True)) + ")(?![a-z0-9_])")
_W = "(?:" + "|".join(_NAME_ENDINGS) + ")"
_W_UPPER = "(?:" + "|".join(w.upper() for w in _NAME_ENDINGS) + ")"
#: The endings that are secret alone (not ``key``, ``auth``, ``pass``: those need a credential's shape).
_W_STRONG = "(?:" + "|".join(w for w in _NAME_ENDINGS if w.upper() not in WEAK_WORDS) + ")"
#: ...and without ``secret``: a bare ``--secret`` names a secret more often than it gives one.
_W_OPTION = "(?:" + "|".join(w for w in _NAME_ENDINGS if w != "secret") + ")"
#: A value worth a look, at the place a value starts (RE2 syntax, shared by the prefilter and
#: :func:`find_named_values`, so the two agree): quoted; or unquoted with a digit or a symbol
#: (``hunter22``, ``S3cret!``, ``ab/cd+ef``); or 16+ letters (base64 without a digit). An
#: unquoted word of letters (``await``, ``config_output_module``, ``Session``) is code.
_VALUE_QUOTED = r"[\"'](?:[^\"'\s{$]|\$[^({\"'])[^\"'\n]*[\"']"
_VALUE_CHARS = r"[^\s\"'()\[\]{},;<>]"
#: ...ending where a value ends (not at ``(``: ``hashlib.sha256(...)`` is a call).
_VALUE_MARKED = (
    rf"(?:[0-9!@#^*+<]{_VALUE_CHARS}*|[^\s\"'$:=()\[\]{{}},;<>%\\/.~-]{_VALUE_CHARS}*?[0-9!@#%^*+/~]{_VALUE_CHARS}*)"
    r"(?:[\s\"',;)\]}>]|$)"
)
_VALUE_LONG = r"[A-Za-z-]{16}"
_VALUE_WORTH = f"(?:{_VALUE_QUOTED}|{_VALUE_MARKED}|{_VALUE_LONG})"
#: ``DB_PASSWORD=supersecret``: an environment assignment's value is a literal, whatever its letters.
_ENV_LETTERS = r"[A-Za-z]"
#: ``  password: supersecret`` alone on a YAML line: a literal too.
_YAML_LETTERS = r"(?-i:[a-z]{6,})[ \t]*(?:\r?\n|$)"
#: A header's name (``X-Api-Key``, ``x-auth-token``, ``Private-Token``) or one that starts with a
#: strong word and has a dash: only these take ``name:value`` with no space.
_DASHED = (
    "(?:(?:secret|password|passwd|passphrase|apikey)[a-z0-9_.]*-[a-z0-9_.-]*"
    f"|-(?:api[-_]?|auth[-_]?)?{_W})[._-]*"
)
_DASHED_NAME = re.compile(f"(?i){_DASHED}$")
#: What the prefilter looks for so that :func:`find_named_values` gets to run (RE2 syntax; an
#: over-approximation of what it finds).
#: The words that make a name secret wherever they stand (``SECRET_KEY_BASE``, ``--password-file``).
_STRONG = "(?:secret|password|passwd|passphrase|apikey)[a-z0-9_.-]*"
#: After the operator: ``=`` and any value worth a look; ``:`` and a quoted value, or a space
#: first (``{apiKey:y0.apiKey}`` is minified code; ``key: value`` is YAML, JSON, a log).
#: (``=>``: Perl, Ruby and PHP hashes; ``]``: ``config['SECRET_KEY'] = ...``; a YAML tag before a value.)
_OP_VALUE = f"\\]?[ \t]?(?:=>?[ \t]*{_VALUE_WORTH}|:[ \t]*{_VALUE_QUOTED}|:[ \t]+(?:!!?[a-z:/.-]*[ \t]+)?{_VALUE_WORTH})"  # noqa: E501
NAMED_TRIGGERS = (
    f"(?i){_W}[._-]*[\"']?[ \t]?{_OP_VALUE}",
    f"(?i){_STRONG}[a-z0-9_-][\"']?[ \t]?{_OP_VALUE}",
    # name:value with no space, when the name is a header's (X-Api-Key:abc123; see _DASHED_NAME)
    f"(?i){_DASHED}[ \t]?:{_VALUE_WORTH}",
    f"[A-Z0-9_]*{_W_UPPER}={_ENV_LETTERS}",
    # (that it is alone on its line is checked by _literal_context: a trigger anchored at every
    # line's start would cost the one pass a tenth of its speed)
    f"(?i){_W_STRONG}[\"']?[ \t]?:[ \t]*{_YAML_LETTERS}",
    f"(?i)(?:^|[^a-z0-9_.-])--?(?:[a-z0-9_.-]*{_W_OPTION}|[a-z0-9][a-z0-9_.-]*secret|[a-z0-9_.-]*{_STRONG}[a-z0-9_.-])"
    r"(?:[ \t]+|=)[^\s-]",
    r"(?i)(?:^|[^a-z0-9_.-])--?secret(?:[ \t]+|=)[\"']?[^\s\"'=,]*(?-i:[0-9A-Z])",
    r"(?i)(?:tf_token_|otel_exporter_otlp)[a-z0-9_]*[\"']?[ \t]?[=:]",
    f"(?i)(?:^|[^a-z0-9_.-])--?[a-z0-9_.-]*{_W}[\"'][ \t]*,[ \t]*[\"']",
)
#: The same, to find where in a window the named values are: without the character before an
#: option (a match's end may have taken it: ``Password=x;--api-key y``).
NAMED_REGION_TRIGGERS = tuple(t.replace("(?:^|[^a-z0-9_.-])", "") for t in NAMED_TRIGGERS)
_WORTH = re.compile(f"(?i){_VALUE_WORTH}")
_YAML_VALUE = re.compile(f"(?i){_YAML_LETTERS}")
_YAML_KEY_START = re.compile(r"[ \t]*(?:-[ \t]+)?[\"']?")
_UNQUOTED_END = ".,:;!?"
_AFTER_NAME = re.compile(
    r"(?P<kq>[\"'])?\]?[ \t]?(?P<op>=>|=(?![=~>])|:(?![:=]))[ \t]*|(?P<sp>[ \t]+)"
    r"|(?P<ja>[\"'][ \t]*,[ \t]*)(?=[\"'])"
)
_VALUE = re.compile(
    r"(?P<q>[\"'])(?P<qv>[^\"'\n]+)(?P=q)|(?P<uv>(?:\$\{[^}\s]*\}|<[^<>\n]*>|[^\s\"'&;|,)}\]])+)"
)
#: A word of prose after ``--api-key``: "--api-key requires a model".
_PROSE_WORD = re.compile(r"^[A-Za-z][a-z]*$")


#: How far past a named trigger's match a region reaches (see :func:`find_named_values`).
_REGION_REACH = 256


def _region_end(text: str, end: int) -> int:
    line_end = text.find("\n", end)
    return min(end + _REGION_REACH, len(text) if line_end == -1 else line_end)


def find_named_values(
    text: str, lowered: str, regions: Sequence[tuple[int, int]] | None = None
) -> Iterator[Span]:
    """Values given under a secret name: ``NAME=value`` (shell, env files, ``-e``, URLs),
    ``--name value`` and ``--name=value`` (a command line inside free text), ``"name": "value"``
    and ``name: value`` (JSON, YAML, logs). Found from each secret word to the whole name
    around it, then to the value after it; only from the words inside ``regions`` (where the
    prefilter's named triggers matched), if given."""
    seen: set[int] = set()
    if regions is None:
        endings: Iterable[re.Match[str]] = [*_ENDING.finditer(lowered), *_STRONG_INSIDE.finditer(lowered)]
        specials: Iterable[re.Match[str]] = _SPECIAL_NAME.finditer(text)
    else:
        # From the start of the name a region's trigger is in (the word it matched need not be the
        # one the name is judged by: KEY-----secret_x=... is found from "key").
        starts = [_name_start(text, a) for a, _ in regions]
        # The prefilter's matches do not overlap: one that ends inside the next name (the
        # "-Secret-..." of a known secret, then "password: x") hides that name's own match. So a
        # region reaches on along its line, as far as a name and its operator could start.
        ends = [_region_end(text, b) for _, b in regions]
        endings = [
            m
            for b, a in zip(ends, starts, strict=True)
            for pattern in (_ENDING, _STRONG_INSIDE)
            for m in pattern.finditer(lowered, a, b)
        ]
        specials = [m for a, b in regions for m in _SPECIAL_NAME.finditer(text, max(a - 64, 0), b)]
    for m in endings:
        start, end = m.start(), m.end()
        while start > 0 and text[start - 1] in _NAME_CHARS:
            start -= 1
        while end < len(text) and text[end] in _NAME_CHARS:
            end += 1
        # --auth-token: "auth" and "token" both end a word of the one name; judge the name once, whole.
        if start in seen:
            continue
        seen.add(start)
        span = _named_value_at(text, start, end)
        if span is not None:
            yield span
    for m in specials:
        span = _named_value_at(text, m.start(), m.end())
        if span is not None and m.start() not in seen:
            yield span


_SPECIAL_NAME = re.compile(
    r"(?i)(?<![A-Za-z0-9_.-])(?:TF_TOKEN_[A-Za-z0-9_]+|OTEL_EXPORTER_OTLP(?:_[A-Z]+)?_HEADERS)"
)


#: A word that makes a name secret wherever it stands, with more of the name after it (SECRET_KEY_BASE).
_STRONG_INSIDE = re.compile(r"(?:secret|password|passwd|passphrase|apikey)(?=[a-z0-9_.-])")


_YAML_TAG = re.compile(r"!!?[A-Za-z:/.-]*[ \t]+")


def _name_start(text: str, at: int) -> int:
    while at > 0 and text[at - 1] in _NAME_CHARS:
        at -= 1
    return at


def _named_value_at(text: str, start: int, end: int) -> Span | None:  # noqa: PLR0912
    # Cheapest test first: nearly every candidate ("PASSED", "path") has no operator after it.
    after = _AFTER_NAME.match(text, end)
    if after is None:
        return None
    raw_name = text[start:end].rstrip(".-")
    dashes = len(raw_name) - len(raw_name.lstrip("-"))
    key_quote, op = after.group("kq"), after.group("op")
    if after.group("sp") is not None and not dashes:
        return None  # "api key here" is prose: only --options take their value after a space
    if after.group("ja") is not None:
        # An argv written as JSON or a list: "--api-key", "value"
        key_quote = after.group("ja")[0]
        if not dashes:
            return None
    name = raw_name[dashes:].lstrip(".")
    if not name or not is_secret_name(name) or (dashes and name.lower().startswith("no-")):
        return None
    if key_quote and (start == 0 or text[start - 1] != key_quote):
        return None
    if not dashes and start > 0 and text[start - 1] in "${":
        return None  # ${CAB_API_KEY:3:18}, $API_KEY: a reference to a variable, not its value
    value_at = after.end()
    tag = _YAML_TAG.match(text, value_at) if op == ":" else None
    if tag is not None:
        value_at = tag.end()  # password: !!binary cGFz...: the value is after the tag
    value = _VALUE.match(text, value_at)
    if value is None:
        return None
    quoted = value.group("q") is not None
    v_start, v_end = value.span("qv" if quoted else "uv")
    if not quoted and not text.startswith("...", v_end - 3):  # "sk_test_..." trails off: a placeholder
        while v_end > v_start and text[v_end - 1] in _UNQUOTED_END:
            v_end -= 1  # sentence punctuation is not part of the value
    secret = text[v_start:v_end]
    if quoted and secret.startswith(("$(", "${")):
        return None  # "$(vault kv get ...)", "${X:?set X}": what a shell substitutes, not a literal
    if (
        op == ":"
        and not quoted
        and not dashes
        and after.end() == after.end("op")
        and not _DASHED_NAME.search(raw_name)
    ):
        # name:value with no space: minified code ({apiKey:y0.apiKey}), a URL, ${X:3:18}; a
        # header's name has a dash (X-Api-Key:abc123), an identifier never does.
        return None
    literal = not quoted and not dashes and _literal_context(text, start, raw_name, op, value_at)
    if not quoted and not dashes and not literal:  # noqa: SIM102
        # Code: ``result_token = await fetch(...)``, ``Batch(input_key=config_output_module)``,
        # ``auth_token: SecretStr``. What a name is bound to there is another name or an
        # expression; a literal has a digit or a symbol in it, or is a long run of letters.
        if not _WORTH.match(text, value_at) or is_named_identifier(secret):
            return None
    if (dashes and secret.startswith("-")) or not secret_value(name, secret, option=bool(dashes)):
        return None
    if after.group("sp") is not None and not quoted and _PROSE_WORD.match(secret):
        return None  # "--api-key requires a model": a word of prose, not a value
    if op == ":" and not (key_quote or quoted or literal or "_" in name or "-" in name):
        # name: value -- prose says "Key: the point is ..." too; an unquoted one-word name counts
        # only for the strong words, with a password-like value.
        words = name_words(name)
        if not (
            len(words) == 1
            and (words[0] in STRONG_WORDS or words[0].endswith(SECRET_ENDINGS))
            and len(secret) >= 6
            and any(not c.isalpha() for c in secret)
        ):
            return None
    rule = "secret-option" if dashes else ("secret-assignment" if op == "=" else "secret-field")
    return (v_start, v_end, rule)


def _literal_context(text: str, start: int, name: str, op: str | None, value_at: int) -> bool:
    """Where an unquoted value can only be a literal: an environment assignment
    (``DB_PASSWORD=supersecret``: an upper-case name, ``=`` with no space) or a YAML line that
    is nothing but ``password: supersecret``."""
    if op == "=":
        return text[start + len(name) : start + len(name) + 1] == "=" and name.isupper()
    if op == ":" and _YAML_VALUE.match(text, value_at):
        line_start = text.rfind("\n", 0, start) + 1
        return _YAML_KEY_START.fullmatch(text, line_start, start) is not None
    return False


RULES: tuple[Rule, ...] = tuple(Rule.of(spec) for spec in ALL)
TOKEN_RULES: tuple[Rule, ...] = tuple(r for r in RULES if r.token)
#: Every rule name, for ``scan`` output and documentation.
RULE_NAMES = (*(r.name for r in RULES), "secret-assignment", "secret-option", "secret-field", "known-secret")
