"""The redaction corpus: every secret gone, every benign look-alike unchanged byte for byte.

The tokens here are made up; they have the shapes of real ones (prefixes, lengths,
alphabets) so the rules are tested on what they will meet.
"""

from __future__ import annotations

import pytest

from cab_trace.redact import REDACTED, Redactor

R = REDACTED
OPENAI = "sk-ijYE3q9wLmZp0aRt7uVxT3BlbkFJa8Kd2Lq"
OPENAI_PROJ = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Q-7"
ANTHROPIC = "sk-ant-api03-R2D2C3P0beepBOOPbuzzWHIRR_click-SPIN1234567890abcdefAA"
OPENROUTER = "sk-or-v1-" + "0123456789abcdef" * 4
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
GITHUB_PAT = "github_pat_11ABCDEFG0" + "x" * 40 + "_Y2z"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
GOOGLE = "AIzaSyD-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6"
HF = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
NVIDIA = "nvapi-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zQ-7_x"
STRIPE = "sk_live_51HaBcDeFgHiJkLmNoPqRsTuV"
GROQ = "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"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\nAAAAEbm9uZQ==\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
KNOWN = "opaque-Secret-without-any-shape"

# (input, expected) for Redactor.text
SECRET_TEXT = [
    (f"using key {OPENAI}", f"using key {R}"),
    (f"key={OPENAI_PROJ}.", f"key={R}."),
    (f"ANTHROPIC: {ANTHROPIC}", f"ANTHROPIC: {R}"),
    (f"router {OPENROUTER}", f"router {R}"),
    (f"git clone https://{GITHUB}@github.com/o/r", f"git clone https://{R}@github.com/o/r"),
    (f"GH={GITHUB_PAT}", f"GH={R}"),
    (f"aws id {AWS_ID} in use", f"aws id {R} in use"),
    (f"aws_secret_access_key = {AWS_SECRET}", f"aws_secret_access_key = {R}"),
    (f'"SecretAccessKey": "{AWS_SECRET}"', f'"SecretAccessKey": "{R}"'),
    (f"slack {SLACK}", f"slack {R}"),
    (f"?key={GOOGLE}&q=1", f"?key={R}&q=1"),
    (f"maps {GOOGLE}", f"maps {R}"),
    (f"HF_TOKEN={HF}", f"HF_TOKEN={R}"),
    (f"login {HF}", f"login {R}"),
    (f"nim key {NVIDIA}", f"nim key {R}"),
    (f"stripe {STRIPE}", f"stripe {R}"),
    (f"groq={GROQ}", f"groq={R}"),
    (f"token {JWT} expires", f"token {R} expires"),
    (f"Authorization: Bearer {OPENAI}", f"Authorization: Bearer {R}"),
    ("authorization: Basic dXNlcjpwYXNzd29yZA==", f"authorization: Basic {R}"),
    ("curl -H 'Authorization: token abc123def456' x", f"curl -H 'Authorization: token {R}' x"),
    ("x-api-key: k-live-19fa0c7e", f"x-api-key: {R}"),
    ("X-Auth-Token: 7f3a9c2e1b", f"X-Auth-Token: {R}"),
    ("Bearer abcdefghijklmnopqrstuvwxyz012345", f"Bearer {R}"),
    ("https://bob:hunter2@git.example.com/r.git", f"https://bob:{R}@git.example.com/r.git"),
    ("postgres://app:s3cr3t!pw@db:5432/x", f"postgres://app:{R}@db:5432/x"),
    (f"key file:\n{PEM}\ndone", f"key file:\n{R}\ndone"),
    ("export OPENAI_API_KEY=abc123def456ghi && aider", f"export OPENAI_API_KEY={R} && aider"),
    ("bash -c 'OPENAI_API_KEY=zz9yy8xx7ww6 aider --yes'", f"bash -c 'OPENAI_API_KEY={R} aider --yes'"),
    ('docker run -e ANTHROPIC_API_KEY="q1w2e3r4t5y6" img', f'docker run -e ANTHROPIC_API_KEY="{R}" img'),
    ("DB_PASSWORD='correct horse battery'", f"DB_PASSWORD='{R}'"),
    ('{"api_key": "plainvalue99", "model": "m"}', f'{{"api_key": "{R}", "model": "m"}}'),
    ('{"password":"pa55w0rd"}', f'{{"password":"{R}"}}'),
    ("client_secret: abcdEFGH1234", f"client_secret: {R}"),
    ("password: hunter22", f"password: {R}"),
    ("aider --openai-api-key zzTop1234 --yes", f"aider --openai-api-key {R} --yes"),
    ("pi --api-key=abcd1234efgh --print", f"pi --api-key={R} --print"),
    ("myapp --client-secret 'two words'", f"myapp --client-secret '{R}'"),
    (f"the key is {KNOWN}!", f"the key is {R}!"),
    (f"{KNOWN}{KNOWN}", f"{R}"),
]

