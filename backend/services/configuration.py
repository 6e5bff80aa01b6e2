"""Configuration as desired state: ``optline apply``, ``config export`` and per-object edits.

The file, the admin API and the settings page share one path: validate everything, diff against
the database, then write the differences and their audit entries in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db.models import AuditEntry, BrazeConnection, BrazeRequestRecord
from backend.domain.config_diff import ACTIONS, Change, diff, diff_section
from backend.domain.config_document import (
    ConfigDocument,
    keep_secrets,
    parse_document,
    parse_object,
    redact,
    require_section,
    serialise_specs,
)
from backend.domain.config_registry import ParseContext, secrets_of, section_named, sections
from backend.domain.config_specs import UNREADABLE
from backend.domain.errors import ConflictError, FieldError, NotFoundError, ValidationError
from backend.integrations.secret_box import SecretDecryptError
from backend.services import property_cache
from backend.services.audit import record_change
from backend.services.configuration_file import (  # re-exported for the CLI
    read_configuration_file as read_configuration_file,
)
from backend.services.configuration_store import STORES, bump_property_versions, load_state
from backend.services.deps import Deps

log = logging.getLogger(__name__)
State = dict[str, dict[str, Any]]
T = TypeVar("T")


@dataclass(frozen=True)
class ApplyReport:
    """What an apply did (or, in a dry run, would do), object by object."""

    changes: tuple[Change, ...]
    dry_run: bool = False

    def of(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def lines(self) -> list[str]:
        """One line per object, grouped by action, then a summary line."""
        lines = []
        for action in ACTIONS:
            for c in self.of(action):
                fields = f" ({', '.join(c.fields)})" if c.fields else ""
                lines.append(f"{action} {c.kind} {c.code}{fields}")
        lines.append(", ".join(f"{len(self.of(a))} {a}" for a in ACTIONS))
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The admin API's shape; ``kind`` is the API kind (e.g. ``subscriptions``)."""
        body: dict[str, Any] = {
            action: [
                {"kind": c.section, "code": c.code}
                | ({"fields": list(c.fields)} if action == "changed" else {})
                for c in self.of(action)
            ]
            for action in ACTIONS
        }
        body["dry_run"] = self.dry_run
        return body


# -- applying ---------------------------------------------------------------------------------


def _check_public_key(pem: str, algorithm: str) -> str | None:
    """The domain checks the PEM armour; this checks the key really is one of that type."""
    try:
        if algorithm == "ES256":
            ec_key = ECKey.import_key(pem)
            if ec_key.curve_name != "P-256":
                return f"ES256 needs a P-256 key, this one is {ec_key.curve_name}"
            return None
        rsa_key = RSAKey.import_key(pem)
        if rsa_key.raw_value.key_size < 2048:
            return "RS256 keys must be at least 2048 bits"
        return None
    except (JoseError, ValueError, TypeError):
        kind = "EC P-256" if algorithm == "ES256" else "RSA"
        return f"not a valid {kind} public key"


def _context(deps: Deps, state: State, pruned: set[str]) -> ParseContext:
    """Stored codes and secrets; codes of sections being pruned are about to go, so not known."""
    stored_secrets = {
        (name, code, secret)
        for name, objects in state.items()
        if (section := section_named(name)) is not None
        for code, spec in objects.items()
        for secret, value in secrets_of(section, spec).items()
        if value is not None and value != UNREADABLE
    }
    return ParseContext(
        allow_custom_braze_endpoints=deps.settings.allow_custom_braze_endpoints,
        known_codes={
            name: frozenset() if name in pruned else frozenset(objects)
            for name, objects in state.items()
        },
        stored_secrets=frozenset(stored_secrets),
        check_public_key=_check_public_key,
    )


def _kept(document: ConfigDocument, state: State) -> ConfigDocument:
    """Resolve every ``<redacted>`` secret to the stored one it keeps."""
    return ConfigDocument(
        {
            name: tuple(
                keep_secrets(require_section(name), spec, state.get(name, {}).get(spec.code))
                for spec in specs
            )
            for name, specs in document.sections.items()
        }
    )


def _usages(state: State, kind: str, code: str) -> list[str]:
    """Which stored objects still refer to ``kind``/``code``: one phrase per object."""
    found = []
    for section in sections():
        for spec in state.get(section.name, {}).values():
            refs = section.references(spec)
            paths = [r.path for r in refs if (r.section, r.code) == (kind, code)]
            if paths:
                found.append(f"{section.kind} {spec.code} ({paths[0]})")
    return found


