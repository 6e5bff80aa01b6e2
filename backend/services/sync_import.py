"""Import goal engine (PRODUCT §3.4): a Braze segment, through S3, merged into profiles.

1. ``/users/export/segment`` with the mapped fields and gzip output (once per run: a resumed run
   keeps the object prefix in its checkpoint and never starts a second export);
2. each file Braze writes to the bucket is read as it lands (``sync_import_files``), streamed,
   gunzipped, split into lines and parsed a chunk ahead on a thread of its own (``read_ahead``:
   no database there): memory holds a few chunks of rows, whatever the segment size;
3. chunks are merged (``sync_import_rows``) and committed with the run's counts and checkpoint
   (files done, and lines done of the current file), so a resumed run skips exactly what was
   committed; a half-merged chunk rolls back whole, and row hashes plus the per-user ``sum``
   memory make re-reading any row harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import select

from backend.db.models import BrazeConnection, ImportGoal, SyncRun
from backend.domain.errors import NotFoundError, RetryableError
from backend.domain.import_rows import ImportPlan, ParsedRows, parse_rows, plan_import
from backend.services.deps import Deps
from backend.services.rights import suppression_check
from backend.services.sync_callback import callback_for_run
from backend.services.sync_common import (
    PREVIEW_SAMPLES,
    SyncRunFailedError,
    add_run_errors,
    beating_sleeper,
    load_run,
    monotonic,
    save_run,
    sleeper,
    tuned_gc,
)
from backend.services.sync_import_files import (
    ExportTimeoutError,
    WatchTuning,
    export_prefixes,
    read_ahead,
    watch_export,
)
from backend.services.sync_import_rows import ChunkImporter

T = TypeVar("T")


@dataclass(frozen=True)
class ImportTuning:
    """Engine knobs; tests and benches put their own in ``deps.extras["sync_import_tuning"]``."""

    chunk_rows: int = 1000
    watch: WatchTuning = field(default_factory=WatchTuning)
    retries: int = 5  # per S3/Braze call that fails with a RetryableError
    # The callback endpoint's base URL; default: OPTLINE_PUBLIC_URL's when it is a public https one.
    callback_url: str | None = None


def list_braze_segments(deps: Deps, braze_connection_code: str) -> list[dict[str, Any]]:
    """Every segment of the workspace, for the import goal's segment picker."""
    with deps.session() as session:
        connection_id = session.scalar(
            select(BrazeConnection.id).where(BrazeConnection.code == braze_connection_code)
        )
        if connection_id is None:
            raise NotFoundError(f"no Braze connection {braze_connection_code!r}")
        client = deps.braze_factory(session, connection_id)
    return [
        {"id": s.get("id"), "name": s.get("name"), "tags": s.get("tags") or []}
        for s in client.iter_segments()
    ]


def _retrying(deps: Deps, tuning: ImportTuning, call: Callable[[], T]) -> T:
    sleep, attempt = sleeper(deps), 0
    while True:
        try:
            return call()
        except RetryableError as exc:
            attempt += 1
            if attempt > tuning.retries:
                raise SyncRunFailedError(f"gave up after {tuning.retries} retries: {exc}") from exc
            sleep(exc.retry_after if exc.retry_after is not None else min(2.0**attempt, 60.0))