# Benign look-alikes: unchanged byte for byte.
BENIGN_TEXT = [
    "image sha256:272792a5fb41b2290cf7f75c094471fc9bc9933cefdb77c68c5122bbfa2044e6",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 (HEAD -> main)",
    "run id 123e4567-e89b-12d3-a456-426614174000",
    "model stepfun-ai/step-3.5-flash and openai/gpt-4o-mini-2024-07-18",
    "/home/runner/.cache/pip/wheels/ab/cd/0123456789abcdef0123456789abcdef",
    '"integrity": "sha512-9DU7dhSQ+RXvwEn6wHx2k3nYiPwFymLHnlIsyeYKeVQkNzQ+1pB4nw0JsC3HXQ=="',
    "test_api_key_is_required PASSED [ 42%]",
    "5 passed, 1 skipped in 0.12s",
    "--max-tokens 4096 --tokenizer cl100k --token-limit 8000",
    "token usage: 1234 prompt tokens, 567 completion tokens",
    "sort_key=name primary_key=id cache_key=v2",
    "Key: the function returns early on error",
    "The password must be at least 12 characters.",
    "if token == expected: return",
    "api_key=$OPENAI_API_KEY aider --api-key ${CAB_KEY}",
    'api_key = os.environ["OPENAI_API_KEY"]',
    "OPENAI_API_KEY=<your key here>",
    "password: ********",
    "auth: none",
    "ssh git@github.com:org/repo.git",
    "https://user@example.com/path",
    "sk-learn is not a package name; use scikit-learn",
    "risk-assessment-framework-for-agents",
    "the AKIA prefix marks AWS access key ids",
    "Authorization header missing",
    "TOKENIZERS_PARALLELISM=false MAX_TOKENS=4096 API_KEY_FILE=/run/secrets/key",
    "[REDACTED] stays [REDACTED]",
    "eyJhbGciOiJIUzI1NiJ9 alone is only a header",
    "Bearer of bad news",
    "fn main() { let key = map.get(&k); }",
]


