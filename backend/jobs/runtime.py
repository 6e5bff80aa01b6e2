"""Deps for job processes: built once per process from the environment, rebuilt after a fork."""

from __future__ import annotations

import os

from backend.services.deps import Deps

_deps: Deps | None = None


def get_deps() -> Deps:
    global _deps
    if _deps is None:
        from backend.settings import Settings
        from backend.wiring import build_deps

        _deps = build_deps(Settings.from_env())
    return _deps


def set_deps(deps: Deps | None) -> None:
    """Tests and in-process workers install their own deps."""
    global _deps
    _deps = deps


def _after_fork_in_child() -> None:
    # A work horse must not share the parent's database connections or sockets.
    if _deps is not None:
        engine = _deps.sessions.kw.get("bind")
        if engine is not None:
            engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)
