"""Rights request rules: what a request may say, its views, its bucket, its document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.domain import rights
from backend.domain.errors import ValidationError
from backend.domain.rate_budget import bucket_spec

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_admin_requests_name_exactly_one_person() -> None:
    assert rights.parse_admin_request({"type": "access", "external_id": " u1 "}) == (
        rights.AdminRequest("access", "u1", None)
    )
    assert rights.parse_admin_request({"type": "erasure", "email": " A@Example.COM "}) == (
        rights.AdminRequest("erasure", None, "a@example.com")
    )


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"type": "access"}, "external_id"),
        ({"type": "access", "external_id": "u", "email": "a@b.co"}, "external_id"),
        ({"type": "export", "external_id": "u"}, "type"),
        ({"type": "access", "external_id": 5}, "external_id"),
        ({"type": "access", "external_id": "   "}, "external_id"),
        ({"type": "access", "external_id": "u" * 256}, "external_id"),
        ({"type": "access", "email": "nope"}, "email"),
        ({"type": "access", "external_id": "u", "confirm": True}, "confirm"),
        ([], ""),
    ],
)
def test_bad_admin_requests_name_the_field(body: Any, path: str) -> None:
    with pytest.raises(ValidationError) as info:
        rights.parse_admin_request(body)
    assert info.value.errors[0].path == path


def test_visitor_erasure_needs_an_explicit_confirmation() -> None:
    assert rights.parse_visitor_request({"property": "p", "type": "access"}) == (
        rights.VisitorRequest("p", "access")
    )
    ok = rights.parse_visitor_request({"property": "p", "type": "erasure", "confirm": True})
    assert ok.type == "erasure"
    for body in (
        {"property": "p", "type": "erasure"},
        {"property": "p", "type": "erasure", "confirm": False},
        {"property": "p", "type": "erasure", "confirm": "true"},
    ):
        with pytest.raises(ValidationError) as info:
            rights.parse_visitor_request(body)
        assert info.value.errors[0].path == "confirm"
    with pytest.raises(ValidationError):
        rights.parse_visitor_request({"type": "access"})


def view(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "public_id": "rr_1",
        "type": "access",
        "status": "completed",
        "source": "api",
        "created_at": NOW,
        "updated_at": NOW,
        "completed_at": NOW,
        "error": None,
        "download_url": "https://x/rights/download/t",
        "download_expires_at": NOW + timedelta(days=7),
        "now": NOW,
    }
    fields.update(overrides)
    return rights.status_view(**fields)


def test_the_link_is_shown_only_while_it_works() -> None:
    assert view()["download_url"] == "https://x/rights/download/t"
    expired = view(now=NOW + timedelta(days=8))
    assert "download_url" not in expired and expired["download_expired"] is True
    assert "download_url" not in view(status="in_progress")
    assert "download_url" not in view(type="erasure", download_expires_at=None)
    assert view(status="failed", error="Braze said no")["error"] == "Braze said no"
    assert "error" not in view(error="stale")


def test_stuck_means_open_and_untouched_for_ten_minutes() -> None:
    old = NOW - timedelta(minutes=11)
    assert rights.is_stuck("received", old, NOW) and rights.is_stuck("in_progress", old, NOW)
    assert not rights.is_stuck("completed", old, NOW)
    assert not rights.is_stuck("received", NOW - timedelta(minutes=9), NOW)


def test_buckets_follow_the_rate_budget_math() -> None:
    ours = rights.bucket((3000, 3.0), 0.5)
    assert ours == bucket_spec("users_track", 0.5)
    export = rights.bucket(rights.EXPORT_IDS_LIMIT, 1.0)
    # Never more than 250 a minute: the burst plus a minute of refill.
    assert export.capacity + 60 * export.refill_per_second <= 250 + 1e-9


def test_chunks_are_at_most_fifty() -> None:
    assert [len(c) for c in rights.chunked(list(range(120)))] == [50, 50, 20]
    assert rights.chunked([]) == []


def test_tokens_are_stored_as_sha256() -> None:
    assert rights.token_hash("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_the_access_document_has_every_part_and_the_mail_the_link() -> None:
    doc = rights.access_document(
        request={"id": "rr_1"},
        generated_at=NOW,
        identifiers={"external_id": "u"},
        preferences=[],
        ledger=[{"id": 1}],
        profiles=[],
        rights_requests=[],
        braze={"m": {}},
    )
    assert doc["format"] == rights.DOCUMENT_FORMAT
    assert set(doc) >= {"preferences", "consent_ledger", "profiles", "braze", "identifiers"}
    subject, body = rights.access_mail("https://x/rights/download/t", NOW)
    assert "https://x/rights/download/t" in body and subject
    assert "campaigns_received" not in rights.ACCESS_EXPORT_FIELDS
