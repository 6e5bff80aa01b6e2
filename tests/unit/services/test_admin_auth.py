import pytest
from sqlalchemy import text

from backend.domain.errors import AuthError, ConflictError, ValidationError
from backend.services.admin_auth import (
    authenticate_admin,
    create_admin_user,
    create_api_token,
    verify_api_token,
)
from backend.services.deps import Deps


def test_password_is_stored_hashed_and_checked(deps: Deps) -> None:
    create_admin_user(deps, "Ops@Example.com", "correct horse battery")
    with deps.session() as s:
        stored = s.execute(text("SELECT password_hash FROM admin_users")).scalar_one()
    assert "correct horse" not in stored
    assert authenticate_admin(deps, "ops@example.com", "correct horse battery") > 0
    with pytest.raises(AuthError):
        authenticate_admin(deps, "ops@example.com", "wrong password!!")
    with pytest.raises(AuthError):
        authenticate_admin(deps, "nobody@example.com", "correct horse battery")


def test_duplicate_user_and_short_password_are_refused(deps: Deps) -> None:
    create_admin_user(deps, "a@example.com", "long enough password")
    with pytest.raises(ConflictError):
        create_admin_user(deps, "A@example.com", "long enough password")
    with pytest.raises(ValidationError, match="password"):
        create_admin_user(deps, "b@example.com", "short")


def test_api_token_is_stored_as_a_hash_and_verifies(deps: Deps) -> None:
    token = create_api_token(deps, "ci")
    with deps.session() as s:
        rows = s.execute(text("SELECT token_hash, prefix FROM api_tokens")).all()
    assert len(rows) == 1
    assert token not in rows[0][0]
    assert token.startswith(rows[0][1])
    assert verify_api_token(deps, token) == "ci"
    with pytest.raises(AuthError):
        verify_api_token(deps, token + "x")
    with pytest.raises(AuthError):
        verify_api_token(deps, "not-a-token")
