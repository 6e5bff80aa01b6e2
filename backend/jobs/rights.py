"""RQ jobs of rights requests: run one request, and the periodic sweep."""

from __future__ import annotations

from backend.jobs.runtime import get_deps
from backend.services.rights import process_request, sweep


def process_rights_request_job(request_id: int) -> None:
    """Access or erasure; a RetryableError propagates so RQ retries the job later."""
    process_request(get_deps(), request_id)


def sweep_rights_requests_job() -> None:
    """Re-enqueue requests stuck open for more than ten minutes; drop expired downloads."""
    sweep(get_deps())