# Redaction v2 (issue 13): contexts, secret-named variables, option names with two secret words,
# JSON argv, shape-based placeholders.
SECRET_TEXT_V2 = [
    ("tool --auth-token abcDEF123456 --yes", "tool --auth-token [REDACTED] --yes"),
    ("gh --oauth-token gho0auth123456", "gh --oauth-token [REDACTED]"),
    ("x --secret-token st-9f8e7d6c5b", "x --secret-token [REDACTED]"),
    ("oauth2-proxy --cookie-secret c00kieS3cret0123456789ab", "oauth2-proxy --cookie-secret [REDACTED]"),
    ("auth-token: Xy12345678abc", "auth-token: [REDACTED]"),
    ("curl -u bob:hunter22 https://x", "curl -u bob:[REDACTED] https://x"),
    ("curl -s --user 'deploy:tok3n-v4lue' https://ci", "curl -s --user 'deploy:[REDACTED]' https://ci"),
    ("mysql -uroot -pS3cret! db", "mysql -uroot -p[REDACTED] db"),
    ("mysqldump -u app -pAppPa55 shop", "mysqldump -u app -p[REDACTED] shop"),
    ("sshpass -p 'sshPa55w0rd' ssh host", "sshpass -p '[REDACTED]' ssh host"),
    ("redis-cli -h cache -a r3disPass ping", "redis-cli -h cache -a [REDACTED] ping"),
    (
        "docker login -u bob -p dckrPa55 registry.example.com",
        "docker login -u bob -p [REDACTED] registry.example.com",
    ),
    ("PGPASSWORD=pgpass123 psql -h db", "PGPASSWORD=[REDACTED] psql -h db"),
    ("MYSQL_PWD=mysqlpw99 mysql", "MYSQL_PWD=[REDACTED] mysql"),
    ("SSHPASS=sshpw1234 sshpass -e ssh h", "SSHPASS=[REDACTED] sshpass -e ssh h"),
    (
        "export TF_TOKEN_app_terraform_io=abcdef.atlasv1.xyz1234",
        "export TF_TOKEN_app_terraform_io=[REDACTED]",
    ),
    ("OTEL_EXPORTER_OTLP_LOGS_HEADERS=x-api-key=abc123def", "OTEL_EXPORTER_OTLP_LOGS_HEADERS=[REDACTED]"),
    (
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS=authorization=Bearer%20t0k",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS=[REDACTED]",
    ),
    ("redis://:pw12345@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"),
    ("Cookie: session=abcdef123; theme=dark", "Cookie: [REDACTED]"),
    ('password: "$ecretPa55"', 'password: "[REDACTED]"'),
    ("API_KEY=<Qw3rty!9>", "API_KEY=[REDACTED]"),
    ('["--api-key","qwertyuiopasdf12","--model","m"]', '["--api-key","[REDACTED]","--model","m"]'),
    ("['--api-key', 'qwertyuiopasdf12']", "['--api-key', '[REDACTED]']"),
    (
        "machine api.github.com login bob password ghPa55word",
        "machine api.github.com login bob password [REDACTED]",
    ),
    ("    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=", "    client-key-data: [REDACTED]"),
    ("    token: eyJhbGciOiJSUzI1NiJ9abcdefgh12", "    token: [REDACTED]"),
    (
        "<server><id>x</id><password>m4venPass!</password></server>",
        "<server><id>x</id><password>[REDACTED]</password></server>",
    ),
    (
        '<add key="ClearTextPassword" value="nugetPa55" />',
        '<add key="ClearTextPassword" value="[REDACTED]" />',
    ),
    (
        "https://acct.blob.core.windows.net/c?sv=2022&sig=Zm9vYmFyYmF6cXV4MTIz%3D",
        "https://acct.blob.core.windows.net/c?sv=2022&sig=[REDACTED]",
    ),
    ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "[REDACTED]"),
    ("Server=db;User Id=sa;Password=Sql$erver2024;", "Server=db;User Id=sa;Password=[REDACTED];"),
    ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----", "[REDACTED]"),
    ("pplx-a1B2c3D4e5a1B2c3D4e5a1B2c3D4e5a1B2c3D4e5a1B2c3D4e5", "[REDACTED]"),
    ("key is sk-ant-api03-abcDEF123_abcDEF123_abcDEF123_abcDEF123_abcDEF123_abcDEF123_", "key is [REDACTED]"),
    ("AGE-SECRET-KEY-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUQPZRY9X8GF2TVDW0S3JN54KHCE6MU", "[REDACTED]"),
    (
        "hvs.CAESIJabc123XYZabc123XYZabc123XYZabc123XYZabc123XYZabc123XYZabc123XYZabc123XYZabc123XYZabc123XYZ",
        "[REDACTED]",
    ),
]

