"""The ledger's hash chain catches an altered, deleted, inserted or reordered entry."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from backend.domain.ledger import (
    GENESIS_HASH,
    ChainVerifier,
    LedgerRecord,
    canonical_json,
    chain_hash,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def record(n: int) -> LedgerRecord:
    return LedgerRecord(
        at=T0 + timedelta(seconds=n),
        subject_key=f"subject-{n % 3}",
        subscription="newsletter",
        channel="email",
        state="subscribed" if n % 2 else "unsubscribed",
        source="widget",
        proof="token:k1",
        property="acme-web",
        origin="https://www.acme.com",
        language="es",
        text_version=2,
        user_agent="Mozilla/5.0",
    )


def build(count: int) -> list[tuple[int, LedgerRecord, str, str]]:
    """(id, record, prev_hash, hash) as the ledger stores them."""
    rows, prev = [], GENESIS_HASH
    for n in range(1, count + 1):
        digest = chain_hash(record(n), prev)
        rows.append((n, record(n), prev, digest))
        prev = digest
    return rows


def verify(rows: list[tuple[int, LedgerRecord, str, str]], head: tuple[str, int] | None = None):
    verifier = ChainVerifier()
    for entry_id, rec, prev, digest in rows:
        verifier.feed(entry_id, rec, prev, digest)
    if head is None:
        head = (rows[-1][3], rows[-1][0]) if rows else (GENESIS_HASH, 0)
    return verifier.finish(*head)


def test_an_intact_chain_verifies() -> None:
    rows = build(10)
    report = verify(rows)
    assert report.ok and report.entries == 10 and report.first_bad_id is None


def test_an_empty_ledger_verifies() -> None:
    assert verify([], (GENESIS_HASH, 0)).ok
    assert ChainVerifier().finish(None, None).ok


def test_hash_depends_on_every_field_and_on_the_previous_hash() -> None:
    base = record(1)
    digest = chain_hash(base, GENESIS_HASH)
    assert len(digest) == 64
    assert chain_hash(base, "1" * 64) != digest
    for change in (
        {"state": "subscribed" if base.state == "unsubscribed" else "unsubscribed"},
        {"at": base.at + timedelta(microseconds=1)},
        {"proof": "email_code"},
        {"origin": None},
        {"text_version": 3},
    ):
        assert chain_hash(replace(base, **change), GENESIS_HASH) != digest


def test_canonical_json_is_stable_and_timezone_independent() -> None:
    base = record(1)
    other_zone = replace(base, at=base.at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")))
    assert canonical_json(base) == canonical_json(other_zone)
    assert '"at":"2026-01-02T03:04:06.123456+00:00"' in canonical_json(base)
    with pytest.raises(ValueError):
        canonical_json(replace(base, at=datetime(2026, 1, 1)))


def test_an_altered_entry_is_found() -> None:
    rows = build(10)
    entry_id, rec, prev, digest = rows[4]
    rows[4] = (
        entry_id,
        replace(rec, state="subscribed" if rec.state != "subscribed" else "x"),
        prev,
        digest,
    )
    report = verify(rows)
    assert not report.ok and report.first_bad_id == 5


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    rows = build(10)
    entry_id, rec, prev, _ = rows[4]
    forged = replace(rec, state="forged")
    rows[4] = (entry_id, forged, prev, chain_hash(forged, prev))
    report = verify(rows)
    assert not report.ok and report.first_bad_id == 6


def test_a_deleted_entry_is_found() -> None:
    rows = build(10)
    del rows[3]
    report = verify(rows, (build(10)[-1][3], 10))
    assert not report.ok and report.first_bad_id == 5


def test_a_deleted_tail_is_found_through_the_head() -> None:
    full = build(10)
    report = verify(full[:-2], (full[-1][3], 10))
    assert not report.ok and "head" in (report.reason or "")


def test_reordered_entries_are_found() -> None:
    rows = build(10)
    # Swap the contents of ids 3 and 4 (ids stay in order, the chain does not).
    (id3, *c3), (id4, *c4) = rows[2], rows[3]
    rows[2], rows[3] = (id3, *c4), (id4, *c3)
    report = verify(rows)
    assert not report.ok and report.first_bad_id == 3


def test_an_inserted_entry_is_found() -> None:
    rows = build(10)
    intruder = record(99)
    rows.insert(5, (55, intruder, rows[4][3], chain_hash(intruder, rows[4][3])))
    report = verify(rows, (build(10)[-1][3], 10))
    assert not report.ok and report.first_bad_id == 6
