"""The address Braze calls when a segment export is complete (``callback_endpoint``).

Braze cannot authenticate to us, so the URL carries its own proof: an HMAC of the run id under
a key only this installation has. A forged or altered call proves nothing and changes nothing;
a genuine one only ends the wait for more files (the run still reads every file it lists).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

PATH = "/api/sync/v1/export-ready"
_MESSAGE = "optline-export-ready:{run_id}"


def signature(key: bytes, run_id: int) -> str:
    return hmac.new(key, _MESSAGE.format(run_id=run_id).encode(), hashlib.sha256).hexdigest()


def is_valid(key: bytes, run_id: int, given: str) -> bool:
    return hmac.compare_digest(signature(key, run_id), given or "")


def callback_url(base: str, key: bytes, run_id: int) -> str:
    """``base`` is the public URL of the callback endpoint (no query)."""
    return f"{base}?{urlencode({'run': run_id, 'sig': signature(key, run_id)})}"


def reachable_by_braze(public_url: str) -> bool:
    """Only an https address can be a public one Braze calls; a dev or loopback URL never is."""
    host = public_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    local = host in ("localhost", "127.0.0.1", "::1", "[::1]") or host.endswith(".local")
    return public_url.startswith("https://") and not local
