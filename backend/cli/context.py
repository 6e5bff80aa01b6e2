"""Builds settings and deps for a command, once per invocation."""

from __future__ import annotations

from backend.services.deps import Deps
from backend.settings import Settings


def command_deps(*, with_redis: bool = False) -> Deps:
    from backend.wiring import build_deps

    settings = Settings.from_env()
    deps = build_deps(settings)
    if not with_redis:
        return deps
    return deps
