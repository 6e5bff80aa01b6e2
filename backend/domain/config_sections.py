"""Every section module, imported so each registers itself; a new kind of object adds one here."""

from __future__ import annotations

from types import ModuleType

from backend.domain import (
    config_connections,
    config_properties,
    config_segments,
    config_subscriptions,
    config_sync_connections,
)

SECTION_MODULES: tuple[ModuleType, ...] = (
    config_connections,
    config_subscriptions,
    config_properties,
    config_segments,
    config_sync_connections,
)
