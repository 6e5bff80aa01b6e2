"""Stored configuration rows ↔ specs: load with secrets decrypted, write only what changed.

Writing only changed columns is what makes ``optline apply`` idempotent down to ``updated_at``;
secrets are re-encrypted only when their plain text changed (Fernet output differs every time).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend.db.models import (
    BrazeConnection,
    Property,
    SigningKey,
    Subscription,
    SubscriptionChannel,
)
from backend.domain.config_specs import (
    UNREADABLE,
    BrazeConnectionSpec,
    CaptureSpec,
    ChannelSpec,
    PropertySpec,
    S3Spec,
    SigningKeySpec,
    SubscriptionSpec,
)
from backend.domain.config_subscriptions import ordered_texts
from backend.integrations.secret_box import SecretDecryptError
from backend.services.sync_config_store import SegmentStore, SyncConnectionStore

if TYPE_CHECKING:
    from backend.integrations.secret_box import SecretBox


def reveal(box: SecretBox, ciphertext: str | None) -> str | None:
    """Decrypt for comparison; a secret the keys cannot read equals nothing a file can say."""
    if ciphertext is None:
        return None
    try:
        return box.decrypt(ciphertext)
    except SecretDecryptError:
        return UNREADABLE


def _assign(row: Any, attribute: str, value: Any) -> None:
    """Set only differing values, so SQLAlchemy issues no UPDATE (and no new updated_at)."""
    if getattr(row, attribute) != value:
        setattr(row, attribute, value)


def _seal(box: SecretBox, row: Any, attribute: str, old: str | None, new: str | None) -> None:
    """Store ``new`` encrypted unless it equals the stored plain text ``old``."""
    if new is None:
        _assign(row, attribute, None)
    elif new != old or getattr(row, attribute) is None:
        setattr(row, attribute, box.encrypt(new))


class Store(Protocol):
    """How one section's objects are read from and written to the database."""

    def load(self, session: Session, box: SecretBox) -> dict[str, Any]: ...

    def write(self, session: Session, box: SecretBox, current: Any | None, desired: Any) -> None:
        """Create (``current`` None) or update the object so it matches ``desired``."""

    def delete(self, session: Session, code: str) -> None: ...


@dataclass(frozen=True)
class ConnectionStore:
    def load(self, session: Session, box: SecretBox) -> dict[str, Any]:
        rows = session.scalars(select(BrazeConnection).order_by(BrazeConnection.code))
        return {row.code: self._spec(row, box) for row in rows}

    @staticmethod
    def _spec(row: BrazeConnection, box: SecretBox) -> BrazeConnectionSpec:
        s3 = None
        if row.s3_bucket is not None:
            s3 = S3Spec(
                row.s3_bucket,
                row.s3_prefix or "",
                row.s3_region,
                row.s3_endpoint_url,
                row.s3_access_key_id,
                reveal(box, row.s3_secret_access_key_encrypted),
            )
        return BrazeConnectionSpec(
            code=row.code,
            name=row.name,
            rest_endpoint=row.rest_endpoint,
            api_key=reveal(box, row.api_key_encrypted) or "",
            identity=row.identity,
            sandbox=row.sandbox,
            create_missing_users=row.create_missing_users,
            budget_share=float(row.budget_share),
            s3=s3,
        )

    def write(
        self,
        session: Session,
        box: SecretBox,
        current: BrazeConnectionSpec | None,
        desired: BrazeConnectionSpec,
    ) -> None:
        row = _row(session, BrazeConnection, desired.code, current)
        for name in (
            "name",
            "rest_endpoint",
            "identity",
            "sandbox",
            "create_missing_users",
            "budget_share",
        ):
            _assign(row, name, getattr(desired, name))
        _seal(box, row, "api_key_encrypted", current.api_key if current else None, desired.api_key)
        s3, old_s3 = desired.s3, current.s3 if current else None
        _assign(row, "s3_bucket", s3.bucket if s3 else None)
        _assign(row, "s3_prefix", s3.prefix if s3 else "")
        _assign(row, "s3_region", s3.region if s3 else None)
        _assign(row, "s3_endpoint_url", s3.endpoint_url if s3 else None)
        _assign(row, "s3_access_key_id", s3.access_key_id if s3 else None)
        _seal(
            box,
            row,
            "s3_secret_access_key_encrypted",
            old_s3.secret_access_key if old_s3 else None,
            s3.secret_access_key if s3 else None,
        )

    def delete(self, session: Session, code: str) -> None:
        _delete(session, BrazeConnection, code)


