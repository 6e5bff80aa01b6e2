"""Export goal engine (PRODUCT §3.4): the changed fields of a segment's changed profiles, to Braze.

Candidates stream out of one indexed join in profile-id order (``sync_export_reads``); each gets
a delta (``domain.export_delta``): the mapped attributes whose hash differs from what Braze
acknowledged. Objects go 75 to a /users/track request, a few requests in flight, paced within
the connection's budget share (``sync_export_sender``). A committer thread
(``sync_export_commit``) settles batches strictly in order and commits, every quarter second,
the acknowledged objects' new hashes, the rejected ones as SyncRunError rows (their state stays
stale, so the next run retries them), the run's counts and the checkpoint (the last profile id
covered) in one transaction. After a crash the run resumes after that id: only what was sent
but not yet committed goes again, harmless because every value is absolute.

Optionally (goal ``destinations: {"s3_cdi": true}``) the same objects are written as Braze Cloud
Data Ingestion files; then a commit covers one file part, written before its commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.db.models import ExportGoal
from backend.domain.errors import NotFoundError
from backend.domain.export_delta import Delta, DeltaPlanner, definition_hash, plan_export
from backend.domain.rate_budget_sync import DEFAULT_LIMIT, DEFAULT_WINDOW, RateBudget
from backend.services.deps import Deps
from backend.services.sync_common import (
    PREVIEW_REQUESTS,
    PREVIEW_SAMPLES,
    SyncRunFailedError,
    load_run,
    monotonic,
    save_run,
    sleeper,
    tuned_gc,
)
from backend.services.sync_export_commit import BATCH, CommitTarget, Committer, ExportUnit
from backend.services.sync_export_reads import (
    Candidate,
    iter_candidate_pages,
    member_count,
    segment_id_of,
)
from backend.services.sync_export_sender import SenderTuning, TrackSender


@dataclass(frozen=True)
class ExportTuning:
    """Engine knobs; tests and benches put their own in ``deps.extras["sync_export_tuning"]``."""

    page_size: int = 2000
    track_limit: int = DEFAULT_LIMIT  # workspace users/track budget, corrected from headers
    track_window: float = DEFAULT_WINDOW
    sender: SenderTuning = field(default_factory=SenderTuning)
    cdi_part_size: int = 10_000
    max_quiet_unit: int = 5000  # unchanged states committed without waiting for a request
    commit_interval: float = 0.25  # acknowledged batches are committed together this often


class _ExportRun:
    def __init__(self, deps: Deps, run_id: int) -> None:
        self.deps, self.run_id = deps, run_id
        found = deps.extras.get("sync_export_tuning")
        self.tuning: ExportTuning = found if isinstance(found, ExportTuning) else ExportTuning()
        with deps.session() as session:
            info = load_run(session, run_id, "export")
            goal = session.get(ExportGoal, info.goal_id)
            if goal is None:
                raise NotFoundError(f"export goal {info.goal_id} does not exist")
            segment_id = segment_id_of(session, goal.segment_code)
            if segment_id is None:
                message = f"export goal {goal.code!r}: no segment {goal.segment_code!r}"
                raise SyncRunFailedError(message)
            plan = plan_export(
                goal.identifiers, goal.mappings, create_if_missing=goal.create_if_missing
            )
            self.definition = goal.definition_hash or definition_hash(
                goal.segment_code, goal.identifiers, goal.create_if_missing, goal.mappings
            )
            self.goal_id, self.goal_code, self.segment_id = goal.id, goal.code, segment_id
            destinations = goal.destinations or {}
            self.to_braze = bool(destinations.get("braze", True))
            self.to_cdi = bool(destinations.get("s3_cdi", False))
            live = not info.dry_run
            self.client = (
                deps.braze_factory(session, info.braze_connection_id)
                if live and self.to_braze
                else None
            )
            self.store = (
                deps.object_store_factory(session, info.braze_connection_id)
                if live and self.to_cdi
                else None
            )
            if not info.counts.get("checked") and not info.checkpoint:
                info.counts["checked"] = member_count(session, segment_id)
        self.info, self.planner = info, DeltaPlanner(plan)
        self.needs = frozenset(f.source for f in plan.fields)
        self.counts = dict(info.counts)
        self.checkpoint = {"after_profile_id": 0, "candidates": 0, "cdi_part": 0, **info.checkpoint}
        self.unit = ExportUnit()
        self.capacity = self.tuning.cdi_part_size if self.to_cdi else BATCH
        self.sender: TrackSender | None = None
        if self.client is not None:
            budget = RateBudget(
                self.tuning.track_limit, self.tuning.track_window, info.budget_share
            )
            self.sender = TrackSender(
                self.client, budget, self.tuning.sender,
                clock=monotonic(deps), sleep=sleeper(deps),
            )  # fmt: skip
        target = CommitTarget(
            deps, run_id, info.dry_run, self.counts, self.checkpoint, self._progress,
            cdi_store=self.store, cdi_prefix=info.s3_prefix, goal_code=self.goal_code,
        )  # fmt: skip
        self.committer = Committer(
            target,
            interval=self.tuning.commit_interval,
            depth=1 if self.to_cdi else self.tuning.sender.concurrency + 1,
        )
        self.preview: dict[str, Any] = {"samples": [], "requests": [], "request_count": 0}

    # -- planning ----------------------------------------------------------------------------

    def execute(self) -> None:
        try:
            pages = iter_candidate_pages(
                self.deps.sessions, segment_id=self.segment_id, goal_id=self.goal_id,
                definition=self.definition, after=int(self.checkpoint["after_profile_id"]),
                page_size=self.tuning.page_size, needs=self.needs,
            )  # fmt: skip
            for page in pages:
                for candidate in page:
                    self._plan(candidate)
            self._close_unit()
            self.committer.close()
        except BaseException:
            if self.sender is not None:
                self.sender.close()  # cancels what was not sent; the checkpoint stays put
            self.committer.abandon()
            raise
        if self.sender is not None:
            self.sender.close()
        self._finish()

    def _plan(self, candidate: Candidate) -> None:
        view, unit = candidate.view, self.unit
        delta = self.planner.delta(view, candidate.acked)
        state = (self.goal_id, view.id, view.version, self.definition, delta.hashes)
        unit.candidates += 1
        unit.last_id = view.id
        if delta.obj is None:
            unit.states.append(state)
            if delta.skipped:
                unit.skipped += 1
            else:
                unit.unchanged += 1
            if not unit.objects and len(unit.states) >= self.tuning.max_quiet_unit:
                self._close_unit()
            return
        ref = view.external_id or view.email or f"profile {view.id}"
        unit.objects.append((delta.obj, state, ref))
        if self.info.dry_run and len(self.preview["samples"]) < PREVIEW_SAMPLES:
            self.preview["samples"].append(self._sample(ref, delta, candidate.acked))
        if len(unit.objects) >= self.capacity:
            self._close_unit()

    @staticmethod
    def _sample(ref: str, delta: Delta, acked: dict[str, str] | None) -> dict[str, Any]:
        obj = delta.obj or {}
        return {
            "profile": ref,
            "changes": {
                name: {"before": "acknowledged earlier" if acked and name in acked else None,
                       "after": obj[name]}
                for name in delta.changed_fields
            },
        }  # fmt: skip

    # -- sending and committing --------------------------------------------------------------

    def _close_unit(self) -> None:
        unit, self.unit = self.unit, ExportUnit()
        if not unit.candidates:
            return
        batches = [unit.objects[i : i + BATCH] for i in range(0, len(unit.objects), BATCH)]
        if self.info.dry_run:
            for batch in batches:
                if len(self.preview["requests"]) < PREVIEW_REQUESTS:
                    body = {"attributes": [o for o, _, _ in batch]}
                    self.preview["requests"].append(
                        {"method": "POST", "path": "/users/track", "body": body}
                    )
            self.preview["request_count"] += len(batches) if self.to_braze else 0
        elif self.sender is not None:
            unit.futures = [self.sender.submit([o for o, _, _ in batch]) for batch in batches]
        unit.force = not unit.objects  # nothing to wait for: commit the state moves now
        self.committer.put(unit)

    def _progress(self, phase: str) -> dict[str, Any]:
        progress: dict[str, Any] = {
            "phase": phase,
            "after_profile_id": self.checkpoint["after_profile_id"],
        }
        if self.sender is not None:
            progress.update(requests=self.sender.requests, throttled=self.sender.throttled,
                            pace_per_second=round(self.sender.budget.rate, 1))  # fmt: skip
        return progress

    def _finish(self) -> None:
        if not self.checkpoint.get("finished"):
            # Members that were no candidate at all are unchanged too (counted once).
            left = self.counts.get("checked", 0) - int(self.checkpoint["candidates"])
            self.counts["unchanged"] = self.counts.get("unchanged", 0) + max(0, left)
            self.checkpoint["finished"] = True
        with self.deps.session() as session:
            save_run(session, self.run_id, self.deps.clock(), counts=self.counts,
                     checkpoint=self.checkpoint, progress=self._progress("done"),
                     preview=self.preview if self.info.dry_run else None)  # fmt: skip


def run_export(deps: Deps, run_id: int) -> None:
    """Run (or resume) one export run; the frame sets its status around this call."""
    with tuned_gc():
        _ExportRun(deps, run_id).execute()
