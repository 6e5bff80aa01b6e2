"""Signed links from Braze emails (PRODUCT §2 flow 6): the hosted preference page and one-click
unsubscribe. Braze Liquid computes the signature with ``hmac_sha256_hex``; we check it here.

The signed message has a fixed number of fields with the free-form external id last, so no two
links share a message however their values are chosen::

    optline-link:<property>:<topic or "">:<unix seconds>:<external id>

The key is the property's HS256 signing secret (its raw UTF-8 bytes, as for identity tokens); the
``optline-link:`` prefix keeps these signatures apart from JWTs, whose signing input never has a
colon. Links expire: the timestamp is signed in and checked against a lifetime per use.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PREFIX = "optline-link"
DAY = 86400
# The hosted page opens a session that reads and changes choices: 30 days after sending.
PAGE_LINK_TTL = 30 * DAY
# List-Unsubscribe must keep working well after the send (CAN-SPAM asks for 30 days at least).
UNSUBSCRIBE_LINK_TTL = 60 * DAY
# Braze renders the timestamp at send time; allow a little clock disagreement.
CLOCK_SKEW = 300
MAX_UID = 255
SIG_RE = re.compile(r"[0-9a-fA-F]{64}")
TS_RE = re.compile(r"[0-9]{1,12}")
TOPIC_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
KID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


class LinkRejectedError(Exception):
    """The link proves nothing. ``reason``: malformed | bad_signature | expired."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LinkParams:
    property: str
    uid: str
    ts: int
    topic: str | None
    sig: str
    kid: str | None = None


def link_message(property_code: str, uid: str, ts: int, topic: str | None = None) -> bytes:
    return f"{PREFIX}:{property_code}:{topic or ''}:{ts}:{uid}".encode()


def sign_link(secret: str, property_code: str, uid: str, ts: int, topic: str | None = None) -> str:
    """What Braze's ``hmac_sha256_hex`` filter gives for the same message and secret."""
    message = link_message(property_code, uid, ts, topic)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def parse_link(property_code: str, args: Mapping[str, str]) -> LinkParams:
    """The link's query parameters (``uid``, ``ts``, ``sig``, optional ``topic`` and ``kid``)."""
    uid, ts, sig = args.get("uid") or "", args.get("ts") or "", args.get("sig") or ""
    topic, kid = args.get("topic") or None, args.get("kid") or None
    if not uid or len(uid) > MAX_UID or any(ord(c) < 32 or ord(c) == 127 for c in uid):
        raise LinkRejectedError("malformed", "the link names no valid user id")
    if not TS_RE.fullmatch(ts):
        raise LinkRejectedError("malformed", "the link carries no valid timestamp")
    if not SIG_RE.fullmatch(sig):
        raise LinkRejectedError("malformed", "the link carries no valid signature")
    if topic is not None and not TOPIC_RE.fullmatch(topic):
        raise LinkRejectedError("malformed", "the link names no valid topic")
    if kid is not None and not KID_RE.fullmatch(kid):
        raise LinkRejectedError("malformed", "the link names no valid key id")
    return LinkParams(property_code, uid, int(ts), topic, sig.lower(), kid)


def check_link(params: LinkParams, secrets: Sequence[str], *, now: int, ttl: int) -> None:
    """Raise LinkRejectedError unless one secret signed exactly these values and the link is fresh.

    Every secret is tried with a constant-time comparison; freshness is judged only once the
    signature holds, so "expired" is never said of a forged link."""
    message = link_message(params.property, params.uid, params.ts, params.topic)
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        matched = hmac.compare_digest(expected, params.sig) or matched
    if not matched:
        raise LinkRejectedError("bad_signature", "the link's signature does not match")
    if params.ts > now + CLOCK_SKEW:
        raise LinkRejectedError("bad_signature", "the link was signed in the future")
    if now - params.ts > ttl:
        raise LinkRejectedError("expired", "the link has expired")


def link_query(
    secret: str, property_code: str, uid: str, ts: int, topic: str | None = None
) -> dict[str, str]:
    """The query parameters of a link, as the Liquid snippet in docs/hosted-page.md builds them."""
    query = {"uid": uid, "ts": str(ts), "sig": sign_link(secret, property_code, uid, ts, topic)}
    if topic:
        query["topic"] = topic
    return query
