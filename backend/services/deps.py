"""The dependencies every service takes, built once per process by ``backend.wiring``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from backend.integrations.braze import BrazeClient
    from backend.integrations.secret_box import SecretBox
    from backend.settings import Settings


@dataclass
class Deps:
    settings: Settings
    sessions: sessionmaker[Session]
    secrets: SecretBox
    clock: Callable[[], datetime]
    # Builds the Braze client of a connection (real, sandbox or test double).
    braze_factory: Callable[[Session, int], BrazeClient]
    jobs: Any = None
    redis: Any = None
    mailer: Any = None
    object_store_factory: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: closed without a commit (nothing to commit, and on the
        hot paths the reads usually come from a cache, so no transaction is even begun)."""
        session = self.sessions()
        try:
            yield session
        finally:
            session.close()
