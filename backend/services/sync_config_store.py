"""Stored segments and sync connections ↔ their specs (the configuration service's stores).

Writing a segment whose rule (or member list) changed refreshes its members, and those of the
segments that depend on it, in the same transaction; deleting one bumps its members' versions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import BrazeConnection, ExportGoal, ImportGoal, Segment, SyncConnection
from backend.db.models.base import utcnow
from backend.domain.config_segments import SegmentSpec
from backend.domain.config_specs import UNREADABLE
from backend.domain.config_sync_connections import NotifySpec, SyncConnectionSpec
from backend.domain.config_sync_goals import (
    Destinations,
    ExportGoalSpec,
    ExportMapping,
    IdentifierLink,
    ImportGoalSpec,
    ImportMapping,
    RemainingFields,
    export_goal_to_dict,
    export_mapping_to_dict,
)
from backend.domain.errors import FieldError, ValidationError
from backend.domain.schedules import schedule_from_dict, schedule_to_dict
from backend.domain.segment_rules import find_cycle
from backend.services.segments import forget_segment, graph_of, load_definitions, refresh_segment

if TYPE_CHECKING:
    from backend.integrations.secret_box import SecretBox


def _assign(row: Any, attribute: str, value: Any) -> None:
    """Set only differing values, so an unchanged object gets no UPDATE."""
    if getattr(row, attribute) != value:
        setattr(row, attribute, value)


@dataclass(frozen=True)
class SegmentStore:
    def load(self, session: Session, box: SecretBox) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for row in session.scalars(select(Segment).order_by(Segment.code)):
            if row.is_static:
                members = tuple(sorted((row.rule or {}).get("members") or ()))
                result[row.code] = SegmentSpec(row.code, row.name, None, True, members)
            else:
                result[row.code] = SegmentSpec(row.code, row.name, row.rule, False)
        return result

    def write(
        self, session: Session, box: SecretBox, current: SegmentSpec | None, desired: SegmentSpec
    ) -> None:
        row = session.scalars(select(Segment).where(Segment.code == desired.code)).first()
        if row is None:
            row = Segment(code=desired.code, name=desired.name)
            session.add(row)
        _assign(row, "name", desired.name)
        _assign(row, "is_static", desired.static)
        stored_rule = {"members": list(desired.members)} if desired.static else desired.rule
        _assign(row, "rule", stored_rule)
        session.flush()
        same_definition = current is not None and (
            current.rule,
            current.static,
            current.members,
        ) == (desired.rule, desired.static, desired.members)
        if same_definition:
            return
        cycle = find_cycle(graph_of(load_definitions(session)))
        if cycle:
            raise ValidationError(
                FieldError(
                    "segments", f"segments refer to each other in a cycle: {' -> '.join(cycle)}"
                )
            )
        refresh_segment(session, desired.code, now=utcnow())

    def delete(self, session: Session, code: str) -> None:
        row = session.scalars(select(Segment).where(Segment.code == code)).first()
        if row is not None:
            forget_segment(session, row.id, now=utcnow())
            session.delete(row)


def _links(raw: Any) -> tuple[IdentifierLink, ...]:
    return tuple(IdentifierLink(str(i["braze"]), str(i["profile"])) for i in raw or ())


def _import_spec(row: ImportGoal) -> ImportGoalSpec:
    rest = row.remaining_fields or {}
    return ImportGoalSpec(
        code=row.code,
        braze_segment_id=row.braze_segment_id,
        identifiers=_links(row.identifiers),
        allow_create=row.allow_create,
        mappings=tuple(
            ImportMapping(m["braze"], m["profile"], m.get("strategy", "set"))
            for m in row.mappings or ()
        ),
        remaining_fields=RemainingFields(
            bool(rest.get("enabled")), rest.get("prefix") or "", rest.get("strategy") or "set"
        ),
    )


def _export_spec(row: ExportGoal) -> ExportGoalSpec:
    dest = row.destinations or {}
    return ExportGoalSpec(
        code=row.code,
        segment=row.segment_code,
        identifiers=_links(row.identifiers),
        create_if_missing=row.create_if_missing,
        mappings=tuple(
            ExportMapping(m["source"], m["braze"], m.get("name"), m.get("value"))
            for m in row.mappings or ()
        ),
        destinations=Destinations(bool(dest.get("braze", True)), bool(dest.get("s3_cdi"))),
    )


def export_definition_hash(goal: ExportGoalSpec) -> str:
    """The engine's fingerprint of a goal; exported state from another definition is rechecked."""
    from backend.domain.export_delta import definition_hash

    as_dict = export_goal_to_dict(goal)
    return definition_hash(
        goal.segment, as_dict["identifiers"], goal.create_if_missing, as_dict["mappings"]
    )


