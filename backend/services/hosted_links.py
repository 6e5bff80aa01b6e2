"""Verifying the signed links of Braze emails, and what a verified link grants: a short widget
session for the hosted page (proof ``hmac_link``). Rules in ``backend.domain.hosted_links``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from backend.domain.errors import ValidationError
from backend.domain.hosted_links import (
    PAGE_LINK_TTL,
    LinkParams,
    LinkRejectedError,
    check_link,
    link_query,
    parse_link,
)
from backend.services.catalogue import load_property
from backend.services.deps import Deps
from backend.services.widget_identity import mint_link_session_token

log = logging.getLogger(__name__)

PAGE_PATH = "/p/"
UNSUBSCRIBE_PATH = "/u/"


@dataclass(frozen=True)
class VerifiedLink:
    property_code: str
    property_name: str
    languages: tuple[str, ...]
    external_id: str
    topic: str | None
    issued_at: int


def _now(deps: Deps) -> int:
    return int(deps.clock().timestamp())


def _secrets(deps: Deps, property_code: str, kid: str | None) -> tuple[list[str], str, list[str]]:
    """The property's HS256 signing secrets (one kid's, when the link names it), name, languages.
    NotFoundError when there is no such property."""
    with deps.session() as session:
        prop = load_property(session, property_code)
        keys = [
            k
            for k in prop.signing_keys
            if k.algorithm == "HS256" and k.secret_encrypted and (kid is None or k.kid == kid)
        ]
        secrets = [deps.secrets.decrypt(k.secret_encrypted) for k in keys if k.secret_encrypted]
        return secrets, prop.name, [str(x) for x in prop.languages or ["en"]]


def verify_link(
    deps: Deps, property_code: str, args: Mapping[str, str], *, ttl: int = PAGE_LINK_TTL
) -> VerifiedLink:
    """The link's visitor; LinkRejectedError (forged, altered, expired) or NotFoundError (property).
    Reads nothing about the visitor and writes nothing."""
    params: LinkParams = parse_link(property_code, args)
    secrets, name, languages = _secrets(deps, property_code, params.kid)
    if not secrets:
        raise LinkRejectedError("bad_signature", "this property has no HS256 signing secret")
    try:
        check_link(params, secrets, now=_now(deps), ttl=ttl)
    except LinkRejectedError as exc:
        log.info("signed link refused", extra={"property": property_code, "reason": exc.reason})
        raise
    return VerifiedLink(property_code, name, tuple(languages), params.uid, params.topic, params.ts)


def page_session(deps: Deps, link: VerifiedLink) -> str:
    """A widget session token for the hosted page, as the email-code flow issues one."""
    return mint_link_session_token(deps, link.property_code, link.external_id, _now(deps))


def signed_url(
    deps: Deps,
    property_code: str,
    external_id: str,
    *,
    unsubscribe: bool = False,
    topic: str | None = None,
    ts: int | None = None,
    kid: str | None = None,
) -> str:
    """A link as Braze's Liquid would write it (for tests, support and the docs' examples)."""
    secrets, _, _ = _secrets(deps, property_code, kid)
    if not secrets:
        raise ValidationError(f"property {property_code} has no HS256 signing secret")
    query = link_query(
        secrets[-1], property_code, external_id, _now(deps) if ts is None else ts, topic
    )
    if kid:
        query["kid"] = kid
    base = deps.settings.public_url.rstrip("/")
    path = UNSUBSCRIBE_PATH if unsubscribe else PAGE_PATH
    return f"{base}{path}{property_code}?{urlencode(query)}"
