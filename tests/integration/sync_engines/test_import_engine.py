"""Import goals end to end: the Braze fake writes segment exports into a real S3 server, the
engine reads them as they land and merges them with each strategy."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import pytest

from backend.services.sync_callback import mark_export_ready
from backend.services.sync_common import SyncRunFailedError
from backend.services.sync_import import (
    ImportTuning,
    list_braze_segments,
    run_import,
)
from backend.services.sync_import_files import WatchTuning
from tests.integration.sync_engines.conftest import FAST_WATCH, World

pytestmark = pytest.mark.integration

MAPPINGS = [
    {"braze": "first_name", "profile": "first_name", "strategy": "set_if_empty"},
    {"braze": "loyalty_points", "profile": "points", "strategy": "sum"},
    {"braze": "interests", "profile": "interests", "strategy": "add"},
    {"braze": "tier", "profile": "tier", "strategy": "set"},
    {"braze": "account_status", "profile": "status", "strategy": "clear"},
]
REMAINING = {"enabled": True, "prefix": "braze_", "strategy": "set"}


def seed_braze(world: World) -> None:
    fake = world.fake
    fake.add_user("u1", attributes={
        "first_name": "Ann", "loyalty_points": 40, "interests": ["ski", "golf"],
        "tier": "gold", "favorite_color": "blue",
    })  # fmt: skip
    fake.add_user("u2", attributes={
        "first_name": "Cy", "loyalty_points": 5, "interests": ["chess"],
        "account_status": "active",
    })  # fmt: skip
    fake.add_user("u3", attributes={"loyalty_points": 7, "tier": "silver", "pet": "cat"})
    fake.add_segment("seg-1", "Loyalty", ["u1", "u2", "u3"])


def set_braze(world: World, external_id: str, **attributes: Any) -> None:
    with world.fake.lock:
        user = world.fake.find_external_id(external_id)
        assert user is not None
        for name, value in attributes.items():
            if value is None:
                user["attributes"].pop(name, None)
            else:
                user["attributes"][name] = value


def import_once(world: World, goal_id: int) -> dict[str, int]:
    run_id = world.run("import", goal_id)
    run_import(world.deps, run_id)
    world.finish(run_id)
    return dict(world.sync_run(run_id).counts)


def test_each_strategy_merges_exactly_and_a_second_import_changes_nothing(world: World) -> None:
    seed_braze(world)
    world.writer(users_per_file=2)
    world.profiles([
        {"external_id": "u1", "properties": {
            "first_name": "Bo", "points": 100, "interests": ["golf"], "status": "vip"}},
        {"external_id": "u2", "properties": {"first_name": "", "tier": "bronze"}},
    ])  # fmt: skip
    goal = world.import_goal(mappings=MAPPINGS, remaining_fields=REMAINING)

    counts = import_once(world, goal)

    assert world.all_profiles() == {
        "u1": {"first_name": "Bo", "points": 140, "interests": ["golf", "ski"], "tier": "gold",
               "braze_favorite_color": "blue"},
        "u2": {"first_name": "Cy", "points": 5, "interests": ["chess"], "tier": "bronze",
               "status": "active"},
        "u3": {"points": 7, "tier": "silver", "braze_pet": "cat"},
    }  # fmt: skip
    assert counts == {"checked": 3, "created": 1, "updated": 2, "unchanged": 0, "skipped": 0,
                      "failed": 0}  # fmt: skip
    versions = {x: world.profile(x)["version"] for x in ("u1", "u2", "u3")}
    assert versions == {"u1": 2, "u2": 2, "u3": 1}
    with world.deps.session() as session:  # bulk writes store times exactly as the ORM does
        stored = (
            session.connection()
            .exec_driver_sql(
                "SELECT updated_at, created_at FROM profiles WHERE external_id IN ('u1', 'u3')"
            )
            .all()
        )
    for updated, created in stored:
        if isinstance(updated, str):  # SQLite: the ORM's text format, no offset suffix
            assert len(updated) == len(created) and "+" not in updated, updated
        else:
            assert isinstance(updated, datetime)
    assert world.profile("u1")["updated_at"] > world.profile("u1")["created_at"]
    request = world.fake.requests_to("/users/export/segment")[0].body
    assert request["output_format"] == "gzip"
    assert request["fields_to_export"] == ["braze_id", "external_id", "first_name",
                                           "custom_attributes"]  # fmt: skip

    again = import_once(world, goal)

    assert again == {"checked": 3, "created": 0, "updated": 0, "unchanged": 3, "skipped": 0,
                     "failed": 0}  # fmt: skip
    assert world.profile("u1")["properties"]["points"] == 140  # sum not doubled
    assert world.profile("u1")["properties"]["interests"] == ["golf", "ski"]  # add not duplicated
    assert {x: world.profile(x)["version"] for x in versions} == versions

    set_braze(world, "u1", loyalty_points=55, interests=["ski", "tennis"], tier=None)
    set_braze(world, "u2", account_status=None, loyalty_points=2)
    third = import_once(world, goal)

    u1, u2 = world.profile("u1")["properties"], world.profile("u2")["properties"]
    assert u1["points"] == 155 and u1["interests"] == ["golf", "ski", "tennis"]
    assert u1["tier"] == "gold"  # set: a missing B leaves P alone
    assert u2["points"] == 2 and "status" not in u2  # sum follows B down; clear removes
    assert third["updated"] == 2 and third["unchanged"] == 1


def test_new_profiles_only_with_allow_create(world: World) -> None:
    seed_braze(world)
    world.writer()
    world.profiles([{"external_id": "u2", "properties": {}}])
    goal = world.import_goal(allow_create=False, mappings=MAPPINGS[:2])

    counts = import_once(world, goal)

    assert sorted(world.all_profiles()) == ["u2"]
    assert counts["skipped"] == 2 and counts["updated"] == 1 and counts["created"] == 0


def test_identifier_fallback_to_email(world: World) -> None:
    world.fake.add_user("bz-9", attributes={"email": "Ann@Example.com", "tier": "gold"})
    world.fake.add_segment("seg-1", "Loyalty", ["bz-9"])
    world.writer()
    world.profiles([{"email": "ann@example.com", "properties": {}}])
    goal = world.import_goal(
        allow_create=False,
        identifiers=[
            {"braze": "phone", "profile": "phone"},
            {"braze": "email", "profile": "email"},
        ],
        mappings=[{"braze": "tier", "profile": "tier", "strategy": "set"}],
    )
    import_once(world, goal)
    assert world.all_profiles() == {"ann@example.com": {"tier": "gold"}}


def test_files_are_read_as_they_land(world: World) -> None:
    for n in range(30):
        world.fake.add_user(f"u{n}", attributes={"tier": "gold"})
    world.fake.add_segment("seg-1", "All", [f"u{n}" for n in range(30)])
    writer = world.writer(users_per_file=10, delay=0.8)
    opened: dict[str, float] = {}
    factory = world.deps.object_store_factory

    def recording_factory(session: Any, connection_id: int) -> Any:
        store = factory(session, connection_id)
        lines = store.iter_lines

        def iter_lines(key: str) -> Any:
            opened.setdefault(key, time.monotonic())
            return lines(key)

        store.iter_lines = iter_lines
        return store

    world.deps.object_store_factory = recording_factory
    goal = world.import_goal(mappings=[{"braze": "tier", "profile": "tier", "strategy": "set"}])

    counts = import_once(world, goal)

    assert counts["created"] == 30
    assert [w.users for w in writer.written] == [10, 10, 10]
    first, last = writer.written[0], writer.written[-1]
    assert opened[first.key] < last.at  # the first file was read before the last one landed
    assert set(opened) == {w.key for w in writer.written}


def test_no_file_within_the_timeout_fails_the_run_clearly(world: World) -> None:
    seed_braze(world)
    world.fake.on_segment_export = lambda *args: None  # Braze never writes anything
    world.deps.extras["sync_import_tuning"] = ImportTuning(
        watch=WatchTuning(poll_first=0.05, poll_max=0.2, quiet_period=0.5, timeout=1.0)
    )
    goal = world.import_goal(mappings=MAPPINGS)
    run_id = world.run("import", goal)
    with pytest.raises(SyncRunFailedError, match=r"no export file appeared within 1s under "
                       r"optline/segment-export/seg-1/"):  # fmt: skip
        run_import(world.deps, run_id)
    assert world.all_profiles() == {}


class Crash(BaseException):
    """Stands in for kill -9: nothing after it runs, nothing is cleaned up."""


def test_a_resumed_run_skips_what_was_committed_and_counts_exactly(world: World) -> None:
    for n in range(12):
        world.fake.add_user(f"u{n:02}", attributes={"loyalty_points": n, "tags": [f"t{n}"]})
    world.fake.add_segment("seg-1", "All", [f"u{n:02}" for n in range(12)])
    world.writer(users_per_file=4)
    world.deps.extras["sync_import_tuning"] = ImportTuning(chunk_rows=2, watch=FAST_WATCH)
    goal = world.import_goal(mappings=[
        {"braze": "loyalty_points", "profile": "points", "strategy": "sum"},
        {"braze": "tags", "profile": "tags", "strategy": "add"},
    ])  # fmt: skip
    run_id = world.run("import", goal)
    factory, files = world.deps.object_store_factory, []

    def crashing_factory(session: Any, connection_id: int) -> Any:
        store = factory(session, connection_id)
        lines = store.iter_lines

        def iter_lines(key: str) -> Any:
            files.append(key)
            for number, line in enumerate(lines(key), start=1):
                if len(files) == 2 and number == 3:  # after the second file's first chunk
                    raise Crash
                yield line

        store.iter_lines = iter_lines
        return store

    world.deps.object_store_factory = crashing_factory
    with pytest.raises(Crash):
        run_import(world.deps, run_id)
    checkpoint = world.sync_run(run_id).checkpoint
    assert len(checkpoint["files_done"]) == 1 and checkpoint["line"] == 2

    world.deps.object_store_factory = factory
    run_import(world.deps, run_id)

    profiles = world.all_profiles()
    assert profiles == {f"u{n:02}": {"points": n, "tags": [f"t{n}"]} for n in range(12)}
    counts = world.sync_run(run_id).counts
    assert counts["checked"] == 12 and counts["created"] == 12
    assert len(world.fake.requests_to("/users/export/segment")) == 1  # one export per run


def test_dry_run_writes_nothing_and_previews(world: World) -> None:
    seed_braze(world)
    world.writer()
    world.profiles([{"external_id": "u1", "properties": {"points": 1}}])
    goal = world.import_goal(mappings=MAPPINGS, remaining_fields=REMAINING)
    run_id = world.run("import", goal, dry_run=True)

    run_import(world.deps, run_id)

    run = world.sync_run(run_id)
    assert world.all_profiles() == {"u1": {"points": 1}}
    assert run.counts["created"] == 2 and run.counts["updated"] == 1
    assert run.preview is not None
    assert run.preview["requests"][0]["path"] == "/users/export/segment"
    sample = next(s for s in run.preview["samples"] if s["profile"] == "u1")
    assert sample["changes"]["points"] == {"before": {"value": 1}, "after": {"value": 41}}


def test_segments_are_listed_for_the_goal_picker(world: World) -> None:
    world.fake.add_segment("seg-1", "Loyalty")
    world.fake.add_segment("seg-2", "Churn risk")
    found = list_braze_segments(world.deps, "braze-main")
    assert [(s["id"], s["name"]) for s in found] == [("seg-1", "Loyalty"), ("seg-2", "Churn risk")]


def test_brazes_callback_ends_the_wait_without_a_quiet_period(world: World) -> None:
    seed_braze(world)
    writer = world.writer(users_per_file=2, delay=0.3)
    world.deps.extras["sync_import_tuning"] = ImportTuning(
        watch=WatchTuning(poll_first=0.05, poll_max=0.2, quiet_period=60.0, timeout=60.0)
    )
    goal = world.import_goal(mappings=MAPPINGS)
    run_id = world.run("import", goal)

    def callback_when_written() -> None:
        deadline = time.monotonic() + 20
        while len(writer.written) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        mark_export_ready(world.deps, run_id)

    thread = threading.Thread(target=callback_when_written)
    thread.start()
    started = time.monotonic()
    run_import(world.deps, run_id)
    thread.join()

    assert time.monotonic() - started < 15  # far less than the 60 s quiet period
    assert world.sync_run(run_id).counts["checked"] == 3
    assert sorted(world.all_profiles()) == ["u1", "u2", "u3"]
