"""The credential rules, as data. Pure: stdlib only.

One entry per rule: an id, a pattern (its ``secret`` group, or the whole match, is what is
replaced), the keywords of its prefilter (a text holding none of them is never run through
the pattern), and examples that must be found and look-alikes that must not.
``tests/unit/test_redact_rules.py`` runs every entry's examples, so adding a provider is one
entry here and its test comes with it.

Written for this project after reading gitleaks' rule set (``config/gitleaks.toml``) and
detect-secrets' plugins, for the providers and tools coding agents meet: model APIs, code
hosts, package registries, clouds, chat and CI webhooks, observability SaaS, and the places
passwords sit in configuration files and command lines. Example tokens are made up, built
by :func:`fake` to the documented shapes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#: What follows a token's prefix in the prefilter's trigger (see :func:`_t`).
_TOKEN_BODY = r"[A-Za-z0-9_+/=.~-]{8}"  # noqa: S105
_HEX = "0123456789abcdef"


def fake(prefix: str, length: int, alphabet: str = _ALNUM, seed: str = "") -> str:
    """A made-up token: ``prefix`` and ``length`` characters of ``alphabet``, the same every time."""
    digest = b""
    counter = 0
    while len(digest) < length:
        digest += hashlib.sha256(f"{prefix}{seed}{counter}".encode()).digest()
        counter += 1
    return prefix + "".join(alphabet[b % len(alphabet)] for b in digest[:length])


@dataclass(frozen=True)
class RuleSpec:
    """One credential rule.

    Attributes:
        id: the rule's name in ``scan`` output.
        pattern: a Python regular expression; its ``secret`` group (or the whole match) is replaced.
        keywords: literals one of which every match contains; the prefilter looks for these
            (lowercase, compared with lowercased text, when ``ignore_case``).
        examples: texts in which the rule must find a secret.
        counter: texts in which it must find none.
        token: whole tokens only: no letter, digit, ``_`` or ``-`` right before or after.
        ignore_case: the pattern and keywords ignore case.
        trigger: a regular expression (RE2 syntax: no look-arounds) that matches inside every
            match of ``pattern``; the default is the keywords themselves.
        digits: the secret must hold a digit (tokens that are otherwise words, like ``sk-learn-…``).
    """

    id: str
    pattern: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]
    counter: tuple[str, ...] = ()
    token: bool = False
    ignore_case: bool = False
    trigger: str | None = None
    digits: bool = False
    multiline: bool = False
    #: The value must also look like a credential (letters and digits, 12+ characters).
    shaped: bool = False
    #: A regular expression the text around a match must hold (``kind: Secret`` for its ``data``).
    requires: str = ""
    #: The context also occurs in code: a value that is a name or an expression there
    #: (``Authorization: e.token?...`` in minified JavaScript, ``token: strings.TrimSpace``) is none.
    code_aware: bool = False
    tags: tuple[str, ...] = field(default=())


def _t(
    id: str,
    pattern: str,
    keywords: tuple[str, ...],
    examples: tuple[str, ...],
    counter: tuple[str, ...] = (),
    *,
    digits: bool = True,
    trigger: str | None = None,
) -> RuleSpec:
    # The prefilter looks for the prefix and the start of a token's body, so that a bare prefix
    # in ordinary text ("ask_user", "dapi" in "rapid") is no candidate. Bounded and after a
    # literal: a run of a class at the start of a trigger, or a long one, blows up RE2's DFA.
    if trigger is None:
        trigger = "(?:" + "|".join(re.escape(k) for k in keywords) + ")" + _TOKEN_BODY
    return RuleSpec(
        id,
        f"(?P<secret>{pattern})",
        keywords,
        examples,
        counter,
        token=True,
        digits=digits,
        trigger=trigger,
    )


def _c(
    id: str,
    pattern: str,
    keywords: tuple[str, ...],
    examples: tuple[str, ...],
    counter: tuple[str, ...] = (),
    *,
    trigger: str | None = None,
    ignore_case: bool = True,
    multiline: bool = False,
    shaped: bool = False,
    code_aware: bool = False,
    requires: str = "",
) -> RuleSpec:
    return RuleSpec(
        id,
        pattern,
        keywords,
        examples,
        counter,
        ignore_case=ignore_case,
        trigger=trigger,
        multiline=multiline,
        shaped=shaped,
        code_aware=code_aware,
        requires=requires,
    )


_B64 = _ALNUM + "+/"
_URLSAFE = _ALNUM + "_-"

#: Provider tokens, found by the fixed prefixes providers put on them.
TOKENS: tuple[RuleSpec, ...] = (
    # -- model APIs --------------------------------------------------------------------------
    _t(
        "anthropic-api-key",
        r"sk-ant-[A-Za-z0-9_-]{20,}",
        ("sk-ant-",),
        (fake("sk-ant-api03-", 93, _URLSAFE),),
    ),
    _t("openrouter-api-key", r"sk-or-[A-Za-z0-9_-]{20,}", ("sk-or-",), (fake("sk-or-v1-", 64, _HEX),)),
    _t(
        "openai-api-key",
        r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}",
        ("sk-",),
        (fake("sk-proj-", 56, _URLSAFE), fake("sk-", 48), "key sk-" + fake("", 32, _HEX)),
        ("risk-assessment-framework-for-agents", "sk-learn-is-not-the-package-name-here"),
        trigger=r"sk-[A-Za-z0-9_-]{8}",
    ),
    _t("xai-api-key", r"xai-[A-Za-z0-9]{40,}", ("xai-",), (fake("xai-", 80),)),
    _t("groq-api-key", r"gsk_[A-Za-z0-9]{40,}", ("gsk_",), (fake("gsk_", 52),)),
    _t("nvidia-api-key", r"nvapi-[A-Za-z0-9_-]{20,}", ("nvapi-",), (fake("nvapi-", 64, _URLSAFE),)),
    _t("perplexity-api-key", r"pplx-[A-Za-z0-9]{40,}", ("pplx-",), (fake("pplx-", 48),)),
    _t("cerebras-api-key", r"csk-[a-z0-9]{40,}", ("csk-",), (fake("csk-", 48, _HEX),)),
    _t("replicate-api-token", r"r8_[A-Za-z0-9]{37}", ("r8_",), (fake("r8_", 37),)),
    _t("fireworks-api-key", r"fw_[A-Za-z0-9]{24,}", ("fw_",), (fake("fw_", 24),)),
    _t("huggingface-token", r"hf_[A-Za-z0-9]{30,}", ("hf_",), (fake("hf_", 34),)),
    _t("huggingface-org-token", r"api_org_[A-Za-z0-9]{30,}", ("api_org_",), (fake("api_org_", 34),)),
    _t(
        "langsmith-api-key",
        r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}",
        ("lsv2_",),
        (fake("lsv2_pt_", 32, _HEX) + "_" + fake("", 10, _HEX),),
    ),
    _t("google-api-key", r"AIza[0-9A-Za-z_-]{35}", ("AIza",), (fake("AIza", 35, _URLSAFE),)),
    _t("google-oauth-token", r"ya29\.[0-9A-Za-z_-]{20,}", ("ya29.",), (fake("ya29.", 120, _URLSAFE),)),
    _t("google-refresh-token", r"1//0[A-Za-z0-9_-]{40,}", ("1//0",), (fake("1//0", 60, _URLSAFE),)),
    _t(
        "google-oauth-client-secret",
        r"GOCSPX-[A-Za-z0-9_-]{28}",
        ("GOCSPX-",),
        (fake("GOCSPX-", 28, _URLSAFE),),
    ),
    # -- clouds --------------------------------------------------------------------------------
    _t(
        "aws-access-key-id",
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
        ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
        ("AKIAIOSFODNN7EXAMPLE", "ASIA" + fake("", 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")),
        ("the AKIA prefix marks AWS access key ids", "ASIAN_FOOD_CATEGORY_LIST"),
        digits=False,
    ),
    _t(
        "azure-ad-client-secret",
        r"[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}",
        ("Q~",),
        ("xyz8Q~" + fake("", 34, _URLSAFE),),
        trigger=r"[0-9]Q~[A-Za-z0-9_~.-]{8}",
    ),
    _t(
        "digitalocean-token",
        r"do[opr]_v1_[a-f0-9]{64}",
        ("do", "_v1_"),
        (fake("dop_v1_", 64, _HEX),),
        trigger=r"do[opr]_v1_",
    ),
    _t("heroku-api-key", r"HRKU-[A-Za-z0-9_-]{60,}", ("HRKU-",), (fake("HRKU-", 60, _URLSAFE),)),
    _t(
        "hashicorp-vault-token",
        r"hv[sb]\.[A-Za-z0-9_-]{24,}",
        ("hvs.", "hvb."),
        (fake("hvs.", 90, _URLSAFE),),
    ),
    _t(
        "terraform-cloud-token",
        r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,}",
        (".atlasv1.",),
        (fake("", 14) + ".atlasv1." + fake("", 67, _URLSAFE),),
    ),
    _t("pulumi-token", r"pul-[a-f0-9]{40}", ("pul-",), (fake("pul-", 40, _HEX),)),
    _t(
        "doppler-token",
        r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}",
        ("dp.",),
        (fake("dp.pt.", 43),),
    ),
    _t(
        "age-secret-key",
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        ("AGE-SECRET-KEY-1",),
        (fake("AGE-SECRET-KEY-1", 58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"),),
    ),
    _t(
        "cloudflare-origin-ca-key",
        r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}",
        ("v1.0-",),
        (fake("v1.0-", 24, _HEX) + "-" + fake("", 146, _HEX),),
    ),
    # -- code hosts and CI ---------------------------------------------------------------------
    _t(
        "github-token",
        r"gh[pousr]_[A-Za-z0-9]{30,}",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        (fake("ghp_", 36), fake("ghs_", 36)),
    ),
    _t(
        "github-fine-grained-token",
        r"github_pat_[A-Za-z0-9_]{30,}",
        ("github_pat_",),
        (fake("github_pat_11", 80, _ALNUM + "_"),),
    ),
    _t(
        "gitlab-token",
        r"gl(?:pat|dt|ptt|rt|cbt|imt|soat|ft|agent|oas)-[A-Za-z0-9_-]{20,}",
        ("glpat-", "gldt-", "glptt-", "glrt-", "glcbt-", "glimt-", "glsoat-", "glft-", "glagent-", "gloas-"),
        (fake("glpat-", 20, _URLSAFE), fake("glrt-", 20, _URLSAFE)),
    ),
    _t(
        "gitlab-runner-registration-token",
        r"GR1348941[A-Za-z0-9_-]{20}",
        ("GR1348941",),
        (fake("GR1348941", 20, _URLSAFE),),
    ),
    _t("bitbucket-app-password", r"ATBB[A-Za-z0-9_=.-]{28,}", ("ATBB",), (fake("ATBB", 32),)),
    _t("atlassian-api-token", r"ATATT3[A-Za-z0-9_=-]{60,}", ("ATATT3",), (fake("ATATT3", 186, _URLSAFE),)),
    _t(
        "circleci-token",
        r"CCIPAT_[A-Za-z0-9]{20,}_[a-f0-9]{40}",
        ("CCIPAT_",),
        (fake("CCIPAT_", 22) + "_" + fake("", 40, _HEX),),
    ),
    _t("buildkite-token", r"bkua_[a-f0-9]{40}", ("bkua_",), (fake("bkua_", 40, _HEX),)),
    # -- package registries and containers -----------------------------------------------------
    _t("npm-token", r"npm_[A-Za-z0-9]{36}", ("npm_",), (fake("npm_", 36),)),
    _t(
        "pypi-token",
        r"pypi-AgE[A-Za-z0-9_-]{50,}",
        ("pypi-AgE",),
        (fake("pypi-AgEIcHlwaS5vcmc", 70, _URLSAFE),),
    ),
    _t("rubygems-api-key", r"rubygems_[a-f0-9]{48}", ("rubygems_",), (fake("rubygems_", 48, _HEX),)),
    _t(
        "nuget-api-key",
        r"oy2[a-z0-9]{43}",
        ("oy2",),
        (fake("oy2", 43, "abcdefghijklmnopqrstuvwxyz0123456789"),),
    ),
    _t(
        "dockerhub-token",
        r"dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,}",
        ("dckr_",),
        (fake("dckr_pat_", 27, _URLSAFE),),
    ),
    _t("jfrog-api-key", r"AKCp[A-Za-z0-9]{69}", ("AKCp",), (fake("AKCp", 69),)),
    _t(
        "clojars-token",
        r"CLOJARS_[a-z0-9]{60}",
        ("CLOJARS_",),
        (fake("CLOJARS_", 60, "abcdefghijklmnopqrstuvwxyz0123456789"),),
    ),
    # -- chat, mail, payments, SaaS ------------------------------------------------------------
    _t(
        "slack-token",
        r"xox[abposre]-[A-Za-z0-9-]{10,}",
        ("xox",),
        ("xoxb-123456789012-1234567890123-" + fake("", 24),),
    ),
    _t(
        "slack-app-token",
        r"xapp-[0-9]-[A-Za-z0-9-]{10,}",
        ("xapp-",),
        ("xapp-1-A0123456789-" + fake("", 40),),
    ),
    _t(
        "stripe-secret-key",
        r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
        (fake("sk_live_", 24), fake("rk_test_", 24)),
        ("pk_live_is_public",),
    ),
    _t("stripe-webhook-secret", r"whsec_[A-Za-z0-9]{32,}", ("whsec_",), (fake("whsec_", 32),)),
    _t(
        "sendgrid-api-key",
        r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
        ("SG.",),
        (fake("SG.", 22, _URLSAFE) + "." + fake("", 43, _URLSAFE),),
    ),
    _t(
        "mailgun-api-key",
        r"key-[0-9a-f]{32}",
        ("key-",),
        (fake("key-", 32, _HEX),),
        ("key-value-store-for-small-projects",),
        trigger=r"key-[0-9a-f]{8}",
    ),
    _t(
        "mailchimp-api-key",
        r"[0-9a-f]{32}-us[0-9]{1,2}",
        ("-us",),
        (fake("", 32, _HEX) + "-us14",),
        trigger=r"[0-9a-f]{4}-us[0-9]",
    ),
    _t("twilio-api-key", r"SK[0-9a-fA-F]{32}", ("SK",), (fake("SK", 32, _HEX),), trigger=r"SK[0-9a-fA-F]{8}"),
    _t(
        "telegram-bot-token",
        r"[0-9]{8,10}:AA[A-Za-z0-9_-]{33}",
        (":AA",),
        ("123456789:AA" + fake("", 33, _URLSAFE),),
        trigger=r"[0-9]:AA[A-Za-z0-9_-]{8}",
    ),
    _t(
        "discord-bot-token",
        r"[MN][A-Za-z0-9]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}",
        (".",),
        (fake("M", 23) + "." + fake("", 6) + "." + fake("", 27),),
        # Not the token's first part: a run of a class at a trigger's start makes RE2's DFA crawl
        # (10 MB/s); its last two parts, in full, are rare enough in ordinary text.
        trigger=r"\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27}",
    ),
    _t(
        "shopify-token",
        r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
        ("shpat_", "shpca_", "shppa_", "shpss_"),
        (fake("shpat_", 32, _HEX),),
    ),
    _t("linear-api-key", r"lin_api_[A-Za-z0-9]{40}", ("lin_api_",), (fake("lin_api_", 40),)),
    _t(
        "notion-token",
        r"(?:secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35})",
        ("secret_", "ntn_"),
        (fake("secret_", 43), "ntn_12345678901" + fake("", 35)),
    ),
    _t(
        "airtable-token",
        r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}",
        ("pat",),
        (fake("pat", 14) + "." + fake("", 64, _HEX),),
        trigger=r"pat[A-Za-z0-9]{8}",
    ),
    _t("figma-token", r"figd_[A-Za-z0-9_-]{40}", ("figd_",), (fake("figd_", 40, _URLSAFE),)),
    _t(
        "supabase-token",
        r"(?:sbp_[a-f0-9]{40}|sb_secret_[A-Za-z0-9_-]{20,})",
        ("sbp_", "sb_secret_"),
        (fake("sbp_", 40, _HEX),),
    ),
    _t(
        "postman-api-key",
        r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}",
        ("PMAK-",),
        (fake("PMAK-", 24, _HEX) + "-" + fake("", 34, _HEX),),
    ),
    _t(
        "newrelic-key",
        r"NR(?:AK|JS|II)-[A-Za-z0-9]{19,}",
        ("NRAK-", "NRJS-", "NRII-"),
        (fake("NRAK-", 27, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),),
    ),
    _t(
        "grafana-token",
        r"(?:glc_[A-Za-z0-9+/]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})",
        ("glc_", "glsa_"),
        (fake("glc_", 40),),
    ),
    _t("sentry-token", r"sntr(?:ys|yu)_[A-Za-z0-9+/=_]{40,}", ("sntrys_", "sntryu_"), (fake("sntrys_", 60),)),
    _t("databricks-token", r"dapi[a-f0-9]{32}(?:-[0-9])?", ("dapi",), (fake("dapi", 32, _HEX),)),
    _t(
        "square-token",
        r"(?:EAAA|sq0atp-|sq0csp-)[A-Za-z0-9_-]{22,60}",
        ("EAAA", "sq0atp-", "sq0csp-"),
        (fake("sq0csp-", 43, _URLSAFE),),
    ),
    _t("facebook-access-token", r"EAA[MC][A-Za-z0-9]{100,}", ("EAAM", "EAAC"), (fake("EAAC", 120),)),
    # -- agent tooling, sandboxes, data and search APIs ------------------------------------------
    _t("together-api-key", r"tgp_v1_[A-Za-z0-9_-]{40,}", ("tgp_v1_",), (fake("tgp_v1_", 43, _URLSAFE),)),
    _t("pinecone-api-key", r"pcsk_[A-Za-z0-9_]{50,}", ("pcsk_",), (fake("pcsk_", 70, _ALNUM + "_"),)),
    _t(
        "elevenlabs-api-key",
        r"sk_[a-f0-9]{48}",
        ("sk_",),
        (fake("sk_", 48, _HEX),),
        trigger=r"sk_[a-f0-9]{8}",
    ),
    _t("tavily-api-key", r"tvly-[A-Za-z0-9-]{32,}", ("tvly-",), (fake("tvly-dev-", 32),)),
    _t("firecrawl-api-key", r"fc-[a-f0-9]{32}", ("fc-",), (fake("fc-", 32, _HEX),)),
    _t("e2b-api-key", r"e2b_[a-f0-9]{40}", ("e2b_",), (fake("e2b_", 40, _HEX),)),
    _t("daytona-api-key", r"dtn_[a-f0-9]{64}", ("dtn_",), (fake("dtn_", 64, _HEX),)),
    _t(
        "browserbase-api-key", r"bb_live_[A-Za-z0-9_-]{27,}", ("bb_live_",), (fake("bb_live_", 27, _URLSAFE),)
    ),
    _t(
        "modal-token-secret",
        r"as-[A-Za-z0-9]{22}",
        ("as-",),
        (fake("as-", 22),),
        trigger=r"as-[A-Za-z0-9]{8}",
    ),
    _t("anyscale-api-key", r"esecret_[A-Za-z0-9]{20,}", ("esecret_",), (fake("esecret_", 40),)),
    _t(
        "neon-api-key",
        r"napi_[a-z0-9]{64}",
        ("napi_",),
        (fake("napi_", 64, "abcdefghijklmnopqrstuvwxyz0123456789"),),
    ),
    _t("render-api-key", r"rnd_[A-Za-z0-9]{32}", ("rnd_",), (fake("rnd_", 32),)),
    _t("fly-token", r"fm[12][ar]?_[A-Za-z0-9+/=_-]{40,}", ("fm1", "fm2"), (fake("fm2_", 120, _B64),)),
    _t(
        "sourcegraph-token", r"sgp_(?:[a-fA-F0-9]{16}_)?[a-fA-F0-9]{40}", ("sgp_",), (fake("sgp_", 40, _HEX),)
    ),
    _t(
        "planetscale-token",
        r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.=-]{32,64}",
        ("pscale_",),
        (fake("pscale_tkn_", 43, _URLSAFE),),
    ),
    _t("prefect-api-key", r"pnu_[A-Za-z0-9]{36}", ("pnu_",), (fake("pnu_", 36),)),
    _t(
        "onepassword-service-token",
        r"ops_eyJ[A-Za-z0-9+/=_-]{100,}",
        ("ops_eyJ",),
        (fake("ops_eyJ", 260, _B64),),
    ),
    _t(
        "mapbox-secret-token",
        r"sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}",
        ("sk.eyJ",),
        (fake("sk.eyJ", 60) + "." + fake("", 22),),
    ),
    _t("alibaba-access-key-id", r"LTAI[A-Za-z0-9]{20}", ("LTAI",), (fake("LTAI", 20),)),
    _t(
        "dynatrace-token",
        r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}",
        ("dt0c01.",),
        (
            fake("dt0c01.", 24, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            + "."
            + fake("", 64, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
        ),
    ),
    _t(
        "octopus-deploy-api-key",
        r"API-[A-Z0-9]{26}",
        ("API-",),
        (fake("API-", 26, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),),
        trigger=r"API-[A-Z0-9]{8}",
    ),
    _t("typeform-token", r"tfp_[A-Za-z0-9_.=-]{59}", ("tfp_",), (fake("tfp_", 59, _URLSAFE),)),
    _t("shippo-token", r"shippo_(?:live|test)_[a-f0-9]{40}", ("shippo_",), (fake("shippo_live_", 40, _HEX),)),
    _t(
        "jwt",
        r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        ("eyJ",),
        (
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        ),
        ("eyJhbGciOiJIUzI1NiJ9 alone is only a header",),
        digits=False,
    ),
)

#: Contexts: the words around a value say it is a secret, whatever its shape.
CONTEXTS: tuple[RuleSpec, ...] = (
    _c(
        "private-key",
        # Up to its END, but not past another BEGIN (many BEGINs with no END: linear, not quadratic).
        r"(?P<secret>-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----(?:(?!-----BEGIN ).)*?"
        r"-----END (?P=kind)PRIVATE KEY( BLOCK)?-----)",
        ("-----begin",),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHz\n-----END ENCRYPTED PRIVATE KEY-----",
            '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADAN\\n-----END PRIVATE KEY-----\\n"',
        ),
        ("-----BEGIN PUBLIC KEY-----\nMIIBIj\n-----END PUBLIC KEY-----",),
        trigger=r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY",
        ignore_case=False,
        multiline=True,
    ),
    _c(
        "putty-private-key",
        r"(?P<secret>PuTTY-User-Key-File-\d+:.*?Private-MAC: [0-9a-f]+)",
        ("putty-user-key-file",),
        (
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\n"
            "AAAAIB\nPrivate-MAC: 0a1b2c",
        ),
        ignore_case=False,
        multiline=True,
    ),
    _c(
        "authorization-header",
        r"(?:proxy-)?authorization[ \t]*[:=][ \t]*[\"']?"
        r"(?:(?:bearer|basic|token|bot|digest|apikey|sso-key|negotiate|ntlm)[ \t]+(?P<secret>[^\s\"'`,;]{4,})"
        # With no scheme, the value must have a digit (minified code: ``Authorization:e.token?...``).
        r"|(?P<s2>(?=[^\s\"'`,;]*[0-9])[^\s\"'`,;]{12,}))",
        ("authorization",),
        (
            "Authorization: Bearer abc123def456",
            "authorization: Basic dXNlcjpwYXNzd29yZA==",
            "Proxy-Authorization: Basic Ym9iOnB3",
        ),
        (
            "Authorization header missing",
            "headers: { Authorization: `Bearer ${apiKey}` }",
            "Authorization: Bearer $TOKEN",
            '{headers:{Authorization:n7.token?"Bearer "+n7.token:void 0}}',
            'x.Authorization="Bearer "+t.accessToken',
        ),
        trigger=r"(?i)authorization[ \t]*[:=][ \t]*[\"']?"
        r"(?:(?:bearer|basic|token|bot|digest|apikey|sso-key|negotiate|ntlm)[ \t]+[^\s\"'`,;$<{]"
        r"|[^\s\"'`,;]{12})",
        code_aware=True,
    ),
    _c(
        "bearer-token",
        r"\bBearer[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)",
        ("bearer",),
        ("-H 'Bearer abcdefghijklmnopqrstuvwxyz012345'",),
        ("Bearer of bad news", "Bearer ${apiKey}"),
        trigger=r"(?i)bearer[ \t]+[A-Za-z0-9._~+/-]{16}",
        ignore_case=False,
    ),
    _c(
        "cookie-header",
        r"(?m)\b(?:set-)?cookie[ \t]*:[ \t]*(?P<secret>[^\s\"'`;\\][^\r\n\"'`]*[^\s\"'`;])",
        ("cookie",),
        (
            "Cookie: session=abc123; theme=dark",
            "curl -H 'Cookie: sid=s%3Aabc.def'",
            "set-cookie: token=xyz; HttpOnly",
        ),
        ("cookie: none", "the Cookie header is optional"),
        trigger=r"(?i)\b(?:set-)?cookie[ \t]*:[ \t]*[^\s\"'`;\\]",
    ),
    _c(
        "url-password",
        r"://[^\s/:@\"'<>]*:(?P<secret>[^\s/@\"'<>]+)@",
        ("://",),
        (
            "https://bob:hunter2@git.example.com/r.git",
            "redis://:s3cretpw@cache:6379/0",
            "postgres://app:p%40ss@db/x",
        ),
        ("https://user@example.com/path", "http://localhost:8080/x", "postgres://app:${DB_PASSWORD}@db/x"),
        trigger=r"://[^\s/:@\"'<>]*:[^\s/@\"'<>]+@",
    ),
    _c(
        "url-credential-parameter",
        r"[?&;](?:sig|signature|x-amz-signature|x-goog-signature|access_token|api_key|apikey|key|token|auth|password|client_secret)"
        r"=(?P<secret>[A-Za-z0-9%+/=._~-]{12,})",
        ("sig=", "signature=", "token=", "key=", "auth=", "password=", "secret="),
        (
            "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sr=b&sig=Zm9vYmFyYmF6cXV4MTIzNDU2%3D",
            "https://s3.amazonaws.com/b/k?X-Amz-Signature=0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        ),
        ("?page=2&key=name", "https://example.com/?token=$TOKEN"),
        trigger=r"(?i)[?&;](?:sig|signature|x-amz-signature|x-goog-signature|access_token|api_key|apikey|key|token"
        r"|auth|password|client_secret)=[A-Za-z0-9%+/=._~-]{12}",
    ),
    _c(
        "webhook-url",
        r"(?P<secret>https://(?:hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}"
        r"|(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]{20,}"
        r"|[a-z0-9-]+\.webhook\.office\.com/webhookb2/[^\s\"'<>]+"
        r"|[a-z0-9-]+\.logic\.azure\.com[^\s\"'<>]*sig=[^\s\"'<>&]+"
        r"|chat\.googleapis\.com/v1/spaces/[^\s\"'<>]*key=[^\s\"'<>]+))",
        ("hooks.slack.com", "discord", "webhook.office.com", "logic.azure.com", "chat.googleapis.com"),
        (
            "https://hooks.slack.com/services/T00000000/B00000000/" + fake("", 24),
            "https://discord.com/api/webhooks/123456789012345678/" + fake("", 68, _URLSAFE),
        ),
        ("https://discord.com/channels/123",),
    ),
    _c(
        "prose-credential",
        r"\b(?:api|access|auth|secret|private|refresh|session|bot|personal[ _-]access)[ ]?"
        r"(?:key|token|secret)"
        r"(?:[ \t]+is)?[ \t]*:?[ \t]+[\"'`]?(?P<secret>[A-Za-z0-9._~+/=-]{12,})",
        ("key", "token", "secret"),
        ("API key: abcd1234efgh5678", "Your access token is gho1234567890abcdef", "API key 9f8e7d6c5b4a3210"),
        ("the api key is required for this model", "API key: <your key>", "access token expires in 3600 s"),
        trigger=r"(?i)\b(?:api|access|auth|secret|private|refresh|session|bot)[ ]?(?:key|token|secret)"
        r"(?:[ \t]+is)?[ \t]*:?[ \t]+[\"'`]?[A-Za-z0-9._~+/=-]{12}",
        shaped=True,
    ),
    _c(
        "curl-user",
        r"\b(?:curl|wget|http|https|xh|httpie|lftp|ftp)\b[^\n|;&]*?"
        r"[ \t](?:-u|--user|--proxy-user|-U|--http-user)"
        r"[ \t=]+[\"']?[^\s:\"']+:(?P<secret>[^\s\"']+)",
        ("curl", "wget", "http", "ftp", "xh"),
        (
            "curl -u bob:hunter2 https://api",
            "curl --user 'admin:pa55w0rd' x",
            "curl -s -u deploy:tok3n-v4lue https://x",
        ),
        ("curl -u bob https://api", "ls -u foo:bar" + "", "git commit -u"),
        trigger=r"(?:-u|--user|--proxy-user|-U|--http-user)[ \t=]+[\"']?[^\s:\"']+:",
        ignore_case=False,
    ),
    _c(
        "password-flag",
        r"\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump|mysqlimport)\b[^\n|;&]*?"
        r"[ \t]-p(?P<secret>[^\s\"'-][^\s\"']*)"
        r"|\bsshpass[ \t]+-p[ \t]*[\"']?(?P<s2>[^\s\"']+)"
        r"|\bredis-cli\b[^\n|;&]*?[ \t]-a[ \t]+(?P<s3>[^\s\"']+)"
        r"|\b(?:docker|podman|helm|oras|skopeo|buildah)[ \t]+(?:[a-z]+[ \t]+)?login\b[^\n|;&]*?"
        r"[ \t]-p[ \t]+(?P<s4>[^\s\"']+)",
        ("mysql", "mariadb", "sshpass", "redis-cli", "login"),
        (
            "mysql -u root -pS3cr3tPass db",
            "sshpass -p 'x' ssh",
            "sshpass -p hunter22 ssh host",
            "redis-cli -h cache -a s3cretpw ping",
            "docker login -u bob -p dckrpw123 registry.io",
        ),
        ("mysql -u root -p db", "mkdir -p build", "docker login -u bob registry.io"),
        # The command's name: a trigger that runs on to its option would hide what lies between
        # (a decoder's mark); which rules run is decided again around each candidate.
        trigger=r"(?i)\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump|mysqlimport|sshpass|redis-cli)\b"
        r"|(?:docker|podman|helm|oras|skopeo|buildah)[ \t]+(?:[a-z]+[ \t]+)?login\b",
    ),
    _c(
        "netrc-password",
        r"\b(?:machine[ \t]+\S+|default)\s+login[ \t]+\S+\s+password[ \t]+(?P<secret>\S+)",
        ("password",),
        (
            "machine api.heroku.com login me@example.com password 01234567-89ab-cdef-0123-456789abcdef",
            "machine github.com\n  login bob\n  password ghsecret123",
        ),
        ("login with password required",),
        trigger=r"(?i)login[ \t]+\S+\s+password[ \t]",
        multiline=True,
    ),
    _c(
        "kubeconfig-credential",
        r"(?m)^[ \t-]*(?:client-key-data|token|id-token|refresh-token|auth-provider-token)[ \t]*:[ \t]*"
        r"[\"']?(?P<secret>[A-Za-z0-9._~+/=-]{16,})",
        ("client-key-data", "token"),
        (
            "    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=",
            "  user:\n    token: eyJhbGciOiJSUzI1NiJ9abcdefgh12",
        ),
        ("    token: 4096", "max_token: 100000000000000000"),
        trigger=r"(?im)^[ \t-]*(?:client-key-data|token|id-token|refresh-token|auth-provider-token)[ \t]*:"
        r"[ \t]*[\"']?[A-Za-z0-9._~+/=-]{16}",
        code_aware=True,
    ),
    _c(
        "xml-password",
        r"<(?P<tag>password|passwd|secret|token|apikey|api[_-]?key|privatekey|clientsecret|client[_-]secret|passphrase)>"
        r"(?P<secret>[^<\s][^<]*)</(?P=tag)>"
        r"|key=\"(?:ClearTextPassword|Password|ApiKey|Token|Secret)\"[ \t]+value=\"(?P<s2>[^\"]+)\"",
        (
            "<password>",
            "<passwd>",
            "<secret>",
            "<token>",
            "<apikey>",
            "<api",
            "<privatekey>",
            "<client",
            "<passphrase>",
            'key="',
        ),
        (
            "<server><id>central</id><password>m4venPass!</password></server>",
            '<add key="ClearTextPassword" value="nugetPa55" />',
        ),
        ("<password>${env.MAVEN_PASSWORD}</password>", "<password></password>"),
        trigger=r"(?i)(?:<(?:password|passwd|secret|token|apikey|api[_-]?key|privatekey|clientsecret"
        r"|client[_-]secret|passphrase)>[^<\s]|key=\"[a-z]+\"[ \t]+value=)",
    ),
    _c(
        "connection-string-password",
        r"(?:^|[;\"'\s])(?:password|pwd|accountkey|sharedaccesskey)=(?P<secret>[^;\"'\s]{4,})",
        ("password=", "pwd=", "accountkey=", "sharedaccesskey="),
        (
            "Server=db;Database=x;User Id=sa;Password=Sql$erver2024;",
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + fake("", 86, _B64) + "==;",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey="
            + fake("", 44, _B64),
        ),
        ("Password=;",),
        trigger=r"(?i)(?:^|[;\"'\s])(?:password|pwd|accountkey|sharedaccesskey)=[^;\"'\s]{4}",
        code_aware=True,
    ),
)

#: Redaction v3: contexts from the credential formats and command-line manuals of the tools
#: agents drive; an unknown credential is found by what binds it (option, field, directive).
BINDINGS: tuple[RuleSpec, ...] = (
    _c(
        "private-key-truncated",
        r"(?P<secret>-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----"
        r"(?:\r?\n(?:[A-Za-z0-9+/=]{8,}|[A-Za-z-]+: [^\n]*|))+)",
        ("-----begin",),
        (
            "$ head -3 id_rsa\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onL",  # noqa: E501
        ),
        ("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A",),
        trigger=r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY",
        ignore_case=False,
    ),
    _c(
        "har-header",
        r"\"name\"[ \t]*:[ \t]*\"(?:(?:proxy-)?authorization|cookie|set-cookie|x-api-key|api-key|apikey|"
        r"x-auth-token|private-token|x-goog-api-key|x-amz-security-token|[a-z_-]*(?:token|secret|password))\""
        r"[ \t]*,[ \t]*\"value\"[ \t]*:[ \t]*\"(?:(?:bearer|basic|token)[ \t]+)?(?P<secret>[^\"]{4,})\"",
        ('"value"',),
        (
            '{"name": "Authorization", "value": "Bearer eyJhbGciOi.payload.sig9"}',
            '{"name":"Cookie","value":"sessionid=8f7e6d5c4b3a"}',
            '{"name": "access_token", "value": "ya29-a0AfH6SMBx"}',
        ),
        (
            '{"name": "Accept", "value": "application/json"}',
            '{"name": "Authorization", "value": "Bearer {{token}}"}',
        ),
        trigger=r"(?i)\"name\"[ \t]*:[ \t]*\"[a-z_-]*(?:authorization|cookie|key|token|secret|password)\"[ \t]*,",  # noqa: E501
    ),
    _c(
        "env-table",
        r"(?m)^[ \t|]*[A-Z][A-Z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|CREDENTIALS?)[ \t]*"
        r"(?:\|[ \t]*|\t[ \t]*|[ \t]{2,})[\"'`]?(?P<secret>[^\s|\"'`]{8,})",
        ("key", "token", "secret", "pass", "pwd", "credential"),
        (
            "| OPENAI_API_KEY | 9f8e7d6c5b4a3210ffee |",
            "DATABASE_PASSWORD     Sup3rS3cretPw",
            "GITHUB_TOKEN\tgh0a1b2c3d4e5f6a7b8c9",
        ),
        ("| MAX_TOKENS | 4096 |", "| API_KEY | ${{ secrets.API_KEY }} |", "CACHE_KEY     v2"),
        trigger=r"[A-Z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|CREDENTIALS?)[ \t]*(?:\||\t|[ \t]{2})",  # noqa: E501
        ignore_case=False,
        shaped=True,
    ),
    _c(
        "sql-password",
        r"\b(?:(?:with|login|user[ \t]+\S+|role[ \t]+\S+)[ \t]+(?:encrypted[ \t]+)?password"
        r"|identified[ \t]+(?:with[ \t]+\S+[ \t]+)?by(?:[ \t]+password)?"
        r"|set[ \t]+password(?:[ \t]+for[ \t]+\S+)?[ \t]*=(?:[ \t]*password[ \t]*\()?)[ \t]*'(?P<secret>[^'\n]+)'",  # noqa: E501
        ("password", "identified"),
        (
            "CREATE USER app WITH PASSWORD 'Sql-Pa55word';",
            "ALTER ROLE app LOGIN PASSWORD 'rolepw!';",
            "CREATE USER 'app'@'%' IDENTIFIED BY 'mysqlPw9';",
            "SET PASSWORD FOR 'app'@'%' = PASSWORD('oldpw77');",
        ),
        ("ALTER USER app WITH PASSWORD NULL;", "CREATE USER app WITH PASSWORD :'pw';"),
        trigger=r"(?i)(?:password|identified[ \t]+(?:with[ \t]+\S+[ \t]+)?by)[ \t]*=?[ \t]*(?:password[ \t]*\()?[ \t]*'"  # noqa: E501
        r"|password[ \t]*\([ \t]*'",
    ),
    _c(
        "cli-password",
        r"\b(?:mongo|mongosh|mongodump|mongorestore|mongoexport|mongoimport|sqlcmd|bcp)\b[^\n|;&]*?"
        r"[ \t](?:-p|-P|--password)[ \t=]+[\"']?(?![^\s]*://)(?P<secret>[^\s\"'-][^\s\"']*)"
        r"|\bopenssl\b[^\n|;&]*?[ \t]-(?:passin|passout|pass)[ \t]+[\"']?pass:(?P<s2>[^\s\"']+)"
        r"|\b(?:zip|unzip|7z|7za|rar|unrar)\b[^\n|;&]*?[ \t]-[Pp][ \t]*(?P<s3>[^\s\"'-][^\s\"']*)"
        r"|\b(?:ldapsearch|ldapadd|ldapmodify|ldapdelete|ldappasswd)\b[^\n|;&]*?[ \t]-w[ \t]+[\"']?(?P<s4>[^\s\"']+)",  # noqa: E501
        ("mongo", "sqlcmd", "bcp", "openssl", "zip", "7z", "rar", "ldap"),
        (
            "mongosh -u admin -p M0ngoPw mongodb://db",
            "openssl pkcs12 -export -in c.pem -passout pass:P12secret -out c.p12",
            "zip -P zipPa55 out.zip file",
            "ldapsearch -x -D cn=admin -w LdapPw1 -b dc=x",
            "sqlcmd -S db -U sa -P 'Sq1Pass!'",
        ),
        ("mongosh -u admin -p mongodb://db", "openssl enc -pass env:PW", "zip -r out.zip dir"),
        trigger=r"(?i)\bopenssl\b[^\n|;&]{0,200}?[ \t]-pass(?:in|out)?[ \t]"
        r"|\b(?:mongo|mongosh|mongodump|mongorestore|mongoexport|mongoimport|sqlcmd|bcp|zip"
        r"|unzip|7z|7za|rar|unrar|ldapsearch|ldapadd|ldapmodify|ldapdelete|ldappasswd)\b",
    ),
    _c(
        "cli-credential-argument",
        r"\bvault[ \t]+login[ \t]+(?:-[^\s]+[ \t]+)*(?P<secret>(?!-)[A-Za-z0-9._-]{12,})"
        r"|\bgh[ \t]+secret[ \t]+set[ \t]+\S+[^\n|;&]*?[ \t](?:-b|--body)[ \t=]+[\"']?(?P<s2>[^\s\"']+)"
        r"|--from-literal=[^=\s]+=[\"']?(?P<s3>[^\s\"']+)"
        r"|\baws[ \t]+configure[ \t]+set[ \t]+(?:\S+\.)?(?:aws_secret_access_key|aws_session_token)[ \t]+(?P<s4>\S+)",  # noqa: E501
        ("vault", "gh", "from-literal", "aws"),
        (
            "vault login hvs-localdevroot123",
            "gh secret set DEPLOY_KEY --body 'dk-7f6e5d4c3b2a'",
            "kubectl create secret generic db --from-literal=password=Kub3Pass",
            "aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (
            "vault login -method=github",
            "kubectl create secret generic db --from-literal=password=$DB_PASSWORD",
        ),
        trigger=r"(?i)vault[ \t]+login[ \t]|gh[ \t]+secret[ \t]+set|--from-literal=|configure[ \t]+set[ \t]",
    ),
    _c(
        "password-stdin-echo",
        r"\b(?:echo|printf)[ \t]+(?:-n[ \t]+)?[\"']?(?P<secret>[^\s\"'|$`]{6,})[\"']?[ \t]*\|[ \t]*"
        r"(?:docker|podman|helm|oras|skopeo|buildah|nerdctl)[ \t]+(?:registry[ \t]+)?login\b[^\n]*--password-stdin",  # noqa: E501
        ("password-stdin",),
        ("echo 'dckrPa55w0rd' | docker login -u bob --password-stdin ghcr.io",),
        ('echo "$CR_PAT" | docker login ghcr.io -u bob --password-stdin',),
        trigger=r"(?i)--password-stdin",
    ),
    _c(
        "ci-mask",
        r"::add-mask::(?P<secret>[^\s\"'`$][^\s\"'`]*)"
        r"|##vso\[task\.(?:setsecret|setvariable[^\]]*issecret=true[^\]]*)\](?P<s2>[^\s\"'`]+)",
        ("::add-mask::", "##vso["),
        ("echo ::add-mask::s3cr3t-v4lue-x", "##vso[task.setvariable variable=pw;issecret=true]AzPw1234"),
        ('echo "::add-mask::$TOKEN"', "echo ::add-mask::${{ steps.x.outputs.token }}"),
        trigger=r"(?i)::add-mask::[^\s\"'`$]|##vso\[task\.set",
    ),
    _c(
        "telegram-bot-url",
        r"/bot(?P<secret>[0-9]{6,12}:[A-Za-z0-9_-]{30,})",
        ("/bot",),
        ("https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",),
        ("https://example.com/bot/123",),
        trigger=r"/bot[0-9]{6}",
        ignore_case=False,
    ),
    _c(
        "webhook-url-more",
        r"(?P<secret>https://(?:hooks\.zapier\.com/hooks/catch/[0-9]+/[A-Za-z0-9]+"
        r"|maker\.ifttt\.com/trigger/[^\s/]+/with/key/[A-Za-z0-9_-]+"
        r"|events\.pagerduty\.com/integration/[a-f0-9]{32}/enqueue"
        r"|open\.(?:feishu\.cn|larksuite\.com)/open-apis/bot/v2/hook/[0-9a-f-]{20,}"
        r"|[a-z0-9.-]+/hooks/[a-z0-9]{26}\b"
        r"|api\.ciscospark\.com/v1/webhooks/incoming/[A-Za-z0-9_-]{20,}))",
        ("hooks.zapier.com", "maker.ifttt.com", "pagerduty.com", "/open-apis/bot/", "/hooks/", "ciscospark"),
        (
            "https://hooks.zapier.com/hooks/catch/1234567/abcdef1/",
            "https://maker.ifttt.com/trigger/deploy/with/key/bXlrZXkxMjM0NTY3",
            "https://mattermost.example.com/hooks/xk3nq8w1rjf7pmzy5gd2h9c4ab",
        ),
        ("https://example.com/hooks/", "https://github.com/org/repo/settings/hooks/12345"),
    ),
    _c(
        "config-directive",
        r"(?m)^[ \t]*(?:requirepass|masterauth|auth_pass|wpa_passphrase|psk|rpcpassword|sasl_password"
        r"|ssl_key_password|bind_pw|rootpw)(?:[ \t]*=[ \t]*|[ \t]+)[\"']?(?P<secret>[^\s\"'#]+)",
        (
            "requirepass",
            "masterauth",
            "auth_pass",
            "passphrase",
            "psk",
            "rpcpassword",
            "_password",
            "bind_pw",
            "rootpw",
        ),
        ("requirepass R3disPa55", 'psk="wifiPassw0rd"', "masterauth replicaPw9", "rootpw {SSHA}abc123xyz"),
        ("# requirepass foobared is the default example", "requirepass ${REDIS_PASSWORD}"),
        trigger=r"(?im)^[ \t]*(?:requirepass|masterauth|auth_pass|wpa_passphrase|psk|rpcpassword|sasl_password"  # noqa: E501
        r"|ssl_key_password|bind_pw|rootpw)(?:[ \t]*=|[ \t])",
    ),
    _c(
        "header-directive",
        r"\b(?:proxy_set_header|add_header|more_set_headers|RequestHeader[ \t]+set|Header[ \t]+set)[ \t]+[\"']?"  # noqa: E501
        r"(?:(?:Proxy-)?Authorization[\"']?[ \t]+[\"']?(?:Bearer|Basic|token)[ \t]+(?P<secret>[^\s\"';$]+)"
        r"|(?:x-api-key|api-key|apikey|x-auth-token|private-token|x-goog-api-key|x-access-token)[\"']?[ \t]+"
        r"[\"']?(?P<s2>[^\s\"';$]+))",
        ("header",),
        (
            'proxy_set_header Authorization "Basic dXNlcjpwYXNzd29yZA==";',
            "proxy_set_header X-Api-Key 7f8e9d0c1b2a3f4e;",
        ),
        ("proxy_set_header Authorization $http_authorization;", "proxy_set_header Host $host;"),
        trigger=r"(?i)\b(?:proxy_set_header|add_header|more_set_headers|requestheader|header)[ \t]",
    ),
    _c(
        "env-list-value",
        r"(?m)^[ \t]*-?[ \t]*name:[ \t]*[\"']?[A-Za-z0-9_]*(?:PASSWORD|PASSWD|TOKEN|SECRET|APIKEY|API_KEY|PASS|PWD"  # noqa: E501
        r"|CREDENTIALS?|ACCESS_KEY|PRIVATE_KEY)[\"']?[ \t]*\r?\n[ \t]*value:[ \t]*[\"']?(?P<secret>[^\s\"']{6,})",  # noqa: E501
        ("name:",),
        (
            "- name: DB_PASSWORD\n  value: K8sPlainPw1",
            'env:\n  - name: GITHUB_TOKEN\n    value: "ghTok3nValue"',
        ),
        ("- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef:", "- name: MAX_TOKENS\n  value: 409600"),
        trigger=r"(?i)name:[ \t]*[\"']?[a-z0-9_]*(?:password|passwd|token|secret|apikey|api_key|pass|pwd|credentials?"  # noqa: E501
        r"|access_key|private_key)[\"']?[ \t]*\r?\n[ \t]*value:",
        ignore_case=False,
    ),
    _c(
        "k8s-secret-data",
        r"(?m)^[ \t]+[A-Za-z0-9_.-]+:[ \t]+(?P<secret>[A-Za-z0-9+/]{12,}={0,2})[ \t]*$"
        r"|\"[A-Za-z0-9_.-]+\"[ \t]*:[ \t]*\"(?P<s2>[A-Za-z0-9+/]{12,}={0,2})\"",
        ("kind: secret", '"kind": "secret"', '"kind":"secret"'),
        ("kind: Secret\ndata:\n  DATABASE_URL: cG9zdGdyZXM6Ly9hcHA6cHdAZGIveA==",),
        ("kind: ConfigMap\ndata:\n  DATABASE_URL: cG9zdGdyZXM6Ly9hcHA6cHdAZGIveA==",),
        trigger=r"(?i)\"?kind\"?[ \t]*:[ \t]*\"?secret\b",
        code_aware=True,
        requires=r"(?m)^kind:[ \t]*Secret[ \t]*$|\"kind\":[ \t]*\"Secret\"",
    ),
    _c(
        "jwk-private",
        r"\"(?:d|p|q|dp|dq|qi|k)\"[ \t]*:[ \t]*\"(?P<secret>[A-Za-z0-9_-]{16,})\"",
        ('"kty"',),
        (
            '{"kty":"RSA","n":"0vx7ago","e":"AQAB","d":"X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9"}',
        ),
        ('{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZpt","e":"AQAB"}',),
        trigger=r"(?i)\"kty\"",
    ),
    _c(
        "basic-credentials",
        r"\bBasic[ \t]+(?P<secret>[A-Za-z0-9+/]{8,}={0,2})",
        ("basic",),
        ("-H 'X-Upstream: Basic Ym9iOmh1bnRlcjIy'",),
        ("Basic auth is required", "Basic usage"),
        trigger=r"Basic[ \t]+[A-Za-z0-9+/]{8}",
        ignore_case=False,
        code_aware=True,
    ),
)

#: Command lines that give a password as a positional argument or a short option.
COMMANDS: tuple[RuleSpec, ...] = (
    _c(
        "cli-password-more",
        r"\bopenssl\b[^\n|;&]*?[ \t]-k[ \t]+[\"']?(?P<secret>[^\s\"'-][^\s\"']*)"
        r"|\baz[ \t]+login\b[^\n|;&]*?[ \t](?:-p|--password)[ \t=]+[\"']?(?P<s2>[^\s\"'-][^\s\"']*)"
        r"|\bldap(?:whoami|compare|modrdn|exop|url)\b[^\n|;&]*?[ \t]-w[ \t]+[\"']?(?P<s3>[^\s\"']+)"
        r"|\bsmbclient\b[^\n|;&]*?[ \t](?:-U|--user)[ \t=]+[\"']?[^\s%\"']+%(?P<s4>[^\s\"']+)",
        ("openssl", "az", "ldap", "smbclient"),
        (
            "openssl enc -aes-256-cbc -k Enc0dePass -in f -out f.enc",
            "az login -u me@corp.com -p AzurePa55",
            "ldapwhoami -x -D cn=admin,dc=x -w Ld4pPass",
            "smbclient //fs/share -U alice%Sh4rePass",
        ),
        ("openssl rand -k", "az login --use-device-code", "smbclient //fs/share -U alice"),
        trigger=r"(?i)\bopenssl\b[^\n|;&]{0,200}?[ \t]-k[ \t]"
        r"|\b(?:az[ \t]+login|ldap(?:whoami|compare|modrdn|exop|url)|smbclient)\b",
    ),
    _c(
        "cli-positional-password",
        r"\bhtpasswd[ \t]+(?:-[a-zA-Z]+[ \t]+)*?-[a-zA-Z]*b[a-zA-Z]*[ \t]+(?:-[a-zA-Z]+[ \t]+)*"
        r"\S+[ \t]+\S+[ \t]+[\"']?(?P<secret>[^\s\"']+)"
        r"|\brabbitmqctl[ \t]+(?:add_user|change_password)[ \t]+\S+[ \t]+[\"']?(?P<s2>[^\s\"']+)"
        r"|\bsqlplus[ \t]+(?:-[a-zA-Z]+[ \t]+)*[A-Za-z0-9_$#]+/(?P<s3>[^\s@/\"']+)(?:@|[ \t]|$)"
        r"|\bnmcli\b[^\n|;&]*?[ \t](?:password|wifi-sec\.psk)[ \t]+[\"']?(?P<s4>[^\s\"']+)",
        ("htpasswd", "rabbitmqctl", "sqlplus", "nmcli"),
        (
            "htpasswd -b -c /etc/nginx/.htpasswd admin Adm1nPass",
            "rabbitmqctl add_user admin Rabb1tPass",
            "sqlplus scott/T1gerPass@orcl",
            "nmcli dev wifi connect MyWifi password W1f1Pass99",
        ),
        ("htpasswd -c /etc/nginx/.htpasswd admin", "sqlplus /nolog", "rabbitmqctl list_users"),
        trigger=r"(?i)\b(?:htpasswd|rabbitmqctl|sqlplus|nmcli)\b",
    ),
    _c(
        "sudo-stdin-password",
        r"\b(?:echo|printf)[ \t]+(?:-[ne]+[ \t]+)?[\"']?"
        r"(?P<secret>(?=[^\s\"'|$`]*[0-9!@#%^&*+/~._-])[^\s\"'|$`]{4,})[\"']?(?:\\n)?[\"']?"
        r"[ \t]*\|[ \t]*"
        r"sudo[ \t]+(?:-[a-zA-Z]+[ \t]+)*?-[a-zA-Z]*S\b",
        ("sudo",),
        ("echo 'Sup3rPass!' | sudo -S apt-get install -y jq",),
        ('echo "$PW" | sudo -S true', "sudo -S true"),
        trigger=r"(?i)\|[ \t]*sudo[ \t]",
    ),
    _c(
        "prose-password",
        r"\b(?:password|passphrase|passcode)[ \t]+(?:is|was)[ \t]+(?:[\"'`](?P<secret>[^\"'`\s]{4,})[\"'`]"
        r"|(?P<s2>(?=[^\s\"'`]*[0-9])(?=[^\s\"'`]*[A-Za-z])[^\s\"'`.,;:!?]{6,}))",
        ("password", "passphrase", "passcode"),
        ("The password is Hunter2024x", 'the password is "bluefish42"'),
        ("the password is required", "the password is 12 characters long", "password is `$DB_PASSWORD`"),
        trigger=r"(?i)\b(?:password|passphrase|passcode)[ \t]+(?:is|was)[ \t]",
    ),
    _c(
        "config-set-credential",
        r"\b(?:npm|pnpm|yarn|composer|poetry|pip|git|conda|gcloud|firebase|bundle|gem|dotnet|nuget)[ \t]+config\b"  # noqa: E501
        r"(?:[ \t]+--?[a-z-]+)*[ \t]+(?:set[ \t]+)?(?:--?[a-z-]+[ \t]+)*"
        r"\S*(?:token|password|secret|oauth\.\S+|_auth|authtoken)[ \t]+[\"']?"
        r"(?P<secret>(?=[^\s\"']*[0-9]|[^\s\"']{16})[^\s\"'-][^\s\"']*)",
        ("config",),
        (
            "yarn config set npmAuthToken YarnT0ken123",
            "composer config --global github-oauth.github.com c0mp0serT0ken",
            "npm config set //registry.example.com/:_authToken npmT0ken99",
        ),
        (
            "git config --global credential.helper store",
            "npm config set auth-type legacy",
            'logger.info("merge config secret for %s", entry_auth)',
        ),
        trigger=r"(?i)\b(?:npm|pnpm|yarn|composer|poetry|pip|git|conda|gcloud|firebase|bundle|gem|dotnet|nuget)"
        r"[ \t]+config\b",
    ),
    _c(
        "cli-login-token",
        r"\bcargo[ \t]+login[ \t]+(?:--[a-z-]+(?:[ \t]+[^\s-]\S*)?[ \t]+)*(?P<secret>[A-Za-z0-9_-]{12,})"
        r"|\bdoctl\b[^\n|;&]*?[ \t](?:-t|--access-token)[ \t=]+[\"']?(?P<s2>[^\s\"']+)"
        r"|\btwine\b[^\n|;&]*?[ \t](?:-p|--password)[ \t=]+[\"']?(?P<s3>[^\s\"'-][^\s\"']*)"
        r"|\bwandb[ \t]+login[ \t]+(?:--[a-z-]+[ \t]+)*(?P<s4>[0-9a-f]{40})",
        ("cargo", "doctl", "twine", "wandb"),
        (
            "cargo login crates1oT0kenValue",
            "doctl auth init -t d0ctlT0kenValue1",
            "twine upload -u __token__ -p pypi-AgEIcHlwaS5vcmcCJDk4 dist/*",
        ),
        ("cargo login", "twine upload dist/*"),
        trigger=r"(?i)\b(?:cargo[ \t]+login|doctl|twine|wandb[ \t]+login)\b",
    ),
    _c(
        "header-call",
        r"[\"'](?:(?:proxy-)?authorization|x-api-key|api-key|apikey|x-auth-token|private-token|x-goog-api-key"
        r"|x-access-token)[\"'][ \t]*,[ \t]*[\"'](?:(?:bearer|basic|token)[ \t]+)?(?P<secret>[^\"'\s$`{]{8,})[\"']",  # noqa: E501
        ("authorization", "api-key", "apikey", "auth-token", "private-token", "access-token"),
        (
            'req.Header.Set("Authorization", "Bearer g0T0kenValue123")',
            "xhr.setRequestHeader('X-API-Key', 'k3yV4lue99xx')",
        ),
        (
            'x.setRequestHeader("Authorization","Bearer "+t)',
            'headers.set("Authorization", `Bearer ${token}`)',
        ),
        trigger=r"(?i)(?:authorization|api-?key|auth-token|private-token|access-token)[\"'][ \t]*,[ \t]*[\"']"
        r"(?:(?:bearer|basic|token)[ \t]+)?[^\"'\s$`{]{8}",
    ),
    _c(
        "protocol-auth",
        r"(?m)^[^\S\n]*(?:\S*>[ \t]*)?AUTH[ \t]+(?:PLAIN|LOGIN)[ \t]+(?P<secret>[A-Za-z0-9+/]{8,}={0,2})[ \t]*$"  # noqa: E501
        r"|^[^\S\n]*[A-Za-z0-9]{1,8}[ \t]+LOGIN[ \t]+\S+[ \t]+(?P<s2>\S+)[ \t]*$"
        r"|^[^\S\n]*PASS[ \t]+(?P<s3>(?=\S*[0-9!@#$%^&*])[^\s/]+)[ \t]*$"
        r"|^[^\S\n]*(?:\S*>[ \t]*)?AUTH[ \t]+(?:\S+[ \t]+)?(?P<s4>(?=\S*[0-9!@#$%^&*])[^\s]+)[ \t]*$",
        ("auth", "login", "pass"),
        (
            "AUTH PLAIN AGJvYgBodW50ZXIyMg==",
            "a1 LOGIN bob ImapPw123",
            "PASS Ftp0Pass",
            "redis> AUTH R3disAuthPw",
        ),
        ("PASS  src/App.test.js", "--- PASS: TestParse (0.00s)", "AUTH failed", "PASS tests/test_x.py"),
        trigger=r"AUTH[ \t]|[ \t]LOGIN[ \t]|PASS[ \t]",
        ignore_case=False,
    ),
    _c(
        "echo-credential",
        r"\becho[ \t]+(?:-n[ \t]+)?[\"']?[^\s:\"'$]+:(?P<secret>[^\s\"'$]+)[\"']?[ \t]*\|[ \t]*base64\b",
        ("base64",),
        ("echo -n 'user:Bas1cPw' | base64",),
        ('echo -n "$USER:$PASS" | base64', "echo hello | base64"),
        trigger=r"(?i)\|[ \t]*base64\b",
    ),
    _c(
        "rclone-config",
        r"\brclone[ \t]+config[ \t]+(?:create|update)\b[^\n|;&]*?[ \t]"
        r"(?:secret_access_key|password|pass|token|client_secret|key|account_key|sas_url)[ \t=]+"
        r"[\"']?(?P<secret>[^\s\"']+)",
        ("rclone",),
        ("rclone config create s3 s3 secret_access_key Rcl0neSecretKey12",),
        ("rclone config create s3 s3 provider AWS",),
        trigger=r"(?i)\brclone[ \t]+config\b",
    ),
)

ALL: tuple[RuleSpec, ...] = CONTEXTS[:2] + TOKENS + CONTEXTS[2:] + BINDINGS + COMMANDS
