"""Erasure end to end: Braze /users/delete, local erasure of everything personal (a scan of every
table and every text/JSON column finds nothing), the ledger still verifies, suppression blocks
a later import, and a person who signs in again is a new, allowed action."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import JSON, String, select

from backend.db import models
from backend.domain.import_rows import plan_import
from backend.domain.profiles import parse_profile
from backend.services import profiles, rights
from backend.services.deps import Deps
from backend.services.sync_import_rows import ChunkImporter
from tests.fakes.braze_fake import BrazeFake
from tests.integration.rights.conftest import (
    ADMIN,
    PUBLIC,
    connection_id,
    count,
    email_session,
    propagate,
    run_rights_jobs,
    save,
)

pytestmark = pytest.mark.integration
PERSON = "erase-me-7f3a"
EMAIL = "erase.me+7f3a@example.com"
OTHER = "keep-me-2b9c"
OTHER_EMAIL = "keep.me@example.com"
DELETE = "/users/delete"


def seed_everything(client: FlaskClient, deps: Deps, admin: dict[str, str]) -> None:
    """The person everywhere Optline can hold them, and someone else beside them."""
    save(
        client,
        [("newsletter", "email", "subscribed"), ("offers", "push", "subscribed")],
        sub=PERSON,
        email=EMAIL,
    )
    save(client, [("newsletter", "email", "subscribed")], sub=OTHER, email=OTHER_EMAIL)
    session_token = email_session(client, deps, EMAIL.upper())
    save(client, [("offers", "email", "subscribed")], bearer=session_token)  # email-only subject
    propagate(deps)  # Braze users, the alias, outbox rows sent
    profiles.upsert_profiles(
        deps,
        [
            parse_profile(
                {
                    "identifiers": {"external_id": PERSON, "email": EMAIL},
                    "properties": {"tier": "gold", "note": f"ask {EMAIL}"},
                }
            ),
            parse_profile(
                {
                    "identifiers": {"external_id": OTHER, "email": OTHER_EMAIL},
                    "properties": {"tier": "gold"},
                }
            ),
        ],
    )
    cid = connection_id(deps)
    with deps.session() as session:
        segment = models.Segment(code="vip", name="VIP", rule=None, is_static=True)
        sync = models.SyncConnection(code="sync", braze_connection_id=cid, notify={})
        session.add_all([segment, sync])
        session.flush()
        for profile in session.scalars(select(models.Profile)):
            session.add(models.SegmentMember(segment_id=segment.id, profile_id=profile.id))
        goal = models.ImportGoal(
            sync_connection_id=sync.id,
            code="loyalty",
            braze_segment_id="seg-1",
            identifiers=[{"braze": "external_id", "profile": "external_id"}],
            mappings=[],
            remaining_fields={},
        )
        session.add(goal)
        session.flush()
        for key in (f"x:{PERSON}", f"e:{EMAIL}", f"x:{OTHER}"):
            session.add(models.ImportRowState(goal_id=goal.id, braze_key=key, row_hash="h"))
        run = models.SyncRun(
            sync_connection_id=sync.id,
            goal_kind="import",
            goal_id=goal.id,
            goal_code="loyalty",
            status="succeeded",
            counts={},
            preview={
                "samples": [
                    {"profile": PERSON, "braze_user": f"x:{PERSON}"},
                    {"profile": OTHER, "braze_user": f"x:{OTHER}"},
                ]
            },
        )
        session.add(run)
        session.flush()
        session.add(models.SyncRunError(run_id=run.id, row_ref="f:1", message=f"bad {EMAIL}"))
        session.add(
            models.BrazeRequestRecord(
                connection_id=cid,
                method="POST",
                path="/users/track",
                body={
                    "attributes": [{"external_id": PERSON, "email": EMAIL}, {"external_id": OTHER}]
                },
            )
        )
        session.add(
            models.AuditEntry(
                actor="api:x",
                action="note",
                object_type="person",
                object_code=PERSON,
                details={"email": EMAIL},
            )
        )
    # An earlier access request: its document and the mail with its link name the person.
    created = client.post(
        f"{ADMIN}/rights-requests", json={"type": "access", "external_id": PERSON}, headers=admin
    )
    assert created.status_code == 202
    run_rights_jobs(deps)


def scan(deps: Deps, needles: list[str]) -> list[str]:
    """Every table, every text and JSON column: where any needle still appears."""
    found = []
    with deps.session() as session:
        for table in models.Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | JSON)]
            if not columns:
                continue
            for row in session.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    texts = (
                        [value]
                        if isinstance(value, str)
                        else [json.dumps(value), json.dumps(value, ensure_ascii=False)]
                    )
                    for text in texts:
                        for needle in needles:
                            if needle.lower() in text.lower():
                                found.append(f"{table.name}.{column.name}: {needle}")
    return found


def test_erasure_leaves_nothing_personal_and_the_ledger_verifies(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake, admin: dict[str, str]
) -> None:
    seed_everything(client, job_deps, admin)
    assert braze.user(PERSON) is not None
    assert braze.user(alias=(EMAIL, "optline_email")) is not None
    assert scan(job_deps, [PERSON, EMAIL])  # the scan does find the person before
    ledger_rows = count(job_deps, models.LedgerEntry)

    response = client.post(
        f"{ADMIN}/rights-requests", json={"type": "erasure", "external_id": PERSON}, headers=admin
    )
    assert response.status_code == 202
    public_id = response.get_json()["id"]
    run_rights_jobs(job_deps)
    done = client.get(f"{ADMIN}/rights-requests/{public_id}", headers=admin).get_json()
    assert done["status"] == "completed", done

    # Braze: one kind of identifier per call, at most 50.
    deletes = [r.body for r in braze.requests_to(DELETE) if r.status < 300]
    assert {"external_ids": [PERSON]} in deletes
    assert {"user_aliases": [{"alias_name": EMAIL, "alias_label": "optline_email"}]} in deletes
    assert all(len(body) == 1 and len(next(iter(body.values()))) <= 50 for body in deletes)
    assert braze.user(PERSON) is None and braze.user(alias=(EMAIL, "optline_email")) is None
    assert braze.user(OTHER) is not None

    # Nothing names the person any more, anywhere.
    leftovers = scan(job_deps, [PERSON, EMAIL, json.dumps(EMAIL)[1:-1]])
    assert leftovers == []
    verify = client.get(f"{ADMIN}/ledger/verify", headers=admin).get_json()
    assert verify["ok"] is True and verify["entries"] == ledger_rows

    # Someone else is untouched.
    other = client.get(f"{ADMIN}/preferences?external_id={OTHER}", headers=admin).get_json()
    assert [p["state"] for p in other["preferences"]] == ["subscribed"]
    assert profiles.find_profiles(job_deps, external_id=OTHER)[0]["segments"] == ["vip"]
    with job_deps.session() as session:
        record = session.scalars(select(models.BrazeRequestRecord)).one()
        keys = set(session.scalars(select(models.ImportRowState.braze_key)))
        run = session.scalars(select(models.SyncRun)).one()
        suppressions = list(session.scalars(select(models.Suppression)))
    assert record.body == {
        "attributes": [{"external_id": "[erased]", "email": "[erased]"}, {"external_id": OTHER}]
    }
    assert keys == {f"x:{OTHER}"}
    assert run.preview["samples"][1] == {"profile": OTHER, "braze_user": f"x:{OTHER}"}
    assert sorted(s.kind for s in suppressions) == ["email", "external_id"]
    assert all(len(s.digest) == 64 for s in suppressions)

    # Suppressed: by either identifier, however the address is spelt; the other person is not.
    assert rights.is_suppressed(job_deps, external_id=PERSON)
    assert rights.is_suppressed(job_deps, email=" Erase.Me+7F3A@example.com ")
    assert not rights.is_suppressed(job_deps, external_id=OTHER, email=OTHER_EMAIL)


def test_an_import_does_not_bring_an_erased_person_back(
    client: FlaskClient, job_deps: Deps, admin: dict[str, str]
) -> None:
    save(client, [("newsletter", "email", "subscribed")], sub=PERSON, email=EMAIL)
    client.post(
        f"{ADMIN}/rights-requests", json={"type": "erasure", "external_id": PERSON}, headers=admin
    )
    run_rights_jobs(job_deps)
    with job_deps.session() as session:
        sync = models.SyncConnection(
            code="sync", braze_connection_id=connection_id(job_deps), notify={}
        )
        session.add(sync)
        session.flush()
        ids = [
            {"braze": "external_id", "profile": "external_id"},
            {"braze": "email", "profile": "email"},
        ]
        goal = models.ImportGoal(
            sync_connection_id=sync.id,
            code="g",
            braze_segment_id="s",
            identifiers=ids,
            allow_create=True,
        )
        session.add(goal)
        session.flush()
        goal_id = goal.id
    plan = plan_import(
        ids,
        [{"braze": "first_name", "profile": "first_name", "strategy": "set"}],
        None,
        allow_create=True,
    )
    rows = [
        ("f:1", json.dumps({"external_id": PERSON, "first_name": "Back"}).encode()),
        ("f:2", json.dumps({"braze_id": "b2", "email": EMAIL.upper(), "first_name": "A"}).encode()),
        ("f:3", json.dumps({"external_id": "fresh-1", "first_name": "New"}).encode()),
    ]
    with job_deps.session() as session:
        importer = ChunkImporter(
            session,
            goal_id,
            plan,
            job_deps.clock(),
            False,
            suppressed=rights.suppression_check(job_deps, session),
        )
        outcome = importer.process(rows)
    assert {k: n for k, n in outcome.counts.items() if n} == {
        "checked": 3,
        "skipped": 2,
        "created": 1,
    }
    assert profiles.find_profiles(job_deps, external_id=PERSON) == []
    assert profiles.find_profiles(job_deps, email=EMAIL) == []
    assert len(profiles.find_profiles(job_deps, external_id="fresh-1")) == 1


def test_a_visitor_erases_themselves_follows_it_and_may_come_back(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake
) -> None:
    from tests.integration.preferences.conftest import PROPERTY, auth, token

    save(client, [("newsletter", "email", "subscribed")], sub=PERSON, email=EMAIL)
    propagate(job_deps)
    headers = auth(token(PERSON, email=EMAIL))
    created = client.post(
        f"{PUBLIC}/rights-requests",
        json={"property": PROPERTY, "type": "erasure", "confirm": True},
        headers=headers,
    )
    assert created.status_code == 202
    run_rights_jobs(job_deps)
    read = client.get(
        f"{PUBLIC}/rights-requests/{created.get_json()['id']}?property={PROPERTY}",
        headers=headers,
    )
    assert read.status_code == 200 and read.get_json()["status"] == "completed"
    assert scan(job_deps, [PERSON, EMAIL]) == []
    assert braze.user(PERSON) is None
    # Signing in again and choosing is a new explicit action: allowed, as a new subject.
    save(client, [("offers", "email", "subscribed")], sub=PERSON, email=EMAIL)
    with job_deps.session() as session:
        subject = session.scalars(select(models.Subject)).one()
    assert subject.external_id == PERSON


def test_an_erasure_braze_refuses_fails_and_keeps_local_data(
    client: FlaskClient, job_deps: Deps, braze: BrazeFake, admin: dict[str, str]
) -> None:
    from tests.fakes.braze_fake import Fault

    save(client, [("newsletter", "email", "subscribed")], sub=PERSON, email=EMAIL)
    braze.script(DELETE, [Fault(status=403, body={"message": "Access Denied"})])
    created = client.post(
        f"{ADMIN}/rights-requests", json={"type": "erasure", "external_id": PERSON}, headers=admin
    ).get_json()
    run_rights_jobs(job_deps)
    failed = client.get(f"{ADMIN}/rights-requests/{created['id']}", headers=admin).get_json()
    assert failed["status"] == "failed" and "users.delete" in failed["error"]
    assert count(job_deps, models.Subject) == 1 and count(job_deps, models.Suppression) == 0


def test_the_sweep_and_jobs_are_registered_and_take_ids() -> None:
    from backend.jobs import cron, schedules
    from tests.fakes.jobs import RecordingJobQueue

    schedules.register_all()
    entries = {e.name: e for e in cron.entries()}
    queue = RecordingJobQueue()
    entries["rights-sweep"].enqueue(queue)
    entries["reconcile"].enqueue(queue)
    assert [(c.func, c.queue, c.job_id) for c in queue.calls] == [
        ("backend.jobs.rights.sweep_rights_requests_job", "default", "rights-sweep"),
        ("backend.jobs.reconcile.reconcile_all_job", "default", "reconcile-all"),
    ]
    assert entries["reconcile"].every_seconds == 900
