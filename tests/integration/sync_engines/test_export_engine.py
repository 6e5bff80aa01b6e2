"""Export goals end to end against the Braze fake over HTTP: only changed profiles, only changed
fields, errors[] mapped back, 429 storms ridden out, CDI files, dry runs."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest

from backend.db.models import Preference, Subject, Subscription
from backend.services.sync_export import ExportTuning, run_export
from backend.services.sync_export_sender import SenderTuning
from tests.fakes.braze_fake import Fault
from tests.integration.sync_engines.conftest import World

pytestmark = pytest.mark.integration

MAPPINGS = [
    {"source": "property", "name": "tier", "braze": "tier"},
    {"source": "property", "name": "points", "braze": "points"},
    {"source": "segments", "braze": "optline_segments"},
    {"source": "static", "value": "optline", "braze": "source_system"},
]


def seed(world: World, n: int, **extra: Any) -> list[int]:
    rows = [
        {"external_id": f"u{i:03}", "properties": {"tier": "gold", "points": i, **extra}}
        for i in range(n)
    ]
    ids = world.profiles(rows)
    world.segment("vip", ids)
    return ids


def export_once(world: World, goal_id: int, **options: Any) -> dict[str, int]:
    run_id = world.run("export", goal_id, **options)
    run_export(world.deps, run_id)
    world.finish(run_id)
    return dict(world.sync_run(run_id).counts)


def tracked(world: World) -> list[dict[str, Any]]:
    """Every object sent to /users/track so far, in order."""
    return [o for r in world.fake.requests_to("/users/track") for o in r.body["attributes"]]


def test_only_changed_profiles_and_only_changed_fields_are_sent(world: World) -> None:
    seed(world, 160)
    goal = world.export_goal(mappings=MAPPINGS)

    first = export_once(world, goal)

    assert len(world.fake.requests_to("/users/track")) == 3  # 75 + 75 + 10
    assert first == {"checked": 160, "created": 0, "updated": 160, "unchanged": 0,
                     "skipped": 0, "failed": 0}  # fmt: skip
    assert world.fake.user("u007")["attributes"] == {
        "tier": "gold", "points": 7, "optline_segments": ["vip"], "source_system": "optline",
    }  # fmt: skip
    sent_before = len(tracked(world))

    changed = [f"u{i:03}" for i in range(5, 150, 15)]
    assert len(changed) == 10
    for external_id in changed:
        world.update_properties(external_id, tier="platinum")

    second = export_once(world, goal)

    objects = tracked(world)[sent_before:]
    assert objects == [
        {"external_id": x, "_update_existing_only": False, "tier": "platinum"} for x in changed
    ]
    assert second["updated"] == 10 and second["unchanged"] == 150 and second["checked"] == 160
    assert world.fake.user("u020")["attributes"]["tier"] == "platinum"

    requests_before = len(world.fake.requests_to("/users/track"))
    third = export_once(world, goal)
    assert len(world.fake.requests_to("/users/track")) == requests_before  # no change: nothing
    assert third["unchanged"] == 160 and third["updated"] == 0


def test_a_vanished_property_is_sent_as_null_and_unchanged_versions_send_nothing(
    world: World,
) -> None:
    seed(world, 3)
    goal = world.export_goal(mappings=MAPPINGS[:2])
    export_once(world, goal)
    sent = len(tracked(world))
    with world.deps.session() as session:
        from sqlalchemy import select

        from backend.db.models import Profile

        profile = session.scalar(select(Profile).where(Profile.external_id == "u001"))
        assert profile is not None
        profile.properties = {"tier": "gold"}  # points removed
        profile.version += 1
    world.update_properties("u002")  # version bumped, nothing mapped changed

    counts = export_once(world, goal)

    assert tracked(world)[sent:] == [
        {"external_id": "u001", "_update_existing_only": False, "points": None}
    ]
    assert "points" not in world.fake.user("u001")["attributes"]
    assert counts["updated"] == 1 and counts["unchanged"] == 2
    states = world.export_states(goal)
    assert all(s.profile_version == world.profile(f"u{i:03}")["version"]
               for i, s in enumerate(states.values()))  # fmt: skip


def test_rejected_objects_are_attributed_and_retried_next_run(world: World) -> None:
    ids = seed(world, 6)
    goal = world.export_goal(
        mappings=[*MAPPINGS[:1], {"source": "property", "name": "contact", "braze": "email"}]
    )
    for i in range(6):
        world.update_properties(f"u{i:03}", contact=f"u{i}@example.com")
    world.update_properties("u002", contact="not-an-email")
    world.update_properties("u004", contact="also bad")

    counts = export_once(world, goal)

    assert counts["updated"] == 4 and counts["failed"] == 2
    run_id = world.sync_run_ids()[-1]
    errors = sorted(world.errors(run_id), key=lambda e: e.row_ref)
    assert [(e.row_ref, e.profile_id, e.field) for e in errors] == [
        ("u002", ids[2], "email"), ("u004", ids[4], "email"),
    ]  # fmt: skip
    assert "not a valid email" in errors[0].message
    assert world.fake.user("u002") is None  # nothing of a rejected object was applied
    assert set(world.export_states(goal)) == {ids[0], ids[1], ids[3], ids[5]}

    sent = len(tracked(world))
    world.update_properties("u002", contact="u2@example.com")
    retry = export_once(world, goal)

    again = tracked(world)[sent:]
    assert sorted(o["external_id"] for o in again) == ["u002", "u004"]  # stale ones only
    assert next(o for o in again if o["external_id"] == "u002") == {
        "external_id": "u002", "_update_existing_only": False, "tier": "gold",
        "email": "u2@example.com",
    }  # fmt: skip
    assert retry["updated"] == 1 and retry["failed"] == 1
    assert world.fake.user("u002")["attributes"]["email"] == "u2@example.com"


def test_a_429_storm_is_ridden_out(world: World) -> None:
    seed(world, 300)
    goal = world.export_goal(mappings=MAPPINGS[:2])
    world.fake.script("/users/track", [Fault(status=429, reset_in=0.2)] * 6)
    world.fake.set_rate_limit("users.track", 20, 1.0)
    world.deps.extras["sync_export_tuning"] = ExportTuning(
        track_limit=3000, track_window=1.0, sender=SenderTuning(concurrency=2)
    )

    counts = export_once(world, goal)

    assert counts["updated"] == 300 and counts["failed"] == 0
    statuses = [r.status for r in world.fake.requests_to("/users/track")]
    assert statuses.count(429) >= 6
    assert statuses.count(201) == 4
    assert all(world.fake.user(f"u{i:03}")["attributes"]["points"] == i for i in range(300))


def test_permissions_and_interactions_sources(world: World) -> None:
    ids = world.profiles([
        {"external_id": "p1", "interactions": ["widget_view", "saved"]},
        {"email": "p2@example.com"},
    ])  # fmt: skip
    world.segment("vip", ids)
    with world.deps.session() as session:
        news = Subscription(code="news", name={"en": "News"})
        session.add(news)
        session.flush()
        for external_id, email, channel, state in (
            ("p1", None, "email", "subscribed"), ("p1", None, "sms", "unsubscribed"),
            (None, "p2@example.com", "sms", "subscribed"),
        ):  # fmt: skip
            subject = session.query(Subject).filter_by(external_id=external_id, email=email).first()
            if subject is None:
                subject = Subject(subject_key=str(uuid.uuid4()), external_id=external_id,
                                  email=email)  # fmt: skip
                session.add(subject)
                session.flush()
            session.add(Preference(subject_id=subject.id, subscription_id=news.id,
                                   channel=channel, state=state, source="widget"))  # fmt: skip
    goal = world.export_goal(
        identifiers=[{"profile": "external_id", "braze": "external_id"},
                     {"profile": "email", "braze": "email"}],
        mappings=[{"source": "permissions", "braze": "optline_permissions"},
                  {"source": "interactions", "braze": "optline_interactions"}],
    )  # fmt: skip

    export_once(world, goal)

    assert tracked(world) == [
        {"external_id": "p1", "_update_existing_only": False,
         "optline_permissions": ["news.email"], "optline_interactions": ["widget_view", "saved"]},
        {"email": "p2@example.com", "_update_existing_only": False,
         "optline_permissions": ["news.sms"], "optline_interactions": []},
    ]  # fmt: skip


def test_dry_run_sends_nothing_and_previews_the_requests(world: World) -> None:
    seed(world, 80)
    goal = world.export_goal(mappings=MAPPINGS[:2])
    run_id = world.run("export", goal, dry_run=True)

    run_export(world.deps, run_id)

    run = world.sync_run(run_id)
    assert world.fake.requests_to("/users/track") == []
    assert world.export_states(goal) == {}
    assert run.counts["updated"] == 80
    assert run.preview is not None and run.preview["request_count"] == 2
    body = run.preview["requests"][0]["body"]
    assert len(body["attributes"]) == 75
    assert body["attributes"][0] == {"external_id": "u000", "_update_existing_only": False,
                                     "tier": "gold", "points": 0}  # fmt: skip
    assert len(run.preview["samples"]) == 20
    assert run.preview["samples"][1]["changes"]["points"] == {"before": None, "after": 1}


def test_cdi_files_in_braze_shape_instead_of_requests(world: World) -> None:
    seed(world, 25)
    goal = world.export_goal(mappings=MAPPINGS[:2], destinations={"braze": False, "s3_cdi": True})
    world.deps.extras["sync_export_tuning"] = ExportTuning(cdi_part_size=10)

    counts = export_once(world, goal)

    run_id = world.sync_run_ids()[-1]
    client = world.s3.client()
    listed = client.list_objects_v2(Bucket=world.bucket, Prefix="optline/cdi/")["Contents"]
    keys = sorted(o["Key"] for o in listed)
    assert keys == [f"optline/cdi/vip-to-braze/{run_id}/part-{n:04}.ndjson.gz" for n in range(3)]
    body = client.get_object(Bucket=world.bucket, Key=keys[0])["Body"].read()
    rows = [json.loads(line) for line in gzip.decompress(body).splitlines()]
    assert rows[0] == {"external_id": "u000", "payload": '{"tier":"gold","points":0}'}
    assert len(rows) == 10 and counts["updated"] == 25
    assert world.fake.requests_to("/users/track") == []
    assert export_once(world, goal)["unchanged"] == 25  # acknowledged: nothing written again


def test_a_new_mapping_sends_only_the_new_field(world: World) -> None:
    seed(world, 4)
    goal = world.export_goal(mappings=MAPPINGS[:1])
    export_once(world, goal)
    sent = len(tracked(world))
    with world.deps.session() as session:
        from backend.db.models import ExportGoal

        row = session.get(ExportGoal, goal)
        assert row is not None
        row.mappings = MAPPINGS[:2]
        row.definition_hash = "v2"

    counts = export_once(world, goal)

    assert [sorted(o) for o in tracked(world)[sent:]] == [
        ["_update_existing_only", "external_id", "points"]
    ] * 4
    assert counts["updated"] == 4
