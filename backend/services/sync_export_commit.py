"""The export's committer: settles units strictly in order and commits them on its own thread.

A unit is what the planner closed: up to 75 objects (one request) — or one CDI file part —
plus the state moves of unchanged candidates before them. The committer waits for each unit's
requests, keeps the acknowledged objects' states, turns rejected ones into SyncRunError rows,
and every ``interval`` commits what it settled together with the run's counts and checkpoint.
SQLite does its B-tree work without the GIL, so committing here overlaps with planning.
"""

from __future__ import annotations

import gzip
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any

from backend.domain.cdi import cdi_line, cdi_part_key
from backend.domain.errors import ItemError
from backend.domain.export_delta import attribute_of
from backend.services.deps import Deps
from backend.services.sync_common import add_run_errors, save_run
from backend.services.sync_export_reads import save_states
from backend.services.sync_runs import heartbeat

BATCH = 75  # objects per /users/track request (braze_api.md §1.3)
HEARTBEAT_SECONDS = 30.0
# (goal_id, profile_id, acknowledged profile version, definition hash, field hashes)
State = tuple[int, int, int, str, dict[str, str]]


@dataclass
class ExportUnit:
    """What the planner closed: sent objects with their would-be states, and state moves."""

    objects: list[tuple[dict[str, Any], State, str]] = field(default_factory=list)
    states: list[State] = field(default_factory=list)
    last_id: int = 0
    candidates: int = 0
    unchanged: int = 0
    skipped: int = 0
    futures: list[Future[list[ItemError]]] = field(default_factory=list)
    force: bool = False  # commit as soon as settled


@dataclass
class CommitTarget:
    """What the committer writes besides the states: the run, its bookkeeping, CDI parts."""

    deps: Deps
    run_id: int
    dry_run: bool
    counts: dict[str, int]
    checkpoint: dict[str, Any]
    progress: Callable[[str], dict[str, Any]]
    cdi_store: Any = None  # an object store when CDI parts are written
    cdi_prefix: str = ""
    goal_code: str = ""


_STOP = object()


class Committer:
    def __init__(self, target: CommitTarget, *, interval: float, depth: int) -> None:
        self.target = target
        self.interval = interval
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self.error: BaseException | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="export-commit", daemon=True)
        self._thread.start()

    def put(self, unit: ExportUnit) -> None:
        """Hand over the next unit (blocks while ``depth`` units wait: backpressure)."""
        while True:
            self._raise()
            try:
                self._queue.put(unit, timeout=0.2)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Commit everything handed over, then stop; raises what went wrong on the thread."""
        if self._thread.is_alive():
            while self._thread.is_alive():
                try:
                    self._queue.put(_STOP, timeout=0.2)
                    break
                except queue.Full:
                    continue
            self._thread.join()
        self._raise()

    def abandon(self) -> None:
        """Stop after a failure elsewhere, without raising (the first error is the one shown)."""
        self._stopping = True
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass
        self._thread.join(timeout=60)

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        settled: list[ExportUnit] = []
        last = time.monotonic()
        try:
            while True:
                try:
                    unit = self._queue.get(timeout=self.interval)
                except queue.Empty:
                    unit = None
                if unit is _STOP:
                    if settled:
                        self._commit(settled)
                    return
                if self._stopping:
                    return
                if unit is not None:
                    self._wait(unit)
                    settled.append(unit)
                now = time.monotonic()
                force = unit is not None and unit.force
                if settled and (force or now - last >= self.interval):
                    self._commit(settled)
                    settled, last = [], now
        except BaseException as exc:  # noqa: BLE001 - handed to the planner thread, raised there
            self.error = exc
            while True:  # unblock a planner waiting in put()
                try:
                    if self._queue.get_nowait() is _STOP:
                        return
                except queue.Empty:
                    return

    def _wait(self, unit: ExportUnit) -> None:
        for future in unit.futures:
            while not wait([future], timeout=HEARTBEAT_SECONDS).done:
                # A long 429 storm must not look like a crashed worker.
                heartbeat(self.target.deps, self.target.run_id)

    def _settle(self, unit: ExportUnit, errors: list[dict[str, Any]]) -> list[State]:
        """States of the objects Braze took; each rejected object becomes an error row."""
        rejected: dict[int, str] = {}
        for number, future in enumerate(unit.futures):
            for item in future.result():  # raises when a batch could not be sent at all
                if item.input_array == "attributes" and item.index >= 0:
                    rejected[number * BATCH + item.index] = item.message
        if not rejected:
            return [state for _, state, _ in unit.objects]
        acked = []
        for index, (obj, state, ref) in enumerate(unit.objects):
            message = rejected.get(index)
            if message is None:
                acked.append(state)
                continue
            errors.append({"row_ref": ref, "profile_id": state[1],
                           "field": attribute_of(obj, message), "message": message})  # fmt: skip
        return acked

    def _commit(self, units: list[ExportUnit]) -> None:
        t = self.target
        states: list[State] = []
        errors: list[dict[str, Any]] = []
        for unit in units:
            acked = self._settle(unit, errors)
            states.extend(unit.states)
            states.extend(acked)
            t.counts["updated"] = t.counts.get("updated", 0) + len(acked)
            t.counts["unchanged"] = t.counts.get("unchanged", 0) + unit.unchanged
            t.counts["skipped"] = t.counts.get("skipped", 0) + unit.skipped
            t.checkpoint["candidates"] += unit.candidates
            t.checkpoint["after_profile_id"] = unit.last_id
            if t.cdi_store is not None and unit.objects:
                self._write_cdi_part(unit, acked)
        t.counts["failed"] = t.counts.get("failed", 0) + len(errors)
        with t.deps.session() as session:
            if not t.dry_run:
                save_states(session, states)
                add_run_errors(session, t.run_id, errors)
            save_run(session, t.run_id, t.deps.clock(), counts=t.counts,
                     checkpoint=t.checkpoint, progress=t.progress("sending"))  # fmt: skip

    def _write_cdi_part(self, unit: ExportUnit, acked: list[State]) -> None:
        """One gzip NDJSON part of the acknowledged objects, written before its commit (a
        resumed run rewrites the same part number)."""
        t = self.target
        taken = {s[1] for s in acked}
        part = int(t.checkpoint["cdi_part"])
        key = cdi_part_key(t.cdi_prefix, t.goal_code, t.run_id, part)
        with tempfile.SpooledTemporaryFile(max_size=32 << 20) as buffer:
            with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6) as gz:
                for obj, state, _ in unit.objects:
                    if state[1] in taken:
                        gz.write(cdi_line(obj))
            buffer.seek(0)
            t.cdi_store.put(key, buffer, content_type="application/gzip")
        t.checkpoint["cdi_part"] = part + 1
