"""``optline profiles import``: NDJSON streamed line by line, committed in batches.

Memory stays flat however long the file is: a batch of parsed lines, then nothing. A bad line
is reported (by line number and field) and counted; it never stops the import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from backend.domain.errors import ValidationError
from backend.domain.profiles import ProfileInput, parse_profile_line
from backend.services.deps import Deps
from backend.services.profiles import upsert_profiles

log = logging.getLogger(__name__)
DEFAULT_BATCH = 1000
PROGRESS_BYTES = 1 << 20

# (line number, "path: message") for each problem of a failed line.
ErrorSink = Callable[[int, str], None]
ProgressSink = Callable[[int], None]  # bytes consumed since the last call


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0

    @property
    def lines(self) -> int:
        return self.created + self.updated + self.unchanged + self.skipped + self.failed

    def text(self) -> str:
        skipped = f", {self.skipped} skipped (erased people)" if self.skipped else ""
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.failed} failed{skipped}"
        )


def _count(summary: ImportSummary, status: str) -> None:
    setattr(summary, status, getattr(summary, status) + 1)


def import_ndjson(
    deps: Deps,
    lines: Iterable[bytes],
    *,
    batch_size: int = DEFAULT_BATCH,
    on_error: ErrorSink | None = None,
    on_progress: ProgressSink | None = None,
) -> ImportSummary:
    """Apply every line; blank lines are skipped, bad ones reported through ``on_error``."""
    summary = ImportSummary()
    batch: list[tuple[int, ProfileInput]] = []
    pending_bytes = 0

    def report(number: int, message: str) -> None:
        if on_error is not None:
            on_error(number, message)

    def flush() -> None:
        nonlocal pending_bytes
        if batch:
            results = upsert_profiles(deps, [item for _, item in batch])
            for (number, _), result in zip(batch, results, strict=True):
                _count(summary, result.status)
                if result.status in ("failed", "skipped"):
                    report(number, result.error or result.status)
            batch.clear()
        if on_progress is not None and pending_bytes:
            on_progress(pending_bytes)
        pending_bytes = 0

    for number, raw in enumerate(lines, start=1):
        pending_bytes += len(raw)
        if not raw.strip():
            continue
        try:
            batch.append((number, parse_profile_line(raw)))
        except ValidationError as exc:
            summary.failed += 1
            for error in exc.errors:
                report(number, str(error))
        if len(batch) >= batch_size:
            flush()
        elif on_progress is not None and pending_bytes >= PROGRESS_BYTES:
            on_progress(pending_bytes)
            pending_bytes = 0
    flush()
    log.info(
        "profiles imported",
        extra={
            "created": summary.created,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "failed": summary.failed,
        },
    )
    return summary