@dataclass(frozen=True)
class SyncConnectionStore:
    def load(self, session: Session, box: SecretBox) -> dict[str, Any]:
        codes = dict(session.execute(select(BrazeConnection.id, BrazeConnection.code)).all())
        imports: dict[int, list[ImportGoal]] = {}
        exports: dict[int, list[ExportGoal]] = {}
        for goal in session.scalars(select(ImportGoal).order_by(ImportGoal.position)):
            imports.setdefault(goal.sync_connection_id, []).append(goal)
        for egoal in session.scalars(select(ExportGoal).order_by(ExportGoal.position)):
            exports.setdefault(egoal.sync_connection_id, []).append(egoal)
        result: dict[str, Any] = {}
        for row in session.scalars(select(SyncConnection).order_by(SyncConnection.code)):
            result[row.code] = SyncConnectionSpec(
                code=row.code,
                braze_connection=codes.get(row.braze_connection_id, ""),
                enabled=row.enabled,
                schedule=schedule_from_dict(row.schedule) if row.schedule else None,
                notify=notify_spec(row.notify or {}, box),
                import_goals=tuple(_import_spec(g) for g in imports.get(row.id, [])),
                export_goals=tuple(_export_spec(g) for g in exports.get(row.id, [])),
            )
        return result

    def write(
        self,
        session: Session,
        box: SecretBox,
        current: SyncConnectionSpec | None,
        desired: SyncConnectionSpec,
    ) -> None:
        braze_id = session.scalar(
            select(BrazeConnection.id).where(BrazeConnection.code == desired.braze_connection)
        )
        row = session.scalars(
            select(SyncConnection).where(SyncConnection.code == desired.code)
        ).first()
        if row is None:
            row = SyncConnection(code=desired.code, braze_connection_id=braze_id, notify={})
            session.add(row)
        _assign(row, "braze_connection_id", braze_id)
        _assign(row, "enabled", desired.enabled)
        _assign(
            row,
            "schedule",
            None if desired.schedule is None else schedule_to_dict(desired.schedule),
        )
        old_webhook = current.notify.webhook if current else None
        _assign(row, "notify", stored_notify(desired.notify, row.notify or {}, old_webhook, box))
        session.flush()
        self._write_imports(session, row.id, desired.import_goals)
        self._write_exports(session, row.id, desired.export_goals)

    @staticmethod
    def _write_imports(
        session: Session, connection_id: int, goals: tuple[ImportGoalSpec, ...]
    ) -> None:
        def fields(goal: ImportGoalSpec) -> dict[str, Any]:
            rest = goal.remaining_fields
            return {
                "braze_segment_id": goal.braze_segment_id,
                "identifiers": [{"braze": i.braze, "profile": i.profile} for i in goal.identifiers],
                "allow_create": goal.allow_create,
                "mappings": [
                    {"braze": m.braze, "profile": m.profile, "strategy": m.strategy}
                    for m in goal.mappings
                ],
                "remaining_fields": {
                    "enabled": rest.enabled, "prefix": rest.prefix, "strategy": rest.strategy
                },
            }  # fmt: skip

        _write_goals(session, ImportGoal, connection_id, goals, fields)

    @staticmethod
    def _write_exports(
        session: Session, connection_id: int, goals: tuple[ExportGoalSpec, ...]
    ) -> None:
        def fields(goal: ExportGoalSpec) -> dict[str, Any]:
            return {
                "segment_code": goal.segment,
                "identifiers": [{"profile": i.profile, "braze": i.braze} for i in goal.identifiers],
                "create_if_missing": goal.create_if_missing,
                "mappings": [export_mapping_to_dict(m) for m in goal.mappings],
                "destinations": {
                    "braze": goal.destinations.braze, "s3_cdi": goal.destinations.s3_cdi
                },
                "definition_hash": export_definition_hash(goal),
            }  # fmt: skip

        _write_goals(session, ExportGoal, connection_id, goals, fields)

    def delete(self, session: Session, code: str) -> None:
        row = session.scalars(select(SyncConnection).where(SyncConnection.code == code)).first()
        if row is not None:
            session.delete(row)


def _write_goals(
    session: Session,
    model: type[ImportGoal] | type[ExportGoal],
    connection_id: int,
    goals: Sequence[Any],
    fields: Callable[[Any], dict[str, Any]],
) -> None:
    """Make a connection's goal rows of one kind match ``goals`` by code: create the new ones,
    change only what differs (``_assign``), keep the file's order, delete the rest."""
    rows: Sequence[Any] = session.scalars(
        select(model).where(model.sync_connection_id == connection_id)
    ).all()
    stored = {g.code: g for g in rows}
    for position, goal in enumerate(goals):
        row = stored.pop(goal.code, None)
        if row is None:
            row = model(sync_connection_id=connection_id, code=goal.code)
            session.add(row)
        for name, value in {**fields(goal), "position": position}.items():
            _assign(row, name, value)
    for row in stored.values():
        session.delete(row)


def notify_spec(stored: dict[str, Any], box: SecretBox) -> NotifySpec:
    """The stored ``notify`` JSON (webhook encrypted) as a spec with the webhook readable."""
    webhook = None
    if stored.get("webhook_encrypted"):
        from backend.integrations.secret_box import SecretDecryptError

        try:
            webhook = box.decrypt(stored["webhook_encrypted"])
        except SecretDecryptError:
            webhook = UNREADABLE
    return NotifySpec(tuple(stored.get("emails") or ()), tuple(stored.get("on") or ()), webhook)


def stored_notify(
    spec: NotifySpec, stored: dict[str, Any], old_webhook: str | None, box: SecretBox
) -> dict[str, Any]:
    """The JSON to store; the webhook is re-encrypted only when it changed."""
    encrypted = None
    if spec.webhook is not None:
        keep = spec.webhook == old_webhook and stored.get("webhook_encrypted")
        encrypted = stored["webhook_encrypted"] if keep else box.encrypt(spec.webhook)
    return {"emails": list(spec.emails), "on": list(spec.on), "webhook_encrypted": encrypted}
