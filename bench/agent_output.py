"""A realistic generated corpus of what coding agents print, for redaction's precision and speed.

Deterministic from a seed: ``corpus(size, seed)`` returns the same text every time, so a test
and a bench hold the redactor to numbers on tens of MB without committing tens of MB. The text
is what an agent's terminal, its tool traffic and its diffs are made of: source code in
Python, TypeScript, Go, Rust and shell full of auth-flavoured identifiers (``result_token =
await fetch(...)``, ``Batch(input_key=config_output_module)``, ``apiKey: string``), build and
test logs, unified diffs, lockfiles (integrity hashes, checksums), minified JavaScript,
JSON tool calls with escaped code, Kubernetes and CI YAML that *refer* to secrets, and
``.env.example`` placeholders. None of it is a secret: every redaction in it is a false hit.

``with_secrets(text, every, seed)`` puts one real-looking credential (of a kind the redactor
must find) about every ``every`` characters, and returns where, so recall is measured on the
same text.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable

# -- vocabulary ------------------------------------------------------------------------------

_AUTH = ["token", "key", "secret", "auth", "password", "credential", "session", "cookie", "api_key"]
_NOUNS = [
    "input", "output", "result", "cache", "config", "module", "request", "response", "user", "client",
    "batch", "record", "item", "node", "entry", "page", "cursor", "state", "event", "message", "file",
    "buffer", "stream", "handler", "router", "schema", "model", "worker", "queue", "job", "task", "span",
    "trace", "metric", "row", "column", "index", "partition", "shard", "bucket", "object", "blob",
    "access", "refresh", "id", "sort", "lookup", "primary", "next", "prev", "parent", "child", "target",
]  # fmt: skip
_VERBS = [
    "get", "fetch", "load", "read", "parse", "build", "make", "create", "resolve", "validate", "verify",
    "refresh", "rotate", "issue", "revoke", "encode", "decode", "sign", "hash", "lookup", "find", "store",
    "save", "update", "merge", "split", "format", "render", "compute", "check", "ensure", "apply",
]  # fmt: skip
_TYPES_PY = ["str", "bytes", "int", "Token", "SecretStr", "Optional[str]", "dict[str, str]", "Key", "Session"]
_TYPES_TS = ["string", "Token", "Promise<string>", "ApiKey", "Buffer", "Record<string, string>", "Session"]
_WORDS = [
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "for",
    "is",
    "on",
    "that",
    "with",
    "as",
    "it",
    "this",
    "by",
    "be",
    "are",
    "from",
    "at",
    "or",
    "an",
    "we",
    "will",
    "not",
    "when",
    "function",
    "value",
    "returns",
    "error",
    "test",
    "tests",
    "file",
    "change",
    "update",
    "fix",
    "add",
    "remove",
    "call",
    "use",
    "case",
    "new",
    "request",
    "response",
    "handler",
    "before",
    "after",
    "instead",
    "because",
    "so",
    "then",
    "now",
    "make",
    "sure",
    "check",
    "run",
    "build",
]


class _Rng(random.Random):
    """A seeded generator that also says how often an identifier carries an auth word."""

    auth_scale = 1.0


def _snake(rng: random.Random, auth: float = 0.5) -> str:
    parts = [rng.choice(_NOUNS) for _ in range(rng.randint(1, 2))]
    if rng.random() < auth * getattr(rng, "auth_scale", 1.0):
        parts.append(rng.choice(_AUTH))
    return "_".join(parts)


def _camel(rng: random.Random, auth: float = 0.5) -> str:
    words = _snake(rng, auth).split("_")
    return words[0] + "".join(w.title() for w in words[1:])


def _pascal(rng: random.Random, auth: float = 0.5) -> str:
    return "".join(w.title() for w in _snake(rng, auth).split("_"))


def _func(rng: random.Random) -> str:
    return f"{rng.choice(_VERBS)}_{_snake(rng, 0.6)}"


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _b64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.randbytes(n)).decode()


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _sentence(rng: random.Random, n: int = 0) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n or rng.randint(5, 14)))


# -- code ------------------------------------------------------------------------------------


def _python_line(rng: random.Random, indent: str) -> str:  # noqa: PLR0912
    a, b, c = _snake(rng), _snake(rng), _snake(rng)
    k = rng.randrange(22)
    if k == 0:
        return f"{indent}{a} = await {rng.choice(['fetch', 'client.get', 'self._session.post'])}({b})"
    if k == 1:
        return f"{indent}{a} = {_pascal(rng)}({b}={c}, {_snake(rng)}={_snake(rng)})"
    if k == 2:
        return f"{indent}{a}: {rng.choice(_TYPES_PY)} = {rng.choice(['None', b, f'field(default={c})'])}"
    if k == 3:
        return f"{indent}self.{a} = {rng.choice(['config', 'settings', 'opts', 'kwargs'])}.{b}"
    if k == 4:
        return f'{indent}headers = {{"Authorization": f"Bearer {{{a}}}", "Content-Type": "application/json"}}'
    if k == 5:
        return f'{indent}if not {a}:\n{indent}    raise ValueError("missing {b.replace("_", " ")}")'
    if k == 6:
        return f'{indent}{a} = os.environ.get("{b.upper()}", "")'
    if k == 7:
        return f"{indent}{a} = hashlib.sha256({b}.encode()).hexdigest()"
    if k == 8:
        return f"{indent}return {_func(rng)}({a}, {b}=self.{c})"
    if k == 9:
        return f'{indent}logger.info("{rng.choice(_VERBS)} {b.replace("_", " ")} for %s", {c})'
    if k == 10:
        return f'{indent}{a} = payload["{b}"]'
    if k == 11:
        return f"{indent}for {a} in {b}.{rng.choice(['items()', 'keys()', 'values()'])}:"
    if k == 12:
        return f'{indent}assert {a} == {b}, f"{c}: {{{a}!r}}"'
    if k == 13:
        return f"{indent}{a} = {b}[{c}] if {c} in {b} else None"
    if k == 14:
        return f'{indent}{a} = {rng.choice(["token", "key", "secret"])}.split(".")[{rng.randint(0, 2)}]'
    if k == 15:
        return f"{indent}{a} = Batch(input_key={b}, output_key={c})"
    if k == 16:
        return f'{indent}password = getpass.getpass("{b.replace("_", " ")}: ")'
    if k == 17:
        return f"{indent}{a} = len({b}) + {rng.randint(1, 4096)}"
    if k == 18:
        return f"{indent}# {_sentence(rng)}"
    if k == 19:
        return f'{indent}{a} = {{**{b}, "{c}": {_snake(rng)}}}'
    if k == 20:
        return f'{indent}{a} = jwt.decode({b}, key={c}, algorithms=["HS256"])'
    return f"{indent}yield {a}"


def python_file(rng: random.Random) -> str:
    lines = [f'"""{_sentence(rng).capitalize()}."""', "", "from __future__ import annotations", ""]
    lines += [f"import {m}" for m in rng.sample(["os", "hashlib", "logging", "jwt", "getpass", "httpx"], 3)]
    lines.append("")
    for _ in range(rng.randint(2, 5)):
        cls = _pascal(rng)
        lines += ["", "", f"class {cls}:", f'    """{_sentence(rng).capitalize()}."""', ""]
        for _ in range(rng.randint(1, 4)):
            args = ", ".join(f"{_snake(rng)}: {rng.choice(_TYPES_PY)}" for _ in range(rng.randint(1, 3)))
            ret = rng.choice([*_TYPES_PY, "None"])
            asy = "async " if rng.random() < 0.4 else ""
            lines.append(f"    {asy}def {_func(rng)}(self, {args}) -> {ret}:")
            lines += [_python_line(rng, "        ") for _ in range(rng.randint(2, 9))]
            lines.append("")
    return "\n".join(lines) + "\n"


def _ts_line(rng: random.Random, indent: str) -> str:  # noqa: PLR0912
    a, b, c = _camel(rng), _camel(rng), _camel(rng)
    k = rng.randrange(16)
    if k == 0:
        return f"{indent}const {a} = await {rng.choice(['fetch', 'client.get', 'this.http.post'])}({b});"
    if k == 1:
        return f"{indent}const {{ {a}, {b} }} = await auth.{rng.choice(_VERBS)}({c});"
    if k == 2:
        return f"{indent}headers: {{ Authorization: `Bearer ${{{a}}}`, 'x-request-id': {b} }},"
    if k == 3:
        return f"{indent}const {a}: {rng.choice(_TYPES_TS)} = process.env.{_snake(rng).upper()} ?? '';"
    if k == 4:
        return f"{indent}{a}: {rng.choice(_TYPES_TS)};"
    if k == 5:
        return f"{indent}if (!{a}) throw new Error(`missing {b}`);"
    if k == 6:
        return f"{indent}{a}: config.{b},"
    if k == 7:
        return f"{indent}return this.{a}.{rng.choice(_VERBS)}({b}, {{ {c} }});"
    if k == 8:
        return f"{indent}const {a} = {b}?.{c} ?? null;"
    if k == 9:
        return f"{indent}// {_sentence(rng)}"
    if k == 10:
        return f"{indent}password: z.string().min({rng.randint(6, 12)}),"
    if k == 11:
        return f"{indent}expect({a}).toEqual({b});"
    if k == 12:
        return f"{indent}const {a} = jwt.sign({{ sub: {b} }}, {c}, {{ expiresIn: '1h' }});"
    if k == 13:
        return f"{indent}{a} = {b}.get({c}) as {rng.choice(_TYPES_TS)};"
    if k == 14:
        return f"{indent}const {a} = useMemo(() => {b}({c}), [{c}]);"
    return f"{indent}{a}.{b} = {c};"


def typescript_file(rng: random.Random) -> str:
    lines = [
        f"import {{ {_pascal(rng)}, {_camel(rng)} }} from './{_camel(rng)}';",
        f"import type {{ {_pascal(rng)} }} from '../types';",
        "",
    ]
    for _ in range(rng.randint(2, 5)):
        args = ", ".join(f"{_camel(rng)}: {rng.choice(_TYPES_TS)}" for _ in range(rng.randint(1, 3)))
        asy = "async " if rng.random() < 0.5 else ""
        lines.append(f"export {asy}function {_camel(rng, 0.7)}({args}): {rng.choice(_TYPES_TS)} {{")
        lines += [_ts_line(rng, "  ") for _ in range(rng.randint(2, 10))]
        lines += ["}", ""]
    return "\n".join(lines)


def go_file(rng: random.Random) -> str:
    lines = [f"package {rng.choice(_NOUNS)}", "", 'import (\n\t"context"\n\t"net/http"\n\t"os"\n)', ""]
    name = _pascal(rng)
    lines.append(f"type {name} struct {{")
    for _ in range(rng.randint(2, 6)):
        field = _pascal(rng)
        lines.append(f'\t{field} string `json:"{_snake(rng)}" yaml:"{_snake(rng)}"`')
    lines += ["}", ""]
    for _ in range(rng.randint(2, 4)):
        f = _pascal(rng, 0.7)
        lines.append(f"func (s *{name}) {f}(ctx context.Context, {_camel(rng)} string) (string, error) {{")
        a, b = _camel(rng), _camel(rng)
        lines += rng.sample(
            [
                f"\t{a}, err := s.client.{_pascal(rng)}(ctx, {b})",
                '\tif err != nil {\n\t\treturn "", err\n\t}',
                f'\treq.Header.Set("Authorization", "Bearer "+{a})',
                f'\t{b} := os.Getenv("{_snake(rng).upper()}")',
                f"\t{a} = strings.TrimSpace({b})",
                f'\tlog.Printf("{rng.choice(_VERBS)} {b}: %v", {a})',
                f"\treturn {a}, nil",
            ],
            rng.randint(3, 7),
        )
        lines += ["}", ""]
    return "\n".join(lines)


def rust_file(rng: random.Random) -> str:
    lines = ["use std::collections::HashMap;", "use anyhow::Result;", ""]
    name = _pascal(rng)
    lines.append(f"pub struct {name} {{")
    for _ in range(rng.randint(2, 5)):
        lines.append(
            f"    pub {_snake(rng)}: {rng.choice(['String', 'Vec<u8>', 'Option<String>', 'SecretKey'])},"
        )
    lines += ["}", "", f"impl {name} {{"]
    for _ in range(rng.randint(2, 4)):
        a, b = _snake(rng), _snake(rng)
        lines.append(f"    pub async fn {_func(rng)}(&self, {b}: &str) -> Result<String> {{")
        lines += rng.sample(
            [
                f"        let {a} = self.client.{_func(rng)}(&{b}).await?;",
                f"        let {b} = {_pascal(rng)}::from_bytes(&{a})?;",
                f'        let {a} = std::env::var("{_snake(rng).upper()}")?;',
                f"        let {a}: HashMap<String, String> = HashMap::new();",
                f'        tracing::debug!({a} = %{b}, "{_sentence(rng, 4)}");',
                f"        Ok({a}.to_string())",
            ],
            rng.randint(2, 6),
        )
        lines.append("    }")
    lines += ["}", ""]
    return "\n".join(lines)


def shell_script(rng: random.Random) -> str:
    var = _snake(rng).upper()
    lines = ["#!/usr/bin/env bash", "set -euo pipefail", ""]
    options = [
        f'export {var}="${{{var}:?set {var}}}"',
        f'echo "prefix: ${{CAB_AGENT_API_KEY:{rng.randint(0, 4)}:{rng.randint(8, 20)}}}"',
        f'echo "${{{var}:0:4}}...${{{var}: -4}}"',
        f"docker build --secret id={_snake(rng, 0).replace('_', '-')},src=$HOME/.npmrc -t app .",
        f"gcloud secrets versions access latest --secret={rng.choice(['db', 'api', 'app'])}-"
        f"{rng.choice(['password', 'token', 'key', 'secret'])}",
        f"kubectl create secret generic {_snake(rng, 0).replace('_', '-')} --from-env-file=.env",
        'TOKEN=$(gh auth token) && curl -sH "Authorization: Bearer $TOKEN" https://api.github.com/user',
        f'{var}="$(vault kv get -field={_snake(rng)} secret/{_snake(rng, 0)})"',
        f"aws ssm get-parameter --name /{_snake(rng, 0)}/{_snake(rng)} --with-decryption",
        f"read -rsp 'password: ' {var}",
        f'if [[ -z "${{{var}:-}}" ]]; then echo "{var} is not set" >&2; exit 1; fi',
        f'{_snake(rng)}=$({_func(rng)} "$1")',
        f"ssh-keygen -t ed25519 -f ~/.ssh/{_snake(rng, 0)} -N ''",
        "openssl rand -hex 32 > .secret_key",
        f"export {var}_FILE=/run/secrets/{_snake(rng)}",
    ]
    lines += rng.sample(options, rng.randint(4, 9))
    return "\n".join(lines) + "\n"


def env_example(rng: random.Random) -> str:
    placeholders = [
        "your-api-key-here", "changeme", "<your-token>", "replace-me-with-a-long-random-string", "",
        "xxxxxxxxxxxxxxxxxxxxxxxx", "sk-...", "your_secret_here", "<generate with: openssl rand -hex 32>",
        "${SECRET_FROM_VAULT}", "CHANGE_ME", "dummy", "placeholder", "***", "<password>", "TODO",
        "your-openai-api-key", "insert-token-here", "sk_test_your_key", "your-password",
    ]  # fmt: skip
    lines = [f"# {_sentence(rng)}", "# Copy to .env and fill in"]
    for _ in range(rng.randint(5, 12)):
        name = _snake(rng, 0.8).upper()
        lines.append(f"{name}={rng.choice(placeholders)}")
    lines += ["DEBUG=false", f"PORT={rng.randint(3000, 9000)}", "LOG_LEVEL=info"]
    return "\n".join(lines) + "\n"


# -- logs ------------------------------------------------------------------------------------


def pytest_log(rng: random.Random) -> str:
    mod = f"tests/test_{_snake(rng)}.py"
    lines = [
        "============================= test session starts ==============================",
        f"platform linux -- Python 3.12.{rng.randint(0, 7)}, pytest-8.3.{rng.randint(0, 4)}, pluggy-1.5.0",
        f"rootdir: /workspace/{_snake(rng, 0)}",
        f"collected {rng.randint(5, 300)} items",
        "",
    ]
    for _ in range(rng.randint(5, 25)):
        pct = rng.randint(1, 100)
        status = rng.choice(["PASSED", "PASSED", "PASSED", "FAILED", "SKIPPED"])
        lines.append(f"{mod}::test_{_func(rng)} {status}".ljust(78) + f"[{pct:3d}%]")
    if rng.random() < 0.5:
        a, b = _snake(rng), _snake(rng)
        lines += [
            "",
            f"___________________________ test_{_func(rng)} ___________________________",
            "",
            f"    def test_{_func(rng)}({a}):",
            f">       assert {a}.{b} == expected_{b}",
            f"E       AssertionError: assert '{_hex(rng, 12)}' == '{_hex(rng, 12)}'",
            f"E        +  where '{_hex(rng, 12)}' = <{_pascal(rng)} object at 0x7f{_hex(rng, 10)}>.{b}",
            "",
            f"{mod}:{rng.randint(10, 400)}: AssertionError",
        ]
    lines.append(
        f"========== {rng.randint(1, 200)} passed, {rng.randint(0, 3)} failed in {rng.random() * 9:.2f}s =========="  # noqa: E501
    )
    return "\n".join(lines) + "\n"


def cargo_log(rng: random.Random) -> str:
    crates = [
        "serde",
        "tokio",
        "jsonwebtoken",
        "ring",
        "rustls",
        "hyper",
        "reqwest",
        "secrecy",
        "hmac",
        "sha2",
    ]
    lines = [
        f"   Compiling {c} v{rng.randint(0, 2)}.{rng.randint(0, 40)}.{rng.randint(0, 9)}" for c in crates
    ]
    for _ in range(rng.randint(0, 3)):
        a = _snake(rng)
        lines += [
            f"warning: unused variable: `{a}`",
            f"  --> src/{_snake(rng, 0)}.rs:{rng.randint(1, 300)}:{rng.randint(1, 40)}",
            "   |",
            f"{rng.randint(1, 300)} |     let {a} = self.{_func(rng)}(&{_snake(rng)})?;",
            f"   |         ^^^^^ help: if this is intentional, prefix it with an underscore: `_{a}`",
        ]
    lines.append(
        f"    Finished `dev` profile [unoptimized + debuginfo] target(s) in {rng.random() * 60:.2f}s"
    )
    return "\n".join(lines) + "\n"


def npm_log(rng: random.Random) -> str:
    lines = [
        f"npm warn deprecated {rng.choice(['inflight', 'glob', 'rimraf'])}@{rng.randint(1, 8)}.0.{rng.randint(0, 9)}: "  # noqa: E501
        "This module is not supported",
        f"added {rng.randint(100, 1500)} packages, and audited {rng.randint(100, 1500)} packages in {rng.randint(2, 60)}s",  # noqa: E501
        f"{rng.randint(10, 200)} packages are looking for funding",
        "  run `npm fund` for details",
        "",
        "> app@1.0.0 build",
        "> tsc -p tsconfig.json && vite build",
        "",
    ]
    for _ in range(rng.randint(0, 4)):
        lines.append(
            f"src/{_camel(rng)}/{_camel(rng)}.ts({rng.randint(1, 300)},{rng.randint(1, 40)}): error TS2322: "
            f"Type 'string | undefined' is not assignable to type '{rng.choice(_TYPES_TS)}'."
        )
    for _ in range(rng.randint(2, 8)):
        lines.append(
            f"dist/assets/{_camel(rng, 0)}-{_b64(rng, 6).replace('/', '_').replace('+', '-')}.js"
            f"   {rng.randint(1, 900)}.{rng.randint(10, 99)} kB │ gzip: {rng.randint(1, 300)}.{rng.randint(10, 99)} kB"  # noqa: E501
        )
    return "\n".join(lines) + "\n"


def docker_log(rng: random.Random) -> str:
    lines = []
    for i in range(rng.randint(4, 10)):
        lines.append(
            f"#{i + 1} [{i + 1}/9] RUN {rng.choice(['pip install -r requirements.txt', 'npm ci', 'apt-get update'])}"  # noqa: E501
        )
        lines.append(f"#{i + 1} sha256:{_hex(rng, 64)} {rng.randint(1, 90)}.{rng.randint(0, 9)}MB / done")
        lines.append(f"#{i + 1} DONE {rng.random() * 20:.1f}s")
    lines.append(f"#10 writing image sha256:{_hex(rng, 64)} done")
    lines.append(f"Step 4/9 : ENV {_snake(rng).upper()}_FILE=/run/secrets/{_snake(rng)}")
    return "\n".join(lines) + "\n"


def git_log(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(2, 6)):
        lines += [
            f"commit {_hex(rng, 40)}",
            f"Author: {rng.choice(['Ada', 'Bob', 'Chen', 'Dee'])} <dev@example.com>",
            f"Date:   Mon Mar {rng.randint(1, 28)} 10:{rng.randint(10, 59)}:00 2025 +0000",
            "",
            f"    {rng.choice(_VERBS).title()} {_snake(rng).replace('_', ' ')} {_sentence(rng, 4)}",
            "",
        ]
    return "\n".join(lines)


def diff(rng: random.Random) -> str:
    path = f"src/{_snake(rng)}.py"
    lines = [
        f"diff --git a/{path} b/{path}",
        f"index {_hex(rng, 7)}..{_hex(rng, 7)} 100644",
        f"--- a/{path}",
        f"+++ b/{path}",
    ]
    for _ in range(rng.randint(1, 3)):
        lines.append(f"@@ -{rng.randint(1, 300)},7 +{rng.randint(1, 300)},9 @@ def {_func(rng)}(self):")
        for _ in range(rng.randint(3, 10)):
            lines.append(rng.choice(" -+ ") + _python_line(rng, "    "))
    return "\n".join(lines) + "\n"


# -- lockfiles, minified JS, YAML, JSON tool traffic -----------------------------------------------


def lockfile(rng: random.Random) -> str:
    kind = rng.randrange(4)
    lines = []
    for _ in range(rng.randint(5, 20)):
        name = rng.choice(_NOUNS) + rng.choice(["", "-js", "-utils", "ify", "-parser", "-token"])
        ver = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        if kind == 0:
            lines += [
                f'    "node_modules/{name}": {{',
                f'      "version": "{ver}",',
                f'      "resolved": "https://registry.npmjs.org/{name}/-/{name}-{ver}.tgz",',
                f'      "integrity": "sha512-{_b64(rng, 64)}",',
                '      "dev": true',
                "    },",
            ]
        elif kind == 1:
            lines += [
                "[[package]]",
                f'name = "{name}"',
                f'version = "{ver}"',
                'source = "registry+https://github.com/rust-lang/crates.io-index"',
                f'checksum = "{_hex(rng, 64)}"',
                "",
            ]
        elif kind == 2:
            lines.append(f"{name} {ver} h1:{_b64(rng, 32)}")
            lines.append(f"{name} {ver}/go.mod h1:{_b64(rng, 32)}")
        else:
            lines += [
                f"  /{name}@{ver}:",
                f"    resolution: {{integrity: sha512-{_b64(rng, 64)}}}",
                "    engines: {node: '>=14'}",
                "    dev: false",
            ]
    return "\n".join(lines) + "\n"


def minified_js(rng: random.Random) -> str:
    ids = [
        rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
        + rng.choice("abcdefghijklmnop0123456789")
        for _ in range(30)
    ]

    def v() -> str:
        return rng.choice(ids)

    pieces = []
    for _ in range(rng.randint(30, 120)):
        k = rng.randrange(8)
        if k == 0:
            pieces.append(
                f"function {v()}({v()},{v()}){{var {v()}={v()}.headers||{{}};return {v()}.{_camel(rng)}={v()},{v()}}}"  # noqa: E501
            )
        elif k == 1:
            pieces.append(
                f'{v()}.headers={{Authorization:{v()}.token?"Bearer "+{v()}.token:void 0,"Content-Type":"application/json"}}'  # noqa: E501
            )
        elif k == 2:
            pieces.append(
                f"const {v()}=await {v()}.{_camel(rng)}({v()},{{{_camel(rng)}:{v()}.{_camel(rng)}}})"
            )
        elif k == 3:
            pieces.append(
                f'{v()}=function({v()}){{return"{_camel(rng)}"in {v()}&&null!=={v()}.{_camel(rng)}}}'
            )
        elif k == 4:
            pieces.append(f"{v()}.prototype.{_camel(rng)}=function(){{return this.{_camel(rng)}}}")
        elif k == 5:
            pieces.append(f'{v()}("{_camel(rng)}",{v()}?{v()}:{v()}.{_camel(rng)})')
        elif k == 6:
            pieces.append(f"{v()}={{apiKey:{v()}.apiKey,authToken:{v()}.authToken,secret:{v()}}}")
        else:
            pieces.append(f'{v()}.setRequestHeader("Authorization","Bearer "+{v()})')
    return "!function(){" + ";".join(pieces) + "}();\n"


def k8s_yaml(rng: random.Random) -> str:
    name = _snake(rng, 0).replace("_", "-")
    secret = f"{name}-secrets"
    lines = [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        f"  name: {name}",
        "spec:",
        "  template:",
        "    spec:",
        "      containers:",
        f"        - name: {name}",
        f"          image: ghcr.io/example/{name}@sha256:{_hex(rng, 64)}",
        "          env:",
    ]
    for _ in range(rng.randint(1, 4)):
        var = _snake(rng, 0.9).upper()
        lines += [
            f"            - name: {var}",
            "              valueFrom:",
            "                secretKeyRef:",
            f"                  name: {secret}",
            f"                  key: {_snake(rng, 0.9).replace('_', '-')}",
        ]
    lines += [
        "---",
        "name: ci",
        "on: [push]",
        "jobs:",
        "  test:",
        "    runs-on: ubuntu-latest",
        "    env:",
        f"      {_snake(rng, 1).upper()}: ${{{{ secrets.{_snake(rng, 1).upper()} }}}}",
        "      NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}",
        "    steps:",
        "      - uses: actions/checkout@v4",
        f'      - run: echo "::add-mask::${{{{ steps.{_snake(rng, 0)}.outputs.token }}}}"',
        "      - run: npm ci && npm test",
        "---",
        "services:",
        "  db:",
        "    image: postgres:16",
        "    environment:",
        "      - POSTGRES_PASSWORD=${POSTGRES_PASSWORD}",
        "      - POSTGRES_PASSWORD_FILE=/run/secrets/db_password",
        "    secrets:",
        "      - db_password",
    ]
    return "\n".join(lines) + "\n"


def _json_str(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")


def tool_traffic(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(2, 6)):
        tool_id = "toolu_01" + _b64(rng, 18).replace("+", "a").replace("/", "b")[:22]
        code = "\n".join(_python_line(rng, "    ") for _ in range(rng.randint(2, 6)))
        path = f"src/{_snake(rng)}.py"
        k = rng.randrange(4)
        if k == 0:
            lines.append(
                f'{{"type":"tool_use","id":"{tool_id}","name":"str_replace_based_edit_tool",'
                f'"input":{{"command":"str_replace","path":"{path}","old_str":"{_json_str(code)}",'
                f'"new_str":"{_json_str(code.replace("self.", "ctx."))}"}}}}'
            )
        elif k == 1:
            lines.append(
                f'{{"role":"tool","tool_call_id":"call_{_b64(rng, 18)[:24]}","content":"{_json_str(pytest_log(rng))}"}}'  # noqa: E501
            )
        elif k == 2:
            lines.append(
                f'{{"id":"chatcmpl-{_b64(rng, 21)[:29]}","object":"chat.completion","model":"gpt-4o-2024-08-06",'  # noqa: E501
                f'"usage":{{"prompt_tokens":{rng.randint(100, 90000)},"completion_tokens":{rng.randint(1, 4000)},'  # noqa: E501
                f'"total_tokens":{rng.randint(100, 94000)}}},"system_fingerprint":"fp_{_hex(rng, 10)}"}}'
            )
        else:
            lines.append(
                f'{{"type":"message","id":"msg_01{_b64(rng, 18)[:22]}","content":[{{"type":"text",'
                f'"text":"{_json_str(_sentence(rng) + ". I will update `" + _snake(rng) + "` in " + path)}"}}],'  # noqa: E501
                f'"usage":{{"input_tokens":{rng.randint(1, 50000)},"cache_read_input_tokens":{rng.randint(0, 9000)},'  # noqa: E501
                f'"output_tokens":{rng.randint(1, 4000)}}}}}'
            )
    return "\n".join(lines) + "\n"


def prose(rng: random.Random) -> str:
    a = _snake(rng)
    lines = [
        f"I'll look at how `{a}` is {rng.choice(['built', 'passed', 'validated', 'refreshed'])} before changing it.",  # noqa: E501
        f"The {rng.choice(['token', 'API key', 'secret', 'session key'])} is read from the environment, so the test "  # noqa: E501
        f"needs `{_snake(rng, 1).upper()}` set; {_sentence(rng)}.",
        f"Next: run `pytest -k {rng.choice(_VERBS)}_{rng.choice(_AUTH)}` and check the {rng.choice(_NOUNS)} output.",  # noqa: E501
        f"The access token expires after {rng.randint(60, 86400)} seconds, and the refresh token after "
        f"{rng.randint(1, 90)} days.",
    ]
    return "\n".join(rng.sample(lines, rng.randint(1, 4))) + "\n"


_GENERATORS: list[tuple[Callable[[random.Random], str], int]] = [
    (python_file, 6), (typescript_file, 5), (go_file, 3), (rust_file, 3), (shell_script, 3), (env_example, 1),
    (pytest_log, 5), (cargo_log, 2), (npm_log, 2), (docker_log, 2), (git_log, 2), (diff, 6), (lockfile, 3),
    (minified_js, 1), (k8s_yaml, 2), (tool_traffic, 6), (prose, 4),
]  # fmt: skip
_FUNCS = [g for g, w in _GENERATORS for _ in range(w)]


def corpus(size: int, seed: int = 22, auth: float = 0.3) -> str:
    """About ``size`` characters of varied agent output with no secret in it. ``auth`` scales how
    often an identifier carries an auth word (``token``, ``key``, ``secret``, ...): at 1.0 half of
    them do (a stress test), at the default 0.3 about one in seven (code about auth)."""
    rng = _Rng(seed)
    rng.auth_scale = auth
    parts: list[str] = []
    total = 0
    while total < size:
        part = rng.choice(_FUNCS)(rng)
        parts.append(part)
        total += len(part)
    return "".join(parts)


# -- secrets to put in it (for recall, and the "one per 100 KB" bench) --------------------------------

_A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _tok(rng: random.Random, n: int, alphabet: str = _A) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


SECRET_LINES: list[Callable[[random.Random], tuple[str, str]]] = [
    lambda r: (f"export OPENAI_API_KEY={(s := 'sk-proj-' + _tok(r, 48))}", s),
    lambda r: (f"git clone https://x-access-token:{(s := 'ghs_' + _tok(r, 36))}@github.com/o/r.git", s),
    lambda r: (f"curl -H 'Authorization: Bearer {(s := _tok(r, 40))}' https://api.example.com/v1", s),
    lambda r: (f'{{"api_key": "{(s := _tok(r, 32))}", "model": "m"}}', s),
    lambda r: (f"DATABASE_URL=postgres://app:{(s := _tok(r, 20))}@db:5432/app", s),
    lambda r: (f"aws_secret_access_key = {(s := _tok(r, 40, _A + '/+'))}", s),
    lambda r: (f"  password: {(s := _tok(r, 18) + '!')}", s),
    lambda r: (f"ANTHROPIC_API_KEY={(s := 'sk-ant-api03-' + _tok(r, 93))}", s),
    lambda r: (f"mysql -u root -p{(s := _tok(r, 14))} shop", s),
    lambda r: (f"slack: {(s := 'xoxb-' + str(r.randint(10**11, 10**12)) + '-' + _tok(r, 24))}", s),
]


def with_secrets(text: str, every: int, seed: int = 23) -> tuple[str, list[str]]:
    """``text`` with one credential line inserted at a line start about every ``every``
    characters; returns the new text and the secrets put in."""
    rng = random.Random(seed)
    parts: list[str] = []
    secrets: list[str] = []
    position = 0
    while position < len(text):
        cut = text.find("\n", position + every)
        cut = len(text) if cut == -1 else cut + 1
        parts.append(text[position:cut])
        if cut < len(text):
            line, secret = rng.choice(SECRET_LINES)(rng)
            parts.append(line + "\n")
            secrets.append(secret)
        position = cut
    return "".join(parts), secrets


def digest(text: str) -> str:
    """A short fingerprint of a corpus (to say which one a figure was measured on)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]