# Code that names a key without holding one, paths, public keys, data-structure keys, prose.
BENIGN_TEXT_V2 = [
    "api_key: String",
    "self.api_key = api_key",
    "`Bearer ${apiKey}`",
    'env_key = "AZURE_OPENAI_API_KEY"',
    "{env:NAME}",
    'apiKey: "{env:OPENAI_API_KEY}"',
    "--ssh-key ~/.ssh/id_rsa",
    "SSH_KEY_PATH=/home/u/.ssh/id_ed25519",
    "public_key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq'",
    "cache_key=v2-abc123def456789",
    "Idempotency-Key: 123e4567-e89b-12d3-a456-426614174000",
    "--api-key requires a model",
    '"apiKey": "PI_API_KEY"',
    "headers: { Authorization: `Bearer ${apiKey}` }",
    "token: ${{ secrets.GITHUB_TOKEN }}",
    "const token = req.headers.authorization;",
    "password = getpass.getpass()",
    "api_key=os.getenv('OPENAI_API_KEY')",
    "let apiKey = process.env.OPENAI_API_KEY;",
    "if (!apiKey) throw new Error('missing api key')",
    "fn new(api_key: &str) -> Self",
    "def __init__(self, api_key: str | None = None):",
    "api_key: Optional[str] = None",
    "token = self._get_token()",
    "auth = HTTPBasicAuth(user, password)",
    "password_hash = bcrypt(pw)",
    "--password-file /run/secrets/db",
    "session_token: str",
    "secret = config.secret",
    "export PWD=/home/user/project",
    "OLDPWD=/tmp",
    "publishable_key=pk_live_51HaBcDeFgHiJkLmNo",
    "max_token: 100000000000000000",
    "mysql -u root -p shop",
    "mkdir -p build/out",
    "curl -u bob https://api.example.com",
    "docker login -u bob registry.example.com",
    "redis://cache:6379/0",
    "https://github.com/org/repo/pull/42",
    "Cookie: none",
    "The cookie jar is empty",
    "--api-key <key>   the API key to use",
    "OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}",
    'ANTHROPIC_API_KEY="${ANTHROPIC_API_KEY:-}"',
    "key_id = 'a1b2c3d4'",
    "sort_key=timestamp",
    "const { apiKey } = options;",
    "api_key = settings.OPENAI_API_KEY",
    "password=os.environ['DB_PASSWORD']",
    "uuid 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "task-runner-node-sk-12",
    "the disk-usage-report-generator-tool",
    "kubectl get secret my-secret -o yaml",
    "git log --format=%H",
    "ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519",
    "AUTH_TYPE=oauth2",
    "TOKEN_URL=https://auth.example.com/token",
    "tokenizer = AutoTokenizer.from_pretrained(name)",
]