def _phrase(usages: list[str], shown: int = 5) -> str:
    more = f" and {len(usages) - shown} more" if len(usages) > shown else ""
    return ", ".join(usages[:shown]) + more


def _check_prune(state: State, document: ConfigDocument, changes: list[Change]) -> None:
    """Pruning must not leave a stored object pointing at one that is gone."""
    final: State = {name: dict(objects) for name, objects in state.items()}
    for change in changes:
        if change.action == "deleted":
            final[change.section].pop(change.code, None)
    for name, specs in document.sections.items():
        final.setdefault(name, {}).update({spec.code: spec for spec in specs})
    errors = [
        FieldError(
            c.section, f"prune would delete {c.kind} {c.code}, still used by {_phrase(used)}"
        )
        for c in changes
        if c.action == "deleted" and (used := _usages(final, c.section, c.code))
    ]
    if errors:
        raise ValidationError(errors)


def _write(
    session: Session,
    deps: Deps,
    state: State,
    document: ConfigDocument,
    changes: list[Change],
    actor: str,
) -> None:
    """Upserts in dependency order, deletions in reverse, one audit entry per changed object."""
    desired = {
        (name, spec.code): spec for name, specs in document.sections.items() for spec in specs
    }
    for section in sections():
        for c in changes:
            if c.section == section.name and c.action in ("created", "changed"):
                current = state.get(c.section, {}).get(c.code)
                spec = desired[(c.section, c.code)]
                STORES[c.section].write(session, deps.secrets, current, spec)
        session.flush()
    for section in reversed(sections()):
        for c in changes:
            if c.section == section.name and c.action == "deleted":
                STORES[c.section].delete(session, c.code)
        session.flush()
    for c in changes:
        if c.action != "unchanged":
            details = {"fields": list(c.fields)} if c.fields else {}
            record_change(
                session,
                actor=actor,
                action=c.action,
                object_type=c.kind,
                object_code=c.code,
                details=details,
            )
    touched = {c.code for c in changes if c.section == "subscriptions" and c.action != "unchanged"}
    fresh = {c.code for c in changes if c.section == "properties" and c.action != "unchanged"}
    bump_property_versions(session, touched, skip=fresh)


def _run(deps: Deps, work: Callable[[Session], T]) -> T:
    """One transaction; a constraint the database enforces (a concurrent writer's duplicate
    code, rows of another feature still referring to an object) becomes a ConflictError."""
    try:
        with deps.session() as session:
            result = work(session)
        property_cache.configuration_changed()  # this process sees the change at once
        return result
    except IntegrityError:
        raise ConflictError(
            "the database refused the change (a change made at the same time, or data that "
            "still refers to the object); nothing was written"
        ) from None


def apply_configuration(
    deps: Deps, document: dict[str, Any], *, dry_run: bool, prune: bool, actor: str
) -> ApplyReport:
    """Make the stored configuration match the document; nothing is written on any error."""

    def work(session: Session) -> ApplyReport:
        state = load_state(session, deps.secrets)
        present = {
            s.name
            for s in sections()
            if isinstance(document, Mapping) and document.get(s.name) is not None
        }
        context = _context(deps, state, present if prune else set())
        parsed = _kept(parse_document(document, context=context), state)
        changes = diff(state, parsed, prune=prune)
        if prune:
            _check_prune(state, parsed, changes)
        if not dry_run:
            _write(session, deps, state, parsed, changes, actor)
        return ApplyReport(tuple(changes), dry_run=dry_run)

    report = _run(deps, work)
    log.info(
        "configuration %s: %s", "checked (dry run)" if dry_run else "applied", report.lines()[-1]
    )
    return report


def export_configuration(deps: Deps) -> dict[str, Any]:
    """The stored configuration in the shape ``apply`` reads, secrets redacted, stable order."""
    with deps.session() as session:
        state = load_state(session, deps.secrets)
    return {s.name: serialise_specs(s, state.get(s.name, {}).values()) for s in sections()}


# -- one object at a time (admin API and settings page) ---------------------------------------


def list_objects(deps: Deps, kind: str) -> list[dict[str, Any]]:
    section = require_section(kind)
    with deps.session() as session:
        objects = STORES[kind].load(session, deps.secrets)
    return serialise_specs(section, objects.values())


def get_object(deps: Deps, kind: str, code: str) -> dict[str, Any]:
    section = require_section(kind)
    with deps.session() as session:
        spec = STORES[kind].load(session, deps.secrets).get(code)
    if spec is None:
        raise NotFoundError(f"{section.label} {code!r} does not exist")
    return section.serialise(redact(section, spec))


