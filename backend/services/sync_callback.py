"""Braze's ``callback_endpoint`` for segment exports: the URL we give, and the call we take."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from sqlalchemy import select

from backend.db.models import SyncRun
from backend.domain import export_callback
from backend.domain.errors import ForbiddenError, NotFoundError
from backend.services.deps import Deps

log = logging.getLogger(__name__)


def _key(deps: Deps) -> bytes:
    return hmac.new(
        deps.settings.secret_key.encode(), b"optline export callback v1", hashlib.sha256
    ).digest()


def callback_for_run(deps: Deps, run_id: int, override: str | None = None) -> str | None:
    """The signed callback URL for one import run; None when Braze could not reach us (the run
    then polls S3 only). ``override`` is a base URL tests and proxies may set."""
    base = override
    if base is None and export_callback.reachable_by_braze(deps.settings.public_url):
        base = deps.settings.public_url + export_callback.PATH
    return None if base is None else export_callback.callback_url(base, _key(deps), run_id)


def mark_export_ready(deps: Deps, run_id: int) -> None:
    """Braze's callback said the export is complete: the watcher stops after one more listing."""
    with deps.session() as session:
        run = session.scalar(select(SyncRun).where(SyncRun.id == run_id).with_for_update())
        if run is None:
            raise NotFoundError(f"sync run {run_id} does not exist")
        run.checkpoint = {**(run.checkpoint or {}), "callback_received": True}


def receive(deps: Deps, run: str | None, sig: str | None, body: Any) -> bool:
    """Braze says an export is complete. Returns whether the run was marked; raises
    ForbiddenError for a call whose signature does not prove it is ours."""
    run_id = int(run) if run and run.isdigit() and len(run) <= 18 else None
    if run_id is None or not export_callback.is_valid(_key(deps), run_id, sig or ""):
        raise ForbiddenError("this callback address is not one Optline gave out")
    if not (isinstance(body, dict) and body.get("success") is True):
        log.warning("braze export callback without success", extra={"run_id": run_id})
        return False
    mark_export_ready(deps, run_id)
    log.info("braze export callback received", extra={"run_id": run_id})
    return True
