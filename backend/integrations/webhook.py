"""POSTing a JSON notification to a webhook URL (run notifications), with a short timeout."""

from __future__ import annotations

from typing import Any

import requests

from backend.domain.errors import PermanentError, RetryableError

WEBHOOK_TIMEOUT_SECONDS = 5.0
USER_AGENT = "Optline-Webhook/1"


def post_json(
    url: str, payload: dict[str, Any], *, timeout: float = WEBHOOK_TIMEOUT_SECONDS
) -> int:
    """Send ``payload``; returns the status, raises RetryableError/PermanentError on failure.

    Redirects are not followed: a webhook that moved should be reconfigured, not chased.
    """
    try:
        response = requests.post(
            url,
            json=payload,
            timeout=timeout,
            allow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
    except requests.RequestException as exc:
        raise RetryableError(f"webhook unreachable ({type(exc).__name__})") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(
            f"webhook answered {response.status_code}", status=response.status_code
        )
    if response.status_code >= 300:
        raise PermanentError(
            f"webhook answered {response.status_code}", status=response.status_code
        )
    return response.status_code