# Held-out style: config files, clients, CI, prose around a key; and code that only names one.
SECRET_TEXT_V3 = [
    (
        '{"auths": {"https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNzd29yZA=="}}}',
        '{"auths": {"https://index.docker.io/v1/": {"auth": "[REDACTED]"}}}',
    ),
    ("API key: abcd1234efgh5678", "API key: [REDACTED]"),
    ("Your access token is gho1234567890abcdef", "Your access token is [REDACTED]"),
    (
        "npm config set //registry.npmjs.org/:_authToken=npm_a1B2c3D4e5a1B2c3D4e5a1B2c3D4e5abcdef",
        "npm config set //registry.npmjs.org/:_authToken=[REDACTED]",
    ),
    ("//registry.npmjs.org/:_authToken=abcdef0123456789", "//registry.npmjs.org/:_authToken=[REDACTED]"),
    (
        "pip install --index-url https://user:pypiPa55@pypi.example.com/simple pkg",
        "pip install --index-url https://user:[REDACTED]@pypi.example.com/simple pkg",
    ),
    (
        "git clone https://oauth2:glpat-abcdefghij0123456789@gitlab.com/g/p.git",
        "git clone https://oauth2:[REDACTED]@gitlab.com/g/p.git",
    ),
    (
        "mongodb+srv://app:m0ngoPa55@cluster0.example.net/db",
        "mongodb+srv://app:[REDACTED]@cluster0.example.net/db",
    ),
    ("  password: cGFzc3dvcmQ=", "  password: [REDACTED]"),
    (
        "AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ",
        "AWS_SESSION_TOKEN=[REDACTED]",
    ),
    ('client = OpenAI(api_key="sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t")', 'client = OpenAI(api_key="[REDACTED]")'),
    ("const apiKey = 'abc123def456ghi789';", "const apiKey = '[REDACTED]';"),
    (
        "export ANTHROPIC_API_KEY='sk-ant-api03-x1Y2z3x1Y2z3x1Y2z3x1Y2z3x1Y2z3x1Y2z3x1Y2z3x1Y2z3'",
        "export ANTHROPIC_API_KEY='[REDACTED]'",
    ),
]
BENIGN_TEXT_V3 = [
    '{"key": "claude-3-5-sonnet-20241022"}',
    "key=gpt-4o-2024-08-06",
    "TOKEN_EXPIRY_SECONDS=3600",
    "KEY_SIZE=2048",
    'apiKeyHeader: "X-API-Key"',
    'token_type: "Bearer"',
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host",
    '"input_tokens": 500',
    'headers={"Authorization": f"Bearer {api_key}"}',
    "Authorization: Bearer {token}",
    'client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])',
    'token: str = Field(..., description="GitHub token")',
    '"token": token,',
    'secret_key = request.args.get("secret")',
    "password: ${{ secrets.DB_PASSWORD }}",
    'apiKey := os.Getenv("API_KEY")',
    'let api_key = env::var("OPENAI_API_KEY")?;',
    "apiKey: process.env.OPENAI_API_KEY,",
    "api_key: ${OPENAI_API_KEY}",
    "OPENAI_API_KEY=",
    "password = var.db_password",
    'password: "{{ vault_db_password }}"',
    "docker login -u user --password-stdin",
    "the api key is required for this model",
    "API key: <your key>",
    "access token expires in 3600 seconds",
    "sk-your-key-here",
    "sk-xxxxxxxxxxxxxxxxxxxxxxxx",
    "pk_live_51HaBcDeFgHiJkLmNoPqRsTuV",
    "the API key is stored in ~/.config/app/credentials.json",
    "API key OPENAI_API_KEY",
    "DATABASE_URL=postgres://localhost/dev",
    'auth = ("user", password)',
    "if api_key is None: raise ValueError('no key')",
    "Set OPENAI_API_KEY to your key before running",
    "kubectl create secret generic db --from-literal=password=$DB_PASSWORD",
]

SECRET_ARGV = [
    (["--print", "--api-key", OPENAI, "prompt"], ["--print", "--api-key", R, "prompt"]),
    (["--api-key=" + OPENAI], ["--api-key=" + R]),
    (["--token", "abcdef123"], ["--token", R]),
    (["--password", "pw12"], ["--password", R]),
    (["--auth-token", "t0k3n-value"], ["--auth-token", R]),
    (["--access-token", "at-123456"], ["--access-token", R]),
    (["--client-secret", "cs-abcdef"], ["--client-secret", R]),
    (["--openai-api-key", "zz99yy88"], ["--openai-api-key", R]),
    (["--anthropic-api-key", "a1b2c3d4"], ["--anthropic-api-key", R]),
    (["--apiKey", "camel123"], ["--apiKey", R]),
    (["--api_key", "snake123"], ["--api_key", R]),
    (["-e", "OPENAI_API_KEY=envvalue1"], ["-e", f"OPENAI_API_KEY={R}"]),
    (["bash", "-c", "OPENAI_API_KEY=zz9yy8xx7 aider"], ["bash", "-c", f"OPENAI_API_KEY={R} aider"]),
    (["--header", f"Authorization: Bearer {OPENAI}"], ["--header", f"Authorization: Bearer {R}"]),
    (["--model", "m", KNOWN], ["--model", "m", R]),
    (["--oauth-token", "gho0auth1234"], ["--oauth-token", R]),
    (["--cookie-secret", "c00kie-s3cret"], ["--cookie-secret", R]),
    (["curl", "-u", "bob:hunter22", "https://x"], ["curl", "-u", f"bob:{R}", "https://x"]),
    (["sshpass", "-p", "pw12345x", "ssh", "h"], ["sshpass", "-p", R, "ssh", "h"]),
    (["mysql", "-uroot", "-pS3cret!", "db"], ["mysql", "-uroot", f"-p{R}", "db"]),
    (["psql", "postgresql://app:pgPa55@db/x"], ["psql", f"postgresql://app:{R}@db/x"]),
]