def put_object(
    deps: Deps,
    kind: str,
    definition: dict[str, Any],
    *,
    actor: str,
    code: str | None = None,
    create_only: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Create or replace one object, validated as one entry of a file (paths relative to it).

    ``code`` (from a URL) fills a missing ``definition["code"]``; a different code is refused:
    renaming would orphan references, so create the new object and delete the old one instead.
    ``create_only`` refuses an existing code with ConflictError (POST).
    """
    section = require_section(kind)
    if not isinstance(definition, Mapping):
        raise ValidationError("expected an object")
    definition = dict(definition)
    if code is not None:
        if definition.get("code") is None:
            definition["code"] = code
        elif definition["code"] != code:
            raise ValidationError(
                FieldError(
                    "code",
                    f"{definition['code']!r} differs from {code!r} in the address; renaming is not "
                    "supported: create the object under its new code, then delete the old one",
                )
            )

    def work(session: Session) -> tuple[str, dict[str, Any]]:
        state = load_state(session, deps.secrets)
        spec = parse_object(kind, definition, _context(deps, state, set()))
        stored = state[kind].get(spec.code)
        if create_only and stored is not None:
            raise ConflictError(f"{section.label} {spec.code!r} already exists")
        spec = keep_secrets(section, spec, stored)
        changes = diff_section(section, state[kind], (spec,), prune=False)
        _write(session, deps, state, ConfigDocument({kind: (spec,)}), changes, actor)
        return changes[0].action, section.serialise(redact(section, spec))

    return _run(deps, work)


def create_object(
    deps: Deps, kind: str, definition: dict[str, Any], *, actor: str
) -> dict[str, Any]:
    """Create one object; ConflictError if its code is taken."""
    return put_object(deps, kind, definition, actor=actor, create_only=True)[1]


def delete_object(deps: Deps, kind: str, code: str, *, actor: str) -> None:
    """Delete one object; ConflictError while another object still refers to it."""
    section = require_section(kind)

    def work(session: Session) -> None:
        state = load_state(session, deps.secrets)
        if code not in state[kind]:
            raise NotFoundError(f"{section.label} {code!r} does not exist")
        usages = _usages(state, kind, code)
        if usages:
            raise ConflictError(
                f"{section.label} {code} is still used by {_phrase(usages)}; "
                "change or delete those first"
            )
        change = Change(kind, section.kind, code, "deleted")
        _write(session, deps, state, ConfigDocument(), [change], actor)

    _run(deps, work)


# -- Braze connection tools and history -------------------------------------------------------


def _connection(session: Session, code: str) -> BrazeConnection:
    row = session.scalars(select(BrazeConnection).where(BrazeConnection.code == code)).first()
    if row is None:
        raise NotFoundError(f"Braze connection {code!r} does not exist")
    return row


def test_braze_connection(deps: Deps, code: str) -> list[dict[str, Any]]:
    """Probe each permission the connection's API key needs (sandbox: nothing to probe)."""
    with deps.session() as session:
        row = _connection(session, code)
        if row.sandbox:
            return [
                {
                    "permission": "sandbox",
                    "ok": True,
                    "message": "sandbox connection: requests are recorded here, not sent to Braze; "
                    "turn sandbox off to test the API key",
                }
            ]
        try:
            client = deps.braze_factory(session, row.id)
        except SecretDecryptError:
            raise ConflictError(
                "the stored API key cannot be decrypted with OPTLINE_ENCRYPTION_KEY; "
                "give the API key again"
            ) from None
    return [
        {"permission": c.permission, "ok": c.ok, "message": c.message}
        for c in client.check_access()
    ]


test_braze_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def list_audit_entries(
    deps: Deps, *, limit: int = 50, before_id: int | None = None
) -> list[dict[str, Any]]:
    """Newest first; ``before_id`` pages backwards."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    with deps.session() as session:
        return [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "object_type": e.object_type,
                "object_code": e.object_code,
                "details": e.details,
            }
            for e in session.scalars(query)
        ]


def list_sandbox_requests(
    deps: Deps, code: str, *, limit: int = 50, before_id: int | None = None
) -> list[dict[str, Any]]:
    """What a sandbox connection would have sent to Braze, newest first."""
    with deps.session() as session:
        connection_id = _connection(session, code).id
        query = (
            select(BrazeRequestRecord)
            .where(BrazeRequestRecord.connection_id == connection_id)
            .order_by(BrazeRequestRecord.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(BrazeRequestRecord.id < before_id)
        return [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                "method": r.method,
                "path": r.path,
                "query": r.query,
                "body": r.body,
            }
            for r in session.scalars(query)
        ]
