"""Encrypts stored secrets (Braze API keys, AWS secrets, signing secrets) with Fernet.

``OPTLINE_ENCRYPTION_KEY`` may hold several comma-separated keys: the first encrypts, all
decrypt, so keys can be rotated without downtime (``optline keys rotate`` re-encrypts).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def _fernet_for(key: str) -> Fernet:
    raw = key.strip()
    try:
        if len(base64.urlsafe_b64decode(raw.encode())) == 32:
            return Fernet(raw.encode())
    except (ValueError, TypeError):
        pass
    # Any other passphrase is stretched to a Fernet key deterministically.
    digest = hashlib.sha256(b"optline-secret-box:" + raw.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class SecretDecryptError(Exception):
    """A stored secret could not be decrypted with any configured key."""


class SecretBox:
    def __init__(self, keys: str) -> None:
        parts = [k for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("an encryption key is required")
        self._fernet = MultiFernet([_fernet_for(k) for k in parts])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise SecretDecryptError(
                "stored secret cannot be decrypted with the configured keys"
            ) from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt with the first (newest) key."""
        return self._fernet.rotate(ciphertext.encode()).decode()