@dataclass(frozen=True)
class PropertyStore:
    def load(self, session: Session, box: SecretBox) -> dict[str, Any]:
        rows = session.scalars(
            select(Property).options(selectinload(Property.signing_keys)).order_by(Property.code)
        )
        return {row.code: self._spec(row, box) for row in rows}

    @staticmethod
    def _spec(row: Property, box: SecretBox) -> PropertySpec:
        keys = tuple(
            SigningKeySpec(k.kid, k.algorithm, reveal(box, k.secret_encrypted), k.public_key)
            for k in sorted(row.signing_keys, key=lambda k: k.kid)
        )
        return PropertySpec(
            code=row.code,
            name=row.name,
            allowed_origins=tuple(row.allowed_origins or ()),
            signing_keys=keys,
            identity_capture=tuple(
                CaptureSpec(c["source"], c.get("key")) for c in row.identity_capture or ()
            ),
            email_verification=row.email_verification,
            languages=tuple(row.languages or ()),
            subscriptions=None if row.subscriptions is None else tuple(row.subscriptions),
            theme=dict(row.theme or {}),
            token_max_ttl=row.token_max_ttl,
        )

    def write(
        self, session: Session, box: SecretBox, current: PropertySpec | None, desired: PropertySpec
    ) -> None:
        row = _row(session, Property, desired.code, current)
        _assign(row, "name", desired.name)
        _assign(row, "allowed_origins", list(desired.allowed_origins))
        _assign(
            row,
            "identity_capture",
            [
                {"source": c.source} if c.key is None else {"source": c.source, "key": c.key}
                for c in desired.identity_capture
            ],
        )
        _assign(row, "email_verification", desired.email_verification)
        _assign(row, "languages", list(desired.languages))
        _assign(
            row,
            "subscriptions",
            None if desired.subscriptions is None else list(desired.subscriptions),
        )
        _assign(row, "theme", dict(desired.theme))
        _assign(row, "token_max_ttl", desired.token_max_ttl)
        if current is None:
            row.config_version = 1
        else:
            row.config_version = row.config_version + 1
        old_keys = {k.kid: k for k in current.signing_keys} if current else {}
        stored = {k.kid: k for k in row.signing_keys}
        for key in desired.signing_keys:
            key_row = stored.get(key.kid)
            if key_row is None:
                key_row = SigningKey(kid=key.kid, secret_encrypted=None, public_key=None)
                row.signing_keys.append(key_row)
            _assign(key_row, "algorithm", key.algorithm)
            _assign(key_row, "public_key", key.public_key)
            old = old_keys.get(key.kid)
            _seal(box, key_row, "secret_encrypted", old.secret if old else None, key.secret)
        wanted = {k.kid for k in desired.signing_keys}
        for kid, key_row in stored.items():
            if kid not in wanted:
                row.signing_keys.remove(key_row)

    def delete(self, session: Session, code: str) -> None:
        _delete(session, Property, code)


@dataclass(frozen=True)
class SubscriptionStore:
    def load(self, session: Session, box: SecretBox) -> dict[str, Any]:
        rows = session.scalars(
            select(Subscription)
            .options(
                selectinload(Subscription.channels).selectinload(SubscriptionChannel.connection)
            )
            .order_by(Subscription.code)
        )
        return {
            row.code: SubscriptionSpec(
                code=row.code,
                name=ordered_texts(row.name or {}),
                description=ordered_texts(row.description or {}),
                position=row.position,
                channels=tuple(
                    ChannelSpec(c.channel, c.connection.code, c.subscription_group_id)
                    for c in sorted(row.channels, key=lambda c: c.position)
                ),
            )
            for row in rows
        }

    def write(
        self,
        session: Session,
        box: SecretBox,
        current: SubscriptionSpec | None,
        desired: SubscriptionSpec,
    ) -> None:
        row = _row(session, Subscription, desired.code, current)
        _assign(row, "name", dict(desired.name))
        _assign(row, "description", dict(desired.description))
        _assign(row, "position", desired.position)
        if current is None:
            row.text_version = 1
        elif (current.name, current.description) != (desired.name, desired.description):
            row.text_version = row.text_version + 1
        ids = session.execute(select(BrazeConnection.code, BrazeConnection.id))
        connection_ids: dict[str, int] = {code: id_ for code, id_ in ids}  # noqa: C416
        stored = {c.channel: c for c in row.channels}
        for position, channel in enumerate(desired.channels):
            channel_row = stored.get(channel.channel)
            if channel_row is None:
                channel_row = SubscriptionChannel(channel=channel.channel)
                row.channels.append(channel_row)
            _assign(channel_row, "connection_id", connection_ids[channel.connection])
            _assign(channel_row, "subscription_group_id", channel.subscription_group_id)
            _assign(channel_row, "position", position)
        wanted = {c.channel for c in desired.channels}
        for name, channel_row in stored.items():
            if name not in wanted:
                row.channels.remove(channel_row)

    def delete(self, session: Session, code: str) -> None:
        _delete(session, Subscription, code)


def _row(session: Session, model: Any, code: str, current: Any | None) -> Any:
    if current is None:
        row = model(code=code)
        session.add(row)
        return row
    return session.scalars(select(model).where(model.code == code)).one()


def _delete(session: Session, model: Any, code: str) -> None:
    row = session.scalars(select(model).where(model.code == code)).one_or_none()
    if row is not None:
        session.delete(row)


def bump_property_versions(
    session: Session, subscription_codes: Collection[str], skip: Collection[str]
) -> list[str]:
    """Properties showing a changed subscription get a new config_version (caches follow it)."""
    if not subscription_codes:
        return []
    bumped: list[str] = []
    for row in session.scalars(select(Property).order_by(Property.code)):
        shown = row.subscriptions
        if row.code in skip:
            continue
        if shown is None or set(shown) & set(subscription_codes):
            row.config_version = row.config_version + 1
            bumped.append(row.code)
    return bumped


# Section name → store; a new kind of object registers its store here.
STORES: dict[str, Store] = {
    "braze_connections": ConnectionStore(),
    "subscriptions": SubscriptionStore(),
    "properties": PropertyStore(),
    "segments": SegmentStore(),
    "sync_connections": SyncConnectionStore(),
}


def load_state(session: Session, box: SecretBox) -> dict[str, dict[str, Any]]:
    """Every stored object by section and code, secrets decrypted (for comparison only)."""
    return {name: store.load(session, box) for name, store in STORES.items()}
