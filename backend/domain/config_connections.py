"""The ``braze_connections`` section: a Braze workspace's REST endpoint, key, identity and S3."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from backend.domain.braze_hosts import check_rest_endpoint, normalise_rest_endpoint
from backend.domain.config_registry import ParseContext, SecretMapper, Section, register_section
from backend.domain.config_schema import Problems, Reader
from backend.domain.config_specs import (
    CODE_HINT,
    CODE_RE,
    IDENTITIES,
    REDACTED,
    BrazeConnectionSpec,
    S3Spec,
)
from backend.domain.config_values import url_problem

NAME = "braze_connections"
KEYS = (
    "code",
    "name",
    "rest_endpoint",
    "api_key",
    "identity",
    "sandbox",
    "create_missing_users",
    "budget_share",
    "s3",
)
S3_KEYS = ("bucket", "prefix", "region", "endpoint_url", "access_key_id", "secret_access_key")
TOKEN_RE = re.compile(r"\S+")
# S3 bucket naming rules (AWS "Bucket naming rules"): 3-63 lowercase letters, digits, dots, hyphens.
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
REGION_RE = re.compile(r"[a-z0-9-]{2,50}")


def secret_text(
    reader: Reader,
    key: str,
    ctx: ParseContext,
    code: str | None,
    secret_name: str,
    *,
    required: bool = True,
) -> str | None:
    """A secret; ``<redacted>`` is only accepted where a stored secret can be kept."""
    value = reader.text(
        key, required=required, max_length=2000, pattern=TOKEN_RE, hint="no spaces", secret=True
    )
    if value == REDACTED and not ctx.has_secret(NAME, code, secret_name):
        reader.problem(key, "give the secret; a redacted value only keeps an existing one")
        return None
    return value


def _parse_s3(reader: Reader, ctx: ParseContext, code: str | None) -> tuple[bool, S3Spec | None]:
    """(ok, spec): a null or absent block is ok and means "no S3"."""
    s3 = reader.child("s3", S3_KEYS)
    if s3 is None:
        return not reader.has("s3"), None
    before = len(s3.problems.errors)
    bucket = s3.text(
        "bucket",
        max_length=63,
        pattern=BUCKET_RE,
        hint="an S3 bucket name: 3-63 lowercase letters, digits, '.' and '-'",
    )
    # An empty prefix (the bucket's root) is what `config export` writes when none is set.
    prefix = "" if s3.raw.get("prefix") == "" else s3.text("prefix", required=False, max_length=300)
    prefix = prefix or ""
    region = s3.text(
        "region",
        required=False,
        max_length=50,
        pattern=REGION_RE,
        hint="an AWS region such as us-east-1",
    )
    endpoint_url = s3.text("endpoint_url", required=False, max_length=300)
    if endpoint_url is not None:
        problem = url_problem(endpoint_url)
        if problem:
            s3.problem("endpoint_url", problem)
        endpoint_url = endpoint_url.rstrip("/")
    key_id = s3.text(
        "access_key_id", required=False, max_length=200, pattern=TOKEN_RE, hint="no spaces"
    )
    secret = secret_text(s3, "secret_access_key", ctx, code, "s3.secret_access_key", required=False)
    if s3.has("access_key_id") != s3.has("secret_access_key"):
        s3.problem(
            "secret_access_key" if key_id else "access_key_id",
            "give both access_key_id and secret_access_key, or neither "
            "(to use the machine's AWS credentials)",
        )
    if len(s3.problems.errors) > before or bucket is None:
        return False, None
    return True, S3Spec(bucket, prefix, region, endpoint_url, key_id, secret)


def parse(
    value: Any, path: str, problems: Problems, ctx: ParseContext
) -> BrazeConnectionSpec | None:
    reader = Reader.of(value, path, problems, KEYS)
    if reader is None:
        return None
    before = len(problems.errors)
    code = reader.text("code", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
    name = reader.text("name")
    endpoint = reader.text("rest_endpoint", max_length=300, strip=False)
    if endpoint is not None:
        problem = check_rest_endpoint(endpoint, ctx.allow_custom_braze_endpoints)
        if problem:
            reader.problem("rest_endpoint", problem)
        endpoint = normalise_rest_endpoint(endpoint)
    api_key = secret_text(reader, "api_key", ctx, code, "api_key")
    identity = reader.choice("identity", IDENTITIES, "external_id")
    sandbox = reader.flag("sandbox", False)
    create_missing = reader.flag("create_missing_users", True)
    budget_share = reader.number("budget_share", 0.8, above=0.0, maximum=1.0)
    s3_ok, s3 = _parse_s3(reader, ctx, code)
    if len(problems.errors) > before or not s3_ok:
        return None
    assert code and name and endpoint and api_key and identity
    return BrazeConnectionSpec(
        code, name, endpoint, api_key, identity, sandbox, create_missing, budget_share, s3
    )


def serialise(spec: BrazeConnectionSpec) -> dict[str, Any]:
    s3 = spec.s3
    return {
        "code": spec.code,
        "name": spec.name,
        "rest_endpoint": spec.rest_endpoint,
        "api_key": spec.api_key,
        "identity": spec.identity,
        "sandbox": spec.sandbox,
        "create_missing_users": spec.create_missing_users,
        "budget_share": spec.budget_share,
        "s3": None
        if s3 is None
        else {
            "bucket": s3.bucket,
            "prefix": s3.prefix,
            "region": s3.region,
            "endpoint_url": s3.endpoint_url,
            "access_key_id": s3.access_key_id,
            "secret_access_key": s3.secret_access_key,
        },
    }


def map_secrets(spec: BrazeConnectionSpec, mapper: SecretMapper) -> BrazeConnectionSpec:
    api_key = mapper("api_key", spec.api_key) or ""
    s3 = spec.s3
    if s3 is not None and s3.secret_access_key is not None:
        s3 = replace(s3, secret_access_key=mapper("s3.secret_access_key", s3.secret_access_key))
    return replace(spec, api_key=api_key, s3=s3)


SECTION = register_section(
    Section(
        name=NAME,
        kind="braze_connection",
        label="Braze connection",
        order=10,
        parse=parse,
        serialise=serialise,
        map_secrets=map_secrets,
    )
)