BENIGN_ARGV = [
    ["--max-tokens", "4096", "--tokenizer", "cl100k", "--token-limit", "8000"],
    ["--no-session", "--offline", "--provider", "nim"],
    ["--api-key", "$OPENAI_API_KEY"],
    ["--key", "sort", "--secret-env", "MY_SECRET", "--key-env", "CAB_KEY"],
    ["--api-key", "--model", "m"],
    ["git", "checkout", "9fceb02d0ae598e95dc970b74767f19372d61af8"],
]

SECRET_ENV = [
    ({"OPENAI_API_KEY": "anything", "MODEL": "m"}, {"OPENAI_API_KEY": R, "MODEL": "m"}),
    ({"GITHUB_TOKEN": "x"}, {"GITHUB_TOKEN": R}),
    ({"DB_PASSWORD": "pw", "PGHOST": "db"}, {"DB_PASSWORD": R, "PGHOST": "db"}),
    ({"EXTRA": f"key {OPENAI}"}, {"EXTRA": f"key {R}"}),
    ({"PGPASSWORD": "pgpass123", "MYSQL_PWD": "mysqlpw99"}, {"PGPASSWORD": R, "MYSQL_PWD": R}),
    ({"SSHPASS": "sshpw1234", "REDISCLI_AUTH": "r3dis-pw"}, {"SSHPASS": R, "REDISCLI_AUTH": R}),
    ({"TF_TOKEN_app_terraform_io": "abc.atlasv1.def"}, {"TF_TOKEN_app_terraform_io": R}),
    ({"OTEL_EXPORTER_OTLP_LOGS_HEADERS": "x-api-key=k1"}, {"OTEL_EXPORTER_OTLP_LOGS_HEADERS": R}),
    (
        {"OTEL_EXPORTER_OTLP_METRICS_HEADERS": "authorization=Bearer t"},
        {"OTEL_EXPORTER_OTLP_METRICS_HEADERS": R},
    ),
    ({"DB_PASSWORD": "$ecretPa55", "API_TOKEN": "<Qw3rty!9>"}, {"DB_PASSWORD": R, "API_TOKEN": R}),
]

BENIGN_ENV = [
    {"MAX_TOKENS": "4096", "TOKENIZERS_PARALLELISM": "false", "PATH": "/usr/bin", "PWD": "/work/dir"},
    # A path to a credentials file says where a secret is; it is not one.
    {"GOOGLE_APPLICATION_CREDENTIALS": "/secrets/sa.json", "SSH_KEY": "~/.ssh/id_ed25519"},
    {"PWD": "/home/user/project", "OLDPWD": "/tmp", "PUBLIC_KEY": "ssh-ed25519 AAAAC3Nza", "CACHE_KEY": "v2"},
    {"OPENAI_API_KEY": "$OPENAI_API_KEY", "PI_KEY_ENV": "PI_API_KEY", "MAX_TOKENS": "100000"},
    {"API_KEY_FILE": "/run/secrets/key", "SSH_AUTH_SOCK": "/tmp/ssh-x/agent.1", "OPENAI_API_KEY": "${KEY}"},
]


def _id(value: object) -> str:
    return repr(value)[:60]


@pytest.fixture(scope="module")
def r() -> Redactor:
    return Redactor([KNOWN])


@pytest.mark.parametrize(
    ("text", "expected"),
    SECRET_TEXT + SECRET_TEXT_V2 + SECRET_TEXT_V3,
    ids=[_id(t) for t, _ in SECRET_TEXT + SECRET_TEXT_V2 + SECRET_TEXT_V3],
)
def test_secret_text(r: Redactor, text: str, expected: str) -> None:
    assert r.text(text) == expected


