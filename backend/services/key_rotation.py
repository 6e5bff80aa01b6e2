"""Re-encrypts every stored secret with the newest encryption key after a key rotation."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from backend.db.models import (
    Base,
    BrazeConnection,
    InstallationSecret,
    RightsRequest,
    SigningKey,
)
from backend.services.deps import Deps

# Every column that holds ciphertext, by model.
ENCRYPTED_COLUMNS: tuple[tuple[type[Base], tuple[str, ...]], ...] = (
    (BrazeConnection, ("api_key_encrypted", "s3_secret_access_key_encrypted")),
    (SigningKey, ("secret_encrypted",)),
    (InstallationSecret, ("value_encrypted",)),
    (RightsRequest, ("download_token_encrypted",)),
)


@dataclass(frozen=True)
class RotationReport:
    rotated: int


def rotate_encryption(deps: Deps) -> RotationReport:
    """Decrypt with any configured key and encrypt with the first one, in one transaction."""
    rotated = 0
    with deps.session() as session:
        for model, columns in ENCRYPTED_COLUMNS:
            rows: list[Base] = list(session.scalars(select(model)))
            for row in rows:
                for column in columns:
                    value = getattr(row, column)
                    if value:
                        setattr(row, column, deps.secrets.rotate(value))
                        rotated += 1
    return RotationReport(rotated=rotated)