class _ImportRun:
    def __init__(self, deps: Deps, run_id: int) -> None:
        self.deps, self.run_id = deps, run_id
        found = deps.extras.get("sync_import_tuning")
        self.tuning: ImportTuning = found if isinstance(found, ImportTuning) else ImportTuning()
        with deps.session() as session:
            self.info = load_run(session, run_id, "import")
            goal = session.get(ImportGoal, self.info.goal_id)
            if goal is None:
                raise NotFoundError(f"import goal {self.info.goal_id} does not exist")
            self.plan: ImportPlan = plan_import(
                goal.identifiers, goal.mappings, goal.remaining_fields,
                allow_create=goal.allow_create,
            )  # fmt: skip
            self.goal_id, self.segment_id = goal.id, goal.braze_segment_id
            self.store = deps.object_store_factory(session, self.info.braze_connection_id)
            self.client = deps.braze_factory(session, self.info.braze_connection_id)
        self.counts = dict(self.info.counts)
        self.checkpoint = dict(self.info.checkpoint)
        self.checkpoint.setdefault("files_done", [])
        self.samples: list[dict[str, Any]] = list(self.info.checkpoint.get("samples") or [])
        self.requests: list[dict[str, Any]] = []

    def _save(self, session: Any, progress: dict[str, Any] | None = None) -> None:
        # Braze's callback may have marked the run meanwhile: keep that mark, don't overwrite it.
        stored = session.scalar(
            select(SyncRun.checkpoint).where(SyncRun.id == self.run_id).with_for_update()
        )
        if (stored or {}).get("callback_received"):
            self.checkpoint["callback_received"] = True
        checkpoint = dict(self.checkpoint)
        if self.info.dry_run:
            checkpoint["samples"] = self.samples
        save_run(
            session, self.run_id, self.deps.clock(),
            counts=self.counts, checkpoint=checkpoint, progress=progress,
        )  # fmt: skip

    def start_export(self) -> None:
        if self.checkpoint.get("object_prefix"):
            return
        fields = self.plan.fields_to_export
        custom = self.plan.custom_attributes_to_export or None
        callback = callback_for_run(self.deps, self.run_id, self.tuning.callback_url)
        prefix = _retrying(
            self.deps,
            self.tuning,
            lambda: self.client.users_export_segment(
                self.segment_id, fields, custom_attributes_to_export=custom,
                callback_endpoint=callback, output_format="gzip",
            ),
        )  # fmt: skip
        body = {"segment_id": self.segment_id, "fields_to_export": fields,
                "custom_attributes_to_export": custom, "callback_endpoint": callback,
                "output_format": "gzip"}  # fmt: skip
        self.requests.append({"method": "POST", "path": "/users/export/segment", "body": body})
        self.checkpoint.update(
            object_prefix=prefix, requested_at=self.deps.clock().timestamp(), file=None, line=0
        )
        with self.deps.session() as session:
            self._save(session, {"phase": "waiting for files", "object_prefix": prefix})

    def _callback_received(self) -> bool:
        with self.deps.session() as session:
            checkpoint = session.scalar(select(SyncRun.checkpoint).where(SyncRun.id == self.run_id))
        return bool((checkpoint or {}).get("callback_received"))

    def files(self) -> Iterator[str]:
        prefix, requested_at = self.checkpoint["object_prefix"], self.checkpoint["requested_at"]

        def prefixes() -> list[str]:
            now = self.deps.clock().timestamp()
            root = self.info.s3_prefix
            return export_prefixes(root, self.segment_id, prefix, requested_at, now)

        store = self.store
        listing = SimpleNamespace(
            list=lambda key_prefix: _retrying(
                self.deps, self.tuning, lambda: store.list(key_prefix)
            )
        )
        return watch_export(
            listing, prefixes, set(self.checkpoint["files_done"]), self.tuning.watch,
            clock=monotonic(self.deps), sleep=beating_sleeper(self.deps, self.run_id),
            callback_received=self._callback_received,
        )  # fmt: skip

    def import_file(self, key: str) -> None:
        """Stream one file in chunks; on a dropped connection, reopen after the committed line."""
        attempt = 0
        while True:
            try:
                self._import_lines(key)
                return
            except RetryableError as exc:
                attempt += 1
                if attempt > self.tuning.retries:
                    raise SyncRunFailedError(f"could not read {key}: {exc}") from exc
                sleeper(self.deps)(min(2.0**attempt, 60.0))

    def _import_lines(self, key: str) -> None:
        skip = int(self.checkpoint.get("line") or 0) if self.checkpoint.get("file") == key else 0
        with closing(read_ahead(self._parsed_chunks(key, skip))) as chunks:
            for chunk, line, done in chunks:
                self._commit(key, chunk, line, done=done)

    def _parsed_chunks(self, key: str, skip: int) -> Iterator[tuple[ParsedRows, int, bool]]:
        """(chunk, its last line, last of the file?) after line ``skip``: on the read-ahead
        thread, so nothing here touches the database."""
        name, size = key.rsplit("/", 1)[-1], self.tuning.chunk_rows
        chunk: list[tuple[str, bytes]] = []
        number = 0
        for number, line in enumerate(self.store.iter_lines(key), start=1):
            if number <= skip or not line.strip():
                continue
            chunk.append((f"{name}:{number}", line))
            if len(chunk) >= size:
                yield parse_rows(self.plan, chunk), number, False
                chunk = []
        yield parse_rows(self.plan, chunk), number, True

    def _commit(self, key: str, chunk: ParsedRows, line: int, *, done: bool) -> None:
        with self.deps.session() as session:
            importer = ChunkImporter(
                session,
                self.goal_id,
                self.plan,
                self.deps.clock(),
                self.info.dry_run,
                suppressed=suppression_check(self.deps, session),
            )
            importer.samples_left = PREVIEW_SAMPLES - len(self.samples)
            outcome = importer.apply(chunk)
            for name, n in outcome.counts.items():
                self.counts[name] = self.counts.get(name, 0) + n
            self.samples.extend(outcome.samples)
            add_run_errors(session, self.run_id, outcome.errors)
            if done:
                self.checkpoint["files_done"] = [*self.checkpoint["files_done"], key]
                self.checkpoint.update(file=None, line=0)
            else:
                self.checkpoint.update(file=key, line=line)
            self._save(
                session,
                {"phase": "reading files", "files_done": len(self.checkpoint["files_done"])},
            )

    def finish(self) -> None:
        with self.deps.session() as session:
            self._save(session, {"phase": "done", "files_done": len(self.checkpoint["files_done"])})
            if self.info.dry_run:
                save_run(
                    session, self.run_id, self.deps.clock(),
                    preview={"samples": self.samples[:PREVIEW_SAMPLES], "requests": self.requests,
                             "files": len(self.checkpoint["files_done"])},
                )  # fmt: skip


def run_import(deps: Deps, run_id: int) -> None:
    """Run (or resume) one import run; the frame sets its status around this call."""
    with tuned_gc():
        _run_import(deps, run_id)


def _run_import(deps: Deps, run_id: int) -> None:
    run = _ImportRun(deps, run_id)
    run.start_export()
    partial = run.checkpoint.get("file")
    if partial:  # finish the file a crash interrupted first, so its line count still applies
        run.import_file(partial)
    try:
        for key in run.files():
            run.import_file(key)
    except ExportTimeoutError as exc:
        prefix = run.checkpoint["object_prefix"]
        raise SyncRunFailedError(f"Braze segment export {prefix}: {exc}") from exc
    run.finish()
