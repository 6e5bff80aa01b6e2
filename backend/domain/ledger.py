"""The consent ledger's hash chain: each entry's hash commits to its fields and to the entry before.

hash = SHA-256(prev_hash + "\\n" + canonical JSON of the fields). Ids are not hashed (the database
assigns them after the hash is known); order is carried by ``prev_hash`` alone, so an altered,
deleted, inserted or reordered entry breaks the chain at that point, and a deleted tail is caught
by comparing the chain's end with the ledger head.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class LedgerRecord:
    """The fields of one consent record (ISO/IEC TS 27560 in spirit)."""

    at: datetime
    subject_key: str
    subscription: str
    channel: str
    state: str
    source: str
    proof: str
    property: str | None = None
    origin: str | None = None
    language: str | None = None
    text_version: int | None = None
    user_agent: str | None = None


def canonical_time(value: datetime) -> str:
    """Microsecond UTC ISO time: what SQLite and PostgreSQL both store without loss."""
    if value.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


_FIELDS = tuple(f.name for f in fields(LedgerRecord))


def canonical_json(record: LedgerRecord) -> str:
    # Every field is a plain value, so a shallow dict is what ``asdict`` gave, without its
    # recursive copy (this runs for every appended and every verified entry).
    values = {name: getattr(record, name) for name in _FIELDS}
    values["at"] = canonical_time(record.at)
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(record: LedgerRecord, prev_hash: str) -> str:
    data = f"{prev_hash}\n{canonical_json(record)}".encode()
    return hashlib.sha256(data).hexdigest()


@dataclass
class ChainReport:
    ok: bool
    entries: int
    first_bad_id: int | None
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
        }


class ChainVerifier:
    """Fed entries in id order, one at a time, so verifying a huge ledger keeps memory flat."""

    def __init__(self) -> None:
        self.prev_hash = GENESIS_HASH
        self.last_id: int | None = None
        self.count = 0
        self.first_bad_id: int | None = None
        self.reason: str | None = None

    def feed(self, entry_id: int, record: LedgerRecord, prev_hash: str, stored_hash: str) -> None:
        self.count += 1
        if self.first_bad_id is None:
            if prev_hash != self.prev_hash:
                self._bad(entry_id, "prev_hash does not match the entry before")
            elif chain_hash(record, prev_hash) != stored_hash:
                self._bad(entry_id, "hash does not match the entry's fields")
        # Follow the stored chain so one bad entry is reported once, not again for every later one.
        self.prev_hash = stored_hash
        self.last_id = entry_id

    def _bad(self, entry_id: int, reason: str) -> None:
        self.first_bad_id = entry_id
        self.reason = reason

    def finish(self, head_hash: str | None, head_entry_id: int | None) -> ChainReport:
        """Compare the chain's end with the head row (no head: an empty ledger)."""
        if self.first_bad_id is None:
            expected_hash = head_hash if head_hash is not None else GENESIS_HASH
            expected_id = head_entry_id or None
            if self.prev_hash != expected_hash or self.last_id != expected_id:
                self.first_bad_id = expected_id or self.last_id
                self.reason = "the chain does not end at the ledger head (entries deleted?)"
        return ChainReport(
            ok=self.first_bad_id is None,
            entries=self.count,
            first_bad_id=self.first_bad_id,
            reason=self.reason,
        )
