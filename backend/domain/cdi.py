"""Export objects as Braze Cloud Data Ingestion rows (file storage sources).

Braze's CDI file format (braze-docs, cloud_ingestion/file_storage_integrations.md): one JSON
object per line with exactly one user identifier — ``external_id``, ``email``, ``phone``,
``braze_id`` (existing users only) or ``alias_name`` + ``alias_label`` — and ``payload``: the
attributes as a JSON *string*. ``UPDATED_AT`` is neither required nor supported for files.
A null in the payload removes the attribute, as on /users/track.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from backend.domain.export_delta import UPDATE_ONLY

IDENTIFIER_KEYS = ("external_id", "email", "phone", "braze_id")
PART_SIZE = 50_000  # rows per file; CDI takes files up to 512 MB and prefers smaller ones


def cdi_row(obj: Mapping[str, Any]) -> dict[str, Any]:
    """One /users/track attributes object as a CDI row."""
    row: dict[str, Any] = {}
    payload = dict(obj)
    payload.pop(UPDATE_ONLY, None)
    for key in IDENTIFIER_KEYS:
        if key in payload:
            row[key] = payload.pop(key)
            break
    alias = payload.pop("user_alias", None)
    if not row and isinstance(alias, Mapping):
        row["alias_name"], row["alias_label"] = alias["alias_name"], alias["alias_label"]
    if not row:
        raise ValueError("a CDI row needs one user identifier")
    row["payload"] = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return row


def cdi_line(obj: Mapping[str, Any]) -> bytes:
    return (json.dumps(cdi_row(obj), separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def cdi_part_key(prefix: str, goal_code: str, run_id: int, part: int) -> str:
    """``<prefix>cdi/<goal>/<run_id>/part-NNNN.ndjson.gz``; a resumed run rewrites a part whole."""
    return f"{prefix}cdi/{goal_code}/{run_id}/part-{part:04d}.ndjson.gz"
