"""The ``properties`` section: a site that embeds the tag, with its origins, keys and texts."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from backend.domain.config_registry import (
    ParseContext,
    Reference,
    SecretMapper,
    Section,
    register_section,
)
from backend.domain.config_schema import Problems, Reader, describe, unique_strings
from backend.domain.config_specs import (
    CAPTURE_SOURCES,
    CODE_HINT,
    CODE_RE,
    MAX_TOKEN_TTL,
    MIN_HS256_SECRET,
    MIN_TOKEN_TTL,
    REDACTED,
    SIGNING_ALGORITHMS,
    CaptureSpec,
    PropertySpec,
    SigningKeySpec,
)
from backend.domain.config_values import (
    THEME_NAME_RE,
    language_problem,
    normalise_origin,
    normalise_pem,
    origin_problem,
    public_key_problem,
    theme_value_problem,
)

NAME = "properties"
KEYS = (
    "code",
    "name",
    "allowed_origins",
    "signing_keys",
    "identity_capture",
    "email_verification",
    "languages",
    "subscriptions",
    "theme",
    "token_max_ttl",
)
KID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
# Cookie, query, storage and global names, or a dotted path into window / the data layer.
CAPTURE_KEY_RE = re.compile(r"[A-Za-z0-9_$][A-Za-z0-9_$.\-]{0,99}")
KEEP_NEEDS_STORED = "give the secret; a redacted value only keeps an existing one"
SHORT_SECRET = (
    f"must be at least {MIN_HS256_SECRET} characters: anyone holding one token can guess a short "
    "HS256 secret offline and then sign tokens for any visitor"
)


def _signing_key(
    path: str, value: Any, problems: Problems, ctx: ParseContext, code: str | None
) -> SigningKeySpec | None:
    reader = Reader.of(value, path, problems, ("kid", "algorithm", "secret", "public_key"))
    if reader is None:
        return None
    before = len(problems.errors)
    kid = reader.text(
        "kid", max_length=100, pattern=KID_RE, hint="letters, digits, '.', '_', ':' and '-'"
    )
    algorithm = reader.choice("algorithm", SIGNING_ALGORITHMS, "HS256")
    secret: str | None = None
    public_key: str | None = None
    if algorithm == "HS256":
        if reader.has("public_key"):
            reader.problem("public_key", "HS256 keys take a secret; public_key is for ES256/RS256")
        secret = reader.text("secret", max_length=1000, secret=True)
        if secret == REDACTED:
            if not ctx.has_secret(NAME, code, f"signing_keys.{kid}"):
                reader.problem("secret", KEEP_NEEDS_STORED)
        elif secret is not None and len(secret) < MIN_HS256_SECRET:
            reader.problem("secret", SHORT_SECRET)
    elif algorithm is not None:
        if reader.has("secret"):
            reader.problem("secret", f"{algorithm} keys take a public_key, not a secret")
        public_key = reader.text("public_key", max_length=10000, multiline=True)
        if public_key is not None:
            problem = public_key_problem(public_key, algorithm)
            if problem is None and ctx.check_public_key is not None:
                problem = ctx.check_public_key(public_key, algorithm)
            if problem:
                reader.problem("public_key", problem)
            public_key = normalise_pem(public_key)
    if len(problems.errors) > before or kid is None or algorithm is None:
        return None
    return SigningKeySpec(kid, algorithm, secret, public_key)


def _signing_keys(reader: Reader, ctx: ParseContext, code: str | None) -> list[SigningKeySpec]:
    keys: list[SigningKeySpec] = []
    seen: dict[str, str] = {}
    for path, value in reader.items("signing_keys", max_items=20) or []:
        key = _signing_key(path, value, reader.problems, ctx, code)
        if key is None:
            continue
        if key.kid in seen:
            reader.problems.add(f"{path}.kid", f"duplicate kid {key.kid!r} (also {seen[key.kid]})")
            continue
        seen[key.kid] = path
        keys.append(key)
    # Stored keys come back ordered by kid; so do these, so order alone is never a change.
    return sorted(keys, key=lambda k: k.kid)


def _capture(reader: Reader) -> tuple[CaptureSpec, ...]:
    entries = reader.items("identity_capture", max_items=len(CAPTURE_SOURCES) * 4)
    if entries is None:
        return (CaptureSpec("queue"),)
    result: list[CaptureSpec] = []
    for path, value in entries:
        item = Reader.of(value, path, reader.problems, ("source", "key"))
        if item is None:
            continue
        source = item.choice("source", CAPTURE_SOURCES, None)
        key: str | None = None
        if source == "queue":
            if item.has("key"):
                item.problem("key", "the queue source takes no key")
        elif source is not None:
            key = item.text(
                "key",
                max_length=100,
                pattern=CAPTURE_KEY_RE,
                hint="a name such as optline_token or a dotted path such as user.token",
            )
        if source is None or (source != "queue" and key is None):
            continue
        spec = CaptureSpec(source, key)
        if spec in result:
            reader.problems.add(path, "duplicate identity_capture entry")
            continue
        result.append(spec)
    return tuple(result)


def _theme(reader: Reader) -> dict[str, str]:
    theme = reader.child("theme", None)
    if theme is None:
        return {}
    result: dict[str, str] = {}
    if len(theme.raw) > 100:
        reader.problem("theme", "at most 100 entries")
        return {}
    for name, value in theme.raw.items():
        if not isinstance(name, str):
            continue  # already reported by the reader
        if not THEME_NAME_RE.fullmatch(name):
            theme.problem(
                str(name),
                "theme names are lowercase letters, digits and '-' "
                "(e.g. accent-color), starting with a letter",
            )
            continue
        if not isinstance(value, str):
            theme.problem(name, f"expected a string, got {describe(value)}")
            continue
        text = theme.text(name, max_length=200)
        problem = theme_value_problem(text) if text else None
        if problem:
            theme.problem(name, problem)
        elif text:
            result[name] = text
    return result


def parse(value: Any, path: str, problems: Problems, ctx: ParseContext) -> PropertySpec | None:
    reader = Reader.of(value, path, problems, KEYS)
    if reader is None:
        return None
    before = len(problems.errors)
    code = reader.text("code", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
    name = reader.text("name")
    origins = unique_strings(
        reader.items("allowed_origins", max_items=50),
        problems,
        origin_problem,
        normalise=normalise_origin,
    )
    keys = _signing_keys(reader, ctx, code)
    capture = _capture(reader)
    email_verification = reader.flag("email_verification", False)
    languages: tuple[str, ...] = ("en",)
    entries = reader.items("languages", max_items=50)
    if entries is not None:
        languages = tuple(unique_strings(entries, problems, language_problem))
        if not languages and not len(problems.errors) > before:
            reader.problem("languages", "list at least one language")
    subscriptions: tuple[str, ...] | None = None
    entries = reader.items("subscriptions", max_items=500)
    if entries is not None:
        subscriptions = tuple(
            unique_strings(
                entries,
                problems,
                lambda c: None if CODE_RE.fullmatch(c) else f"{c!r} is not a subscription code",
            )
        )
        for entry_path, code_ in entries:
            if isinstance(code_, str) and CODE_RE.fullmatch(code_):
                problems.refer(entry_path, "subscriptions", code_)
    theme = _theme(reader)
    ttl = reader.integer(
        "token_max_ttl", MAX_TOKEN_TTL, minimum=MIN_TOKEN_TTL, maximum=MAX_TOKEN_TTL
    )
    if len(problems.errors) > before:
        return None
    assert code and name
    return PropertySpec(
        code,
        name,
        tuple(origins),
        tuple(keys),
        capture,
        email_verification,
        languages,
        subscriptions,
        theme,
        ttl,
    )


def serialise(spec: PropertySpec) -> dict[str, Any]:
    return {
        "code": spec.code,
        "name": spec.name,
        "allowed_origins": list(spec.allowed_origins),
        "signing_keys": [_serialise_key(k) for k in spec.signing_keys],
        "identity_capture": [
            {"source": c.source} if c.key is None else {"source": c.source, "key": c.key}
            for c in spec.identity_capture
        ],
        "email_verification": spec.email_verification,
        "languages": list(spec.languages),
        "subscriptions": None if spec.subscriptions is None else list(spec.subscriptions),
        "theme": dict(sorted(spec.theme.items())),
        "token_max_ttl": spec.token_max_ttl,
    }


def _serialise_key(key: SigningKeySpec) -> dict[str, Any]:
    if key.algorithm == "HS256":
        return {"kid": key.kid, "algorithm": key.algorithm, "secret": key.secret}
    return {"kid": key.kid, "algorithm": key.algorithm, "public_key": key.public_key}


def references(spec: PropertySpec) -> list[Reference]:
    return [
        Reference(f"subscriptions[{i}]", "subscriptions", code)
        for i, code in enumerate(spec.subscriptions or ())
    ]


def map_secrets(spec: PropertySpec, mapper: SecretMapper) -> PropertySpec:
    keys = tuple(
        replace(k, secret=mapper(f"signing_keys.{k.kid}", k.secret))
        if k.algorithm == "HS256"
        else k
        for k in spec.signing_keys
    )
    return replace(spec, signing_keys=keys)


SECTION = register_section(
    Section(
        name=NAME,
        kind="property",
        label="property",
        order=30,
        parse=parse,
        serialise=serialise,
        references=references,
        map_secrets=map_secrets,
    )
)
