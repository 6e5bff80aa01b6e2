"""Suppression records left by erasures, and the per-installation salt that keys them.

The salt is random, created on first use and stored encrypted with ``OPTLINE_ENCRYPTION_KEY``
(``optline keys rotate`` re-encrypts it), so a database dump alone cannot test addresses against
the hashes. Imports ask ``is_suppressed`` (or a ``SuppressionCheck`` per chunk) before they create
or update a profile; the preference center does not: a person who comes back and signs in again
acts anew, and that is allowed.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.db.models import InstallationSecret, Suppression
from backend.domain import suppression as rules
from backend.services.deps import Deps

SALT_NAME = "suppression_salt"
CACHE_KEY = "suppressions.salt"
KNOWN_KEY = "suppressions.known"


def _insert_ignoring_conflicts(
    session: Session, model: type, rows: list[dict[str, object]]
) -> None:
    dialect = session.get_bind().dialect.name
    if not rows:
        return
    if dialect == "postgresql":
        session.execute(pg_insert(model).values(rows).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite_insert(model).values(rows).on_conflict_do_nothing())
    else:  # pragma: no cover - the two supported databases are above
        for row in rows:
            session.merge(model(**row))


def salt(deps: Deps, session: Session | None = None) -> bytes:
    """The installation's salt: read (and decrypted) once per process, created on first use."""
    cached = deps.extras.get(CACHE_KEY)
    if isinstance(cached, bytes):
        return cached
    if session is None:
        with deps.session() as own:
            value = _load_or_create(deps, own)
    else:
        value = _load_or_create(deps, session)
    deps.extras[CACHE_KEY] = value
    return value


def _load_or_create(deps: Deps, session: Session) -> bytes:
    stored = session.get(InstallationSecret, SALT_NAME)
    if stored is None:
        fresh = base64.b64encode(secrets.token_bytes(32)).decode()
        row = {
            "name": SALT_NAME,
            "value_encrypted": deps.secrets.encrypt(fresh),
            "created_at": deps.clock(),
        }
        # Two processes may race here: the first insert wins and both read it back.
        _insert_ignoring_conflicts(session, InstallationSecret, [row])
        session.flush()
        stored = session.get(InstallationSecret, SALT_NAME)
        assert stored is not None
    return base64.b64decode(deps.secrets.decrypt(stored.value_encrypted))


def suppress(
    deps: Deps,
    session: Session,
    *,
    external_ids: Iterable[str | None] = (),
    emails: Iterable[str | None] = (),
    reason: str = "erasure",
) -> int:
    """Record the identifiers (hashed) in the caller's transaction; returns how many were given."""
    found = rules.digests(salt(deps, session), external_ids=external_ids, emails=emails)
    now = deps.clock()
    rows: list[dict[str, object]] = [
        {"kind": kind, "digest": value, "reason": reason[:30], "created_at": now}
        for kind, value in sorted(found)
    ]
    _insert_ignoring_conflicts(session, Suppression, rows)
    return len(rows)


def is_suppressed(
    deps: Deps,
    external_id: str | None = None,
    email: str | None = None,
    *,
    session: Session | None = None,
) -> bool:
    """True when an erasure left a suppression record for this external id or email."""
    wanted = rules.digests(salt(deps, session), external_ids=[external_id], emails=[email])
    if not wanted:
        return False
    if session is None:
        with deps.session() as own:
            return _any(own, wanted)
    return _any(session, wanted)


def _any(session: Session, wanted: set[tuple[str, str]]) -> bool:
    digests = [d for _, d in wanted]
    rows = session.execute(
        select(Suppression.kind, Suppression.digest).where(Suppression.digest.in_(digests))
    )
    return any((kind, value) in wanted for kind, value in rows)


class SuppressionCheck:
    """For bulk paths (imports): the suppressions read once and checked in memory. The set is
    kept in ``deps.extras`` and read again only when the table changed (count and last id)."""

    def __init__(self, deps: Deps, session: Session) -> None:
        self._deps, self._session = deps, session
        self._salt = salt(deps, session)
        self._known: frozenset[tuple[str, str]] | None = None

    def _load(self) -> frozenset[tuple[str, str]]:
        marker = tuple(self._session.execute(select(func.count(), func.max(Suppression.id))).one())
        cached = self._deps.extras.get(KNOWN_KEY)
        if isinstance(cached, tuple) and cached[0] == marker:
            known: frozenset[tuple[str, str]] = cached[1]
            return known
        rows = self._session.execute(select(Suppression.kind, Suppression.digest))
        known = frozenset((kind, value) for kind, value in rows)
        self._deps.extras[KNOWN_KEY] = (marker, known)
        return known

    def _digests(self) -> frozenset[tuple[str, str]]:
        if self._known is None:
            self._known = self._load()
        return self._known

    def holds_any(self) -> bool:
        """Whether any suppression exists at all (when none does, no row needs checking)."""
        return bool(self._digests())

    def __call__(self, external_id: str | None = None, email: str | None = None) -> bool:
        known = self._digests()
        if not known:
            return False
        wanted = rules.digests(self._salt, external_ids=[external_id], emails=[email])
        return not wanted.isdisjoint(known)


def suppression_check(deps: Deps, session: Session) -> SuppressionCheck:
    """A per-chunk check for imports: ``check(external_id, email) -> bool``."""
    return SuppressionCheck(deps, session)
