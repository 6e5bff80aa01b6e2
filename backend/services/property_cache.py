"""What every widget call needs of a property — its settings, the topics × channels it shows, their
Braze connections and its token verification keys — kept per process instead of read each time.

A snapshot is trusted for ``CACHE_SECONDS``; after that one small query compares the property's
``config_version`` (bumped by every change to the property, its keys or a topic it shows) and the
connections' last update with the snapshot's, and only a difference reloads it. A configuration
change made through this process (``services.configuration``) is seen at once; one made by another
process within ``CACHE_SECONDS``, like the widget API's allowed-origins cache. Verification keys
are built once per key material: an HS256 secret is decrypted once per ciphertext (key version).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc.jwk import ECKey, OctKey, RSAKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from backend.db.models import BrazeConnection, Property
from backend.domain.preferences import TopicSpec
from backend.services.catalogue import ConnectionInfo, load_connections, load_topics
from backend.services.deps import Deps

CACHE_SECONDS = 5.0
CACHE_KEY = "property_cache.snapshots"
KEYS_KEY = "property_cache.keys"
MAX_KEYS = 256
_generation = 0
_generation_lock = threading.Lock()


def configuration_changed() -> None:
    """Called after a configuration change commits: this process's snapshots are stale."""
    global _generation
    with _generation_lock:
        _generation += 1


@dataclass(frozen=True)
class KeyRow:
    """A stored verification key, as data (the key object is built on first use)."""

    kid: str
    algorithm: str
    secret_encrypted: str | None
    public_key: str | None


@dataclass(frozen=True)
class PropertySnapshot:
    """The parts of a ``Property`` the widget API reads, with its topics, connections and keys."""

    id: int
    code: str
    config_version: int
    languages: list[str]
    email_verification: bool
    subscriptions: list[str] | None
    token_max_ttl: int
    topics: tuple[TopicSpec, ...]
    connections: Mapping[int, ConnectionInfo]
    signing_keys: tuple[KeyRow, ...]
    connections_stamp: datetime | None


@dataclass
class _Entry:
    snapshot: PropertySnapshot
    checked_at: float
    generation: int


def _stamp_query(code: str) -> Any:
    return select(
        select(Property.config_version).where(Property.code == code).scalar_subquery(),
        select(func.max(BrazeConnection.updated_at)).scalar_subquery(),
    )


def _load(session: Session, code: str) -> PropertySnapshot | None:
    prop = session.scalar(
        select(Property).options(selectinload(Property.signing_keys)).where(Property.code == code)
    )
    if prop is None:
        return None
    topics = load_topics(session, prop)
    stamp = session.scalar(select(func.max(BrazeConnection.updated_at)))
    return PropertySnapshot(
        id=prop.id,
        code=prop.code,
        config_version=prop.config_version,
        languages=list(prop.languages or []),
        email_verification=bool(prop.email_verification),
        subscriptions=None if prop.subscriptions is None else list(prop.subscriptions),
        token_max_ttl=prop.token_max_ttl,
        topics=tuple(topics),
        connections=load_connections(session, topics),
        signing_keys=tuple(
            KeyRow(k.kid, k.algorithm, k.secret_encrypted, k.public_key) for k in prop.signing_keys
        ),
        connections_stamp=stamp,
    )


def property_snapshot(
    deps: Deps,
    session: Session,
    code: str,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> PropertySnapshot | None:
    """The property ``code`` as of at most ``CACHE_SECONDS`` ago; None when it does not exist
    (an unknown code is looked up every time, so a new property is seen at once)."""
    cache: dict[str, _Entry] = deps.extras.setdefault(CACHE_KEY, {})
    entry = cache.get(code)
    now = monotonic()
    generation = _generation
    if entry is not None and entry.generation == generation:
        if now - entry.checked_at <= CACHE_SECONDS:
            return entry.snapshot
        version, stamp = session.execute(_stamp_query(code)).one()
        if version == entry.snapshot.config_version and stamp == entry.snapshot.connections_stamp:
            entry.checked_at = now
            return entry.snapshot
    snapshot = _load(session, code)
    if snapshot is None:
        cache.pop(code, None)
        return None
    cache[code] = _Entry(snapshot, now, generation)
    return snapshot


def verification_key(deps: Deps, key: KeyRow) -> OctKey | ECKey | RSAKey:
    """The key object for a stored key, built (and an HS256 secret decrypted) once per material."""
    material = key.secret_encrypted if key.algorithm == "HS256" else key.public_key
    assert material is not None
    cache: dict[tuple[str, str], OctKey | ECKey | RSAKey] = deps.extras.setdefault(KEYS_KEY, {})
    found = cache.get((key.algorithm, material))
    if found is not None:
        return found
    built: OctKey | ECKey | RSAKey
    if key.algorithm == "HS256":
        built = OctKey.import_key(deps.secrets.decrypt(material).encode())
    elif key.algorithm == "ES256":
        built = ECKey.import_key(material)
    else:
        built = RSAKey.import_key(material)
    if len(cache) >= MAX_KEYS:
        cache.clear()
    cache[(key.algorithm, material)] = built
    return built
