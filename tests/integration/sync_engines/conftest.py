"""The engines against real services: a Braze fake over HTTP, a real S3 server, a real database.

``world`` seeds the configuration an engine reads (a Braze connection whose REST endpoint is
the fake and whose bucket lives on the S3 server, a sync connection, goals, runs, profiles).
Runs are created ``running``, as ``sync_runs.start_run`` leaves them before calling an engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert, select

from backend.db.models import (
    BrazeConnection,
    ExportGoal,
    ExportProfileState,
    ImportGoal,
    Profile,
    Segment,
    SegmentMember,
    SyncConnection,
    SyncRun,
    SyncRunError,
)
from backend.services.deps import Deps
from backend.services.sync_import import ImportTuning
from backend.services.sync_import_files import WatchTuning
from tests.fakes.braze_fake import BrazeFake
from tests.fakes.braze_fake_exports import SegmentExportWriter
from tests.fakes.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, start_s3_server

FAST_WATCH = WatchTuning(poll_first=0.05, poll_max=0.4, quiet_period=1.0, timeout=20.0)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def braze_fake_server() -> Iterator[BrazeFake]:
    with BrazeFake() as fake:
        yield fake


@pytest.fixture
def fake(braze_fake_server: BrazeFake) -> BrazeFake:
    braze_fake_server.reset()
    braze_fake_server.on_segment_export = None
    return braze_fake_server


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@dataclass
class World:
    deps: Deps
    fake: BrazeFake
    s3: S3Server
    bucket: str
    root: str = "optline/"
    braze_connection_id: int = 0
    sync_connection_id: int = 0

    def setup(self, *, budget_share: float = 0.8) -> World:
        with self.deps.session() as session:
            braze = BrazeConnection(
                code="braze-main", name="Braze", rest_endpoint=self.fake.url,
                api_key_encrypted=self.deps.secrets.encrypt(self.fake.api_key),
                budget_share=budget_share, s3_bucket=self.bucket, s3_prefix=self.root,
                s3_region="us-east-1", s3_endpoint_url=self.s3.endpoint_url,
                s3_access_key_id=ACCESS_KEY,
                s3_secret_access_key_encrypted=self.deps.secrets.encrypt(SECRET_KEY),
            )  # fmt: skip
            session.add(braze)
            session.flush()
            sync = SyncConnection(code="braze-profiles", braze_connection_id=braze.id, notify={})
            session.add(sync)
            session.flush()
            self.braze_connection_id, self.sync_connection_id = braze.id, sync.id
        return self

    def writer(self, **options: Any) -> SegmentExportWriter:
        return SegmentExportWriter(
            self.fake, self.s3.client(), self.bucket, root=self.root, **options
        ).install()

    def import_goal(self, **fields: Any) -> int:
        values: dict[str, Any] = {
            "code": "braze-loyalty", "braze_segment_id": "seg-1",
            "identifiers": [{"braze": "external_id", "profile": "external_id"}],
            "allow_create": True, "mappings": [], "remaining_fields": {},
        }  # fmt: skip
        values.update(fields)
        with self.deps.session() as session:
            goal = ImportGoal(sync_connection_id=self.sync_connection_id, **values)
            session.add(goal)
            session.flush()
            return goal.id

    def export_goal(self, **fields: Any) -> int:
        values: dict[str, Any] = {
            "code": "vip-to-braze", "segment_code": "vip",
            "identifiers": [{"profile": "external_id", "braze": "external_id"}],
            "create_if_missing": True, "mappings": [], "destinations": {"braze": True},
        }  # fmt: skip
        values.update(fields)
        with self.deps.session() as session:
            goal = ExportGoal(sync_connection_id=self.sync_connection_id, **values)
            session.add(goal)
            session.flush()
            return goal.id

    def run(self, kind: str, goal_id: int, *, dry_run: bool = False) -> int:
        with self.deps.session() as session:
            run = SyncRun(
                sync_connection_id=self.sync_connection_id, goal_kind=kind, goal_id=goal_id,
                goal_code=f"{kind}-{goal_id}", status="running", dry_run=dry_run,
                counts={}, progress={}, checkpoint={}, started_at=self.deps.clock(),
            )  # fmt: skip
            session.add(run)
            session.flush()
            return run.id

    def finish(self, run_id: int, status: str = "succeeded") -> None:
        """What the frame does after an engine returns; frees the goal for its next run."""
        with self.deps.session() as session:
            run = session.get(SyncRun, run_id)
            assert run is not None
            run.status, run.finished_at = status, self.deps.clock()

    def profiles(self, rows: list[dict[str, Any]]) -> list[int]:
        now = self.deps.clock()
        full = [
            {"profile_key": str(uuid.uuid4()), "external_id": None, "email": None,
             "identifiers": {}, "properties": {}, "interactions": [], "version": 1,
             "created_at": now, "updated_at": now} | row
            for row in rows
        ]  # fmt: skip
        with self.deps.session() as session:
            return list(
                session.scalars(
                    insert(Profile).returning(Profile.id, sort_by_parameter_order=True), full
                )
            )

    def segment(self, code: str, profile_ids: list[int]) -> int:
        """A static segment of these profiles (by their external ids, as the frame stores it)."""
        with self.deps.session() as session:
            external_ids = list(
                session.scalars(select(Profile.external_id).where(Profile.id.in_(profile_ids)))
            )
            segment = Segment(code=code, name=code, rule={"members": external_ids}, is_static=True)
            session.add(segment)
            session.flush()
            if profile_ids:
                session.execute(
                    insert(SegmentMember),
                    [{"segment_id": segment.id, "profile_id": p} for p in profile_ids],
                )
            return segment.id

    def profile(self, external_id: str) -> dict[str, Any]:
        with self.deps.session() as session:
            found = session.scalar(select(Profile).where(Profile.external_id == external_id))
            assert found is not None, external_id
            return {"properties": dict(found.properties), "version": found.version,
                    "email": found.email, "updated_at": found.updated_at,
                    "created_at": found.created_at}  # fmt: skip

    def all_profiles(self) -> dict[str, dict[str, Any]]:
        with self.deps.session() as session:
            return {p.external_id or p.email or str(p.id): dict(p.properties)
                    for p in session.scalars(select(Profile))}  # fmt: skip

    def update_properties(self, external_id: str, **changes: Any) -> None:
        """An edit as the profile service makes one: new properties and version + 1."""
        with self.deps.session() as session:
            found = session.scalar(select(Profile).where(Profile.external_id == external_id))
            assert found is not None
            found.properties = {**found.properties, **changes}
            found.version += 1

    def sync_run(self, run_id: int) -> SyncRun:
        with self.deps.session() as session:
            run = session.get(SyncRun, run_id)
            assert run is not None
            session.expunge(run)
            return run

    def sync_run_ids(self) -> list[int]:
        with self.deps.session() as session:
            return list(session.scalars(select(SyncRun.id).order_by(SyncRun.id)))

    def errors(self, run_id: int) -> list[SyncRunError]:
        with self.deps.session() as session:
            rows = list(session.scalars(select(SyncRunError).where(SyncRunError.run_id == run_id)))
            session.expunge_all()
            return rows

    def export_states(self, goal_id: int) -> dict[int, ExportProfileState]:
        with self.deps.session() as session:
            rows = list(
                session.scalars(
                    select(ExportProfileState).where(ExportProfileState.goal_id == goal_id)
                )
            )
            session.expunge_all()
            return {r.profile_id: r for r in rows}


@pytest.fixture
def world(deps: Deps, fake: BrazeFake, s3_server: S3Server, bucket: str) -> World:
    deps.extras["sync_import_tuning"] = ImportTuning(chunk_rows=400, watch=FAST_WATCH)
    return World(deps, fake, s3_server, bucket).setup()
