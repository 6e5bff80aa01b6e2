"""A scripted stand-in for the widget API, for widget-only behaviour (Playwright routing).

The end-to-end tests use the real API; these mocks pin what the tag itself does: which token it
sends, when it calls, what it does with answers the real server rarely gives (pending, down).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Page, Route

from backend.domain.texts import texts_for


def topics(
    states: dict[tuple[str, str], tuple[str, str | None]] | None = None,
) -> list[dict[str, Any]]:
    """Newsletter (email, sms) and Offers (email, push); ``states`` overrides (state, sync)."""
    states = states or {}
    layout = {
        "newsletter": ("Newsletter", ["email", "sms"]),
        "offers": ("Offers", ["email", "push"]),
    }
    labels = {"email": "Email", "sms": "SMS", "push": "Push"}
    result = []
    for code, (name, channels) in layout.items():
        result.append(
            {
                "code": code,
                "name": name,
                "description": f"{name} description",
                "channels": [
                    {
                        "channel": ch,
                        "label": labels[ch],
                        "state": states.get((code, ch), ("unsubscribed", None))[0],
                        "sync_status": states.get((code, ch), ("unsubscribed", None))[1],
                    }
                    for ch in channels
                ],
            }
        )
    return result


def bootstrap_body(language: str = "en", **kwargs: Any) -> dict[str, Any]:
    return {
        "property": "acme-web",
        "language": language,
        "languages": ["en", "es"],
        "texts": texts_for(language),
        "topics": topics(kwargs.get("states")),
        "unsubscribed_all": kwargs.get("unsubscribed_all", False),
        "visitor": {"email_masked": "v***@example.com"},
        "features": {"email_verification": True},
    }


@dataclass
class MockApi:
    """Answers POST /api/public/v1/<path> with the scripted handler; records every call."""

    origin: str
    handlers: dict[str, Callable[[dict[str, Any], dict[str, str]], tuple[int, dict[str, Any]]]] = (
        field(default_factory=dict)
    )
    calls: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    def install(self, page: Page, api_url: str) -> None:
        page.route(f"{api_url}/api/public/v1/**", self._handle)

    def calls_to(self, path: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
        return [(body, headers) for p, body, headers in self.calls if p == path]

    def _handle(self, route: Route) -> None:
        request = route.request
        cors = {
            "Access-Control-Allow-Origin": self.origin,
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Allow-Methods": "POST",
        }
        if request.method == "OPTIONS":
            route.fulfill(status=204, headers=cors)
            return
        path = request.url.split("/api/public/v1/", 1)[1].removeprefix("acme-web/")
        body = json.loads(request.post_data or "{}")
        headers = request.headers
        self.calls.append((path, body, headers))
        handler = self.handlers.get(path)
        if handler is None:
            route.fulfill(
                status=404, headers=cors, json={"error": {"code": "not_found", "message": path}}
            )
            return
        status, payload = handler(body, headers)
        route.fulfill(status=status, headers=cors, json=payload)
