"""Segment exports for the Braze fake: files written to a real S3 bucket, the way Braze does.

Plugs into ``BrazeFake.on_segment_export``. For each accepted ``/users/export/segment`` it
writes the segment's export objects (what the fake recorded for that request) as gzip JSON
lines under ``<root>segment-export/<SEGMENT_ID>/<YYYY-MM-dd>/<object_prefix>/<random>.gz``,
about 5,000 users a file (braze_api.md §6), in a background thread so the HTTP answer is not
held up, optionally one file every ``delay`` seconds to exercise "read as they land". When the
request named a ``callback_endpoint``, Braze POSTs ``{"success": true}`` to it once every file is
written; ``deliver_callback`` does that (over HTTP by default). ::

    writer = SegmentExportWriter(fake, s3.client(), bucket, root="optline/", delay=0.3)
    writer.install()
"""

from __future__ import annotations

import copy
import gzip
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.braze_fake import BrazeFake

USERS_PER_FILE = 5000


def export_file_body(users: Iterable[dict[str, Any]]) -> bytes:
    """One export file: gzip'd JSON lines, one export object per line."""
    lines = "".join(json.dumps(u, separators=(",", ":")) + "\n" for u in users)
    return gzip.compress(lines.encode(), compresslevel=6)


def export_key(root: str, segment_id: str, object_prefix: str, when: datetime | None = None) -> str:
    day = (when or datetime.now(UTC)).strftime("%Y-%m-%d")
    return f"{root}segment-export/{segment_id}/{day}/{object_prefix}/{uuid.uuid4().hex}.gz"


@dataclass
class WrittenFile:
    key: str
    users: int
    at: float


@dataclass
class SegmentExportWriter:
    fake: BrazeFake
    s3: Any  # a boto3 S3 client
    bucket: str
    root: str = ""
    users_per_file: int = USERS_PER_FILE
    delay: float = 0.0  # seconds before each file
    first_delay: float = 0.0  # extra wait before the first file (Braze takes a while to start)
    stop_after: int | None = None  # write only this many files (an export that never finishes)
    clock: Callable[[], float] = time.monotonic
    # (url, JSON body) -> HTTP status; by default a real POST, as Braze makes it.
    deliver_callback: Callable[[str, dict[str, Any]], int] | None = None
    written: list[WrittenFile] = field(default_factory=list)
    callbacks: list[tuple[str, int]] = field(default_factory=list)  # url, status answered
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self) -> SegmentExportWriter:
        self.fake.on_segment_export = self
        return self

    def __call__(self, segment_id: str, object_prefix: str, body: dict[str, Any]) -> None:
        with self.fake.lock:
            export = self.fake.find_segment_export(object_prefix)
            users = copy.deepcopy(export["users"]) if export else []
        callback = body.get("callback_endpoint")
        thread = threading.Thread(
            target=self._write, args=(segment_id, object_prefix, users, callback), daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _write(
        self,
        segment_id: str,
        object_prefix: str,
        users: list[dict[str, Any]],
        callback: str | None = None,
    ) -> None:
        chunks = [
            users[i : i + self.users_per_file] for i in range(0, len(users), self.users_per_file)
        ]
        if self.stop_after is not None:
            chunks = chunks[: self.stop_after]
        time.sleep(self.first_delay)
        for chunk in chunks:
            time.sleep(self.delay)
            key = export_key(self.root, segment_id, object_prefix)
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=export_file_body(chunk))
            with self._lock:
                self.written.append(WrittenFile(key, len(chunk), self.clock()))
        if callback and self.stop_after is None:  # an export that never finishes never calls
            status = (self.deliver_callback or _post_json)(callback, {"success": True})
            with self._lock:
                self.callbacks.append((callback, status))

    def wait(self, timeout: float = 30.0) -> None:
        for thread in self._threads:
            thread.join(timeout)


def _post_json(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
