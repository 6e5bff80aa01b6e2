from pathlib import Path

import pytest

from backend.domain.errors import ValidationError
from backend.settings import Settings


def test_development_generates_keys_once_into_the_instance(tmp_path: Path) -> None:
    env = {"OPTLINE_INSTANCE_PATH": str(tmp_path / "inst")}
    first = Settings.from_env(env)
    second = Settings.from_env(env)
    assert first.secret_key and first.encryption_key
    assert first.secret_key == second.secret_key
    assert first.encryption_key == second.encryption_key
    assert first.database_url == f"sqlite:///{tmp_path / 'inst' / 'optline.db'}"
    assert (tmp_path / "inst" / "secret_key").stat().st_mode & 0o077 == 0


def test_production_requires_keys_and_services(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings.from_env({"OPTLINE_ENV": "production", "OPTLINE_INSTANCE_PATH": str(tmp_path)})
    message = str(exc.value)
    for name in ("SECRET_KEY", "ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL"):
        assert f"OPTLINE_{name}" in message


def test_bad_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings.from_env(
            {
                "OPTLINE_INSTANCE_PATH": str(tmp_path),
                "OPTLINE_PORT": "eighty",
                "OPTLINE_ALLOW_CUSTOM_BRAZE_ENDPOINTS": "maybe",
            }
        )
    assert "OPTLINE_PORT" in str(exc.value)
    assert "OPTLINE_ALLOW_CUSTOM_BRAZE_ENDPOINTS" in str(exc.value)


def test_public_url_loses_its_trailing_slash(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"OPTLINE_INSTANCE_PATH": str(tmp_path), "OPTLINE_PUBLIC_URL": "https://prefs.example.com/"}
    )
    assert settings.public_url == "https://prefs.example.com"


def test_public_url_follows_the_port_when_unset(tmp_path: Path) -> None:
    default = Settings.from_env({"OPTLINE_INSTANCE_PATH": str(tmp_path)})
    assert default.public_url == "http://127.0.0.1:8000"
    moved = Settings.from_env({"OPTLINE_INSTANCE_PATH": str(tmp_path), "OPTLINE_PORT": "8765"})
    assert moved.public_url == "http://127.0.0.1:8765"


def test_trusted_proxies_make_rate_limits_see_the_client(tmp_path: Path) -> None:
    from flask import request

    from backend.app import create_app
    from backend.wiring import build_deps
    from tests.fakes.jobs import RecordingJobQueue

    settings = Settings.from_env(
        {"OPTLINE_INSTANCE_PATH": str(tmp_path), "OPTLINE_TRUSTED_PROXIES": "1"}
    )
    app = create_app(settings, build_deps(settings, jobs=RecordingJobQueue()))
    seen: list[str] = []
    app.add_url_rule("/whoami-ip", "whoami_ip", lambda: seen.append(request.remote_addr) or "")
    app.test_client().get(
        "/whoami-ip",
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert seen == ["203.0.113.9"]
