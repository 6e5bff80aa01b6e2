import pytest

from backend.integrations.secret_box import SecretBox, SecretDecryptError


def test_round_trip_and_ciphertext_hides_the_plaintext() -> None:
    box = SecretBox("passphrase")
    token = box.encrypt("braze-api-key-123")
    assert "braze-api-key-123" not in token
    assert box.decrypt(token) == "braze-api-key-123"


def test_rotation_old_key_still_decrypts_new_key_encrypts() -> None:
    old = SecretBox("old-key")
    stored = old.encrypt("s3cret")
    rotated_box = SecretBox("new-key,old-key")
    assert rotated_box.decrypt(stored) == "s3cret"
    rotated = rotated_box.rotate(stored)
    assert SecretBox("new-key").decrypt(rotated) == "s3cret"
    with pytest.raises(SecretDecryptError):
        SecretBox("new-key").decrypt(stored)


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError):
        SecretBox(" , ")
