"""Watching the bucket for the files of one Braze segment export, as each one lands.

Braze writes ``segment-export/<segment_id>/<YYYY-MM-dd>/<object_prefix>/<random>.gz`` files of
≈5,000 users each, over minutes to hours (braze_api.md §6); the date is the day the export
finished, so every day from the request to today is listed. We poll with backoff (1 s, 2 s, 4 s …
capped), reset to the first step whenever a file appears, and stop when Braze's callback said the
export is complete or no new file appeared for a quiet period after at least one did. No file at
all, or no end, within the timeout fails the run with a message saying which.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class ListingStore(Protocol):
    def list(self, prefix: str) -> list[Any]: ...


@dataclass(frozen=True)
class WatchTuning:
    poll_first: float = 1.0
    poll_max: float = 30.0
    # Quiet period: without Braze's callback, the only end-of-export signal there is.
    quiet_period: float = 300.0
    timeout: float = 7200.0


def export_prefixes(
    root: str, segment_id: str, object_prefix: str, requested_at: float, now: float
) -> list[str]:
    """One key prefix per day from the request's (UTC) day to today."""
    first = datetime.fromtimestamp(requested_at, UTC).date() - timedelta(days=1)
    last = datetime.fromtimestamp(now, UTC).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [f"{root}segment-export/{segment_id}/{d:%Y-%m-%d}/{object_prefix}/" for d in days]


def is_data_file(key: str) -> bool:
    return key.endswith((".gz", ".json", ".txt")) and not key.endswith("/")


class ExportTimeoutError(Exception):
    """The export did not (completely) land in time; the message says what was seen."""


def watch_export(
    store: ListingStore,
    prefixes: Callable[[], list[str]],
    done: set[str],
    tuning: WatchTuning,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    callback_received: Callable[[], bool] = lambda: False,
) -> Iterator[str]:
    """Yield each new file key once, in key order per listing, until the export is complete.

    The consumer processes a key before asking for the next, so the quiet period counts from
    the end of the last file's processing, never from its discovery.
    """
    seen = set(done)
    started = clock()
    last_new: float | None = started if done else None
    delay = tuning.poll_first
    while True:
        fresh = sorted(
            {
                item.key
                for prefix in prefixes()
                for item in store.list(prefix)
                if is_data_file(item.key) and item.key not in seen
            }
        )
        if fresh:
            for key in fresh:
                seen.add(key)
                yield key
            last_new, delay = clock(), tuning.poll_first
            continue
        now = clock()
        if seen and callback_received():
            return
        if last_new is not None and now - last_new >= tuning.quiet_period:
            return
        if now - started >= tuning.timeout:
            if not seen:
                raise ExportTimeoutError(
                    f"no export file appeared within {tuning.timeout:g}s under {prefixes()[-1]}"
                )
            raise ExportTimeoutError(
                f"the export did not finish within {tuning.timeout:g}s "
                f"({len(seen)} files read, the last {now - (last_new or started):.0f}s ago)"
            )
        wait = min(delay, tuning.poll_max, max(0.0, started + tuning.timeout - now))
        if last_new is not None:
            wait = min(wait, max(0.0, last_new + tuning.quiet_period - now))
        sleep(max(wait, 0.01))
        delay = min(delay * 2, tuning.poll_max)


def read_ahead(source: Iterator[T], *, depth: int = 1) -> Generator[T, None, None]:
    """``source``'s items, produced on a thread of their own up to ``depth`` items ahead.

    The import reads, gunzips and parses the next chunk there while this thread writes the
    last one (SQLite works without the GIL). Whatever ``source`` raises is raised here after the
    items it produced first; when the consumer stops early (close), the source stops at its next
    item. The source must not touch the database: only the consumer does.
    """
    items: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        ending: tuple[bool, Any] = (False, None)
        try:
            for item in source:
                if not hand_over((True, item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - raised in the consumer's thread instead
            ending = (False, exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        hand_over(ending)

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            is_item, value = items.get()
            if is_item:
                yield value
            elif value is None:
                return
            else:
                raise value
    finally:
        stop.set()
        thread.join(timeout=5.0)  # a read stuck in the network ends on its own; no data waits