@pytest.mark.parametrize(
    "text",
    BENIGN_TEXT + BENIGN_TEXT_V2 + BENIGN_TEXT_V3,
    ids=[_id(t) for t in BENIGN_TEXT + BENIGN_TEXT_V2 + BENIGN_TEXT_V3],
)
def test_benign_text_is_untouched(r: Redactor, text: str) -> None:
    assert r.text(text) == text
    assert r.findings(text) == []


@pytest.mark.parametrize(("argv", "expected"), SECRET_ARGV, ids=[_id(a) for a, _ in SECRET_ARGV])
def test_secret_argv(r: Redactor, argv: list[str], expected: list[str]) -> None:
    assert r.argv(argv) == expected
    assert r.value(argv) == expected  # list attributes get argv treatment in spans too


@pytest.mark.parametrize("argv", BENIGN_ARGV, ids=[_id(a) for a in BENIGN_ARGV])
def test_benign_argv_is_untouched(r: Redactor, argv: list[str]) -> None:
    assert r.argv(argv) == argv


@pytest.mark.parametrize(("env", "expected"), SECRET_ENV, ids=[_id(e) for e, _ in SECRET_ENV])
def test_secret_env(r: Redactor, env: dict[str, str], expected: dict[str, str]) -> None:
    assert r.env(env) == expected


@pytest.mark.parametrize("env", BENIGN_ENV, ids=[_id(e) for e in BENIGN_ENV])
def test_benign_env_is_untouched(r: Redactor, env: dict[str, str]) -> None:
    assert r.env(env) == env


def test_the_corpus_is_big_enough() -> None:
    total = (
        len(SECRET_TEXT_V2)
        + len(BENIGN_TEXT_V2)
        + len(SECRET_TEXT)
        + len(BENIGN_TEXT)
        + len(SECRET_ARGV)
        + len(BENIGN_ARGV)
        + len(SECRET_ENV)
        + len(BENIGN_ENV)
    )
    assert total >= 200


def test_findings_name_the_most_specific_rule_once_per_secret(r: Redactor) -> None:
    text = f"{OPENAI} {GITHUB} {KNOWN} Authorization: Bearer {HF} Authorization: Basic dXNlcjpwYXNz"
    assert [f.rule for f in r.findings(text)] == [
        "openai-api-key",
        "github-token",
        "known-secret",
        "huggingface-token",
        "authorization-header",
    ]


# A known secret in the other forms an agent can give it.
KNOWN_FORMS = [
    ("JSON \\u escapes", '{"key": "\\u006fpaque-Secret-without-any-shape"}'),
    ("JSON every char escaped", '"' + "".join(f"\\u{ord(c):04x}" for c in KNOWN) + '"'),
    ("split over two lines", "opaque-Secret-wi\nthout-any-shape"),
    ("split with CRLF", "opaque-Secret-wi\r\nthout-any-shape"),
    ("a piece of 16", "prefix Secret-without-an suffix"),
    ("colour codes inside", "opaque-\x1b[1mSecret\x1b[0m-without-any-shape"),
    ("zero-width inside", "opaque-Secret\u200b-without\u00ad-any-shape"),
    ("backspace overwrite", "opaque-SecretX\x08-without-any-shape"),
    ("NUL inside", "opaque-Secret\x00-without-any-shape"),
]


@pytest.mark.parametrize(("form", "text"), KNOWN_FORMS, ids=[f for f, _ in KNOWN_FORMS])
def test_a_known_secret_in_any_form_is_found_and_no_piece_survives(r: Redactor, form: str, text: str) -> None:
    assert r.findings(text), form
    out = r.text(text)
    visible = "".join(ch for ch in out if ch.isprintable() or ch == "\n").replace("\n", "")
    assert not any(KNOWN[i : i + 16] in visible for i in range(len(KNOWN) - 15))


def test_a_multi_line_known_secret_is_redacted_line_by_line() -> None:
    secret = "line-one-of-the-secret\nline-two-of-the-secret"
    out = Redactor([secret]).text(f"before\n{secret}\nafter")
    assert out == f"before\n{R}\n{R}\nafter"
