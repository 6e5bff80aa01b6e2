"""Keyed hashes of erased identifiers: what stays of a person after an erasure.

The key (a random per-installation salt, stored encrypted) makes the hashes useless to anyone
holding only a database dump: they cannot test a list of addresses against them. External ids
are case-sensitive in Braze and only trimmed; emails are trimmed and lower-cased.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

KIND_EXTERNAL_ID = "external_id"
KIND_EMAIL = "email"
KINDS = (KIND_EXTERNAL_ID, KIND_EMAIL)


def normalise(kind: str, value: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}")
    value = value.strip()
    return value.lower() if kind == KIND_EMAIL else value


def digest(salt: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of ``kind`` and the normalised value; hex."""
    message = f"{kind}\0{normalise(kind, value)}".encode()
    return hmac.new(salt, message, hashlib.sha256).hexdigest()


def digests(
    salt: bytes, *, external_ids: Iterable[str | None] = (), emails: Iterable[str | None] = ()
) -> set[tuple[str, str]]:
    """(kind, digest) for every non-empty identifier given."""
    out: set[tuple[str, str]] = set()
    for kind, values in ((KIND_EXTERNAL_ID, external_ids), (KIND_EMAIL, emails)):
        for value in values:
            if value and value.strip():
                out.add((kind, digest(salt, kind, value)))
    return out


def requester_digest(salt: bytes, *, external_id: str | None, email: str | None) -> str:
    """Who asked: by external id when the token named one, else by email."""
    if external_id:
        return digest(salt, KIND_EXTERNAL_ID, external_id)
    if email:
        return digest(salt, KIND_EMAIL, email)
    raise ValueError("a requester needs an external id or an email")
