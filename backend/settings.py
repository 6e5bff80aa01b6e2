"""Settings read once from the environment when the app or a worker starts, never at import."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from backend.domain.errors import ValidationError

PREFIX = "OPTLINE_"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    """Turn an environment word into a bool, refusing anything ambiguous."""
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError(f"{PREFIX}{name}: expected true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Typed settings; tests build one directly, processes call ``Settings.from_env``."""

    env: str = "development"
    instance_path: Path = field(default_factory=lambda: Path("instance").resolve())
    database_url: str = ""
    redis_url: str = ""
    secret_key: str = ""
    encryption_key: str = ""
    public_url: str = DEFAULT_PUBLIC_URL
    allow_custom_braze_endpoints: bool = False
    smtp_url: str = ""
    port: int = 8000
    log_level: str = "INFO"
    # How long a visitor token may live at most (PRODUCT 1.6: one hour, configurable lower).
    max_token_ttl: int = 3600
    # Reverse proxies in front of the web process whose X-Forwarded-* headers are trusted.
    trusted_proxies: int = 0

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def sqlite_default_url(self) -> str:
        return f"sqlite:///{self.instance_path / 'optline.db'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings; in development, generate missing keys into the instance folder."""
        env_map = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env_map.get(PREFIX + name)

        env = (get("ENV") or "development").strip().lower()
        problems: list[str] = []
        if env not in {"development", "production"}:
            problems.append(f"{PREFIX}ENV: expected development or production, got {env!r}")
        instance = Path(get("INSTANCE_PATH") or "instance").resolve()
        port_raw = get("PORT") or "8000"
        try:
            port = int(port_raw)
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            problems.append(f"{PREFIX}PORT: expected a port number, got {port_raw!r}")
            port = 8000
        ttl_raw = get("MAX_TOKEN_TTL") or "3600"
        try:
            max_ttl = int(ttl_raw)
            if not 60 <= max_ttl <= 3600:
                raise ValueError
        except ValueError:
            problems.append(f"{PREFIX}MAX_TOKEN_TTL: expected 60..3600 seconds, got {ttl_raw!r}")
            max_ttl = 3600
        proxies_raw = get("TRUSTED_PROXIES") or "0"
        try:
            trusted_proxies = int(proxies_raw)
            if not 0 <= trusted_proxies <= 5:
                raise ValueError
        except ValueError:
            problems.append(f"{PREFIX}TRUSTED_PROXIES: expected 0..5, got {proxies_raw!r}")
            trusted_proxies = 0
        try:
            allow_custom = parse_bool(
                "ALLOW_CUSTOM_BRAZE_ENDPOINTS", get("ALLOW_CUSTOM_BRAZE_ENDPOINTS"), False
            )
        except ValidationError as exc:
            problems.append(str(exc))
            allow_custom = False
        secret_key = get("SECRET_KEY") or ""
        encryption_key = get("ENCRYPTION_KEY") or ""
        if env == "production":
            if not secret_key:
                problems.append(f"{PREFIX}SECRET_KEY is required in production")
            if not encryption_key:
                problems.append(f"{PREFIX}ENCRYPTION_KEY is required in production")
            if not get("DATABASE_URL"):
                problems.append(f"{PREFIX}DATABASE_URL is required in production")
            if not get("REDIS_URL"):
                problems.append(f"{PREFIX}REDIS_URL is required in production")
        if problems:
            raise ValidationError("; ".join(problems))
        settings = cls(
            env=env,
            instance_path=instance,
            database_url=get("DATABASE_URL") or "",
            redis_url=get("REDIS_URL") or "",
            secret_key=secret_key,
            encryption_key=encryption_key,
            # Unset, it follows OPTLINE_PORT (http://127.0.0.1:8000 with the default port).
            public_url=(get("PUBLIC_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
            allow_custom_braze_endpoints=allow_custom,
            smtp_url=get("SMTP_URL") or "",
            port=port,
            log_level=(get("LOG_LEVEL") or "INFO").upper(),
            max_token_ttl=max_ttl,
            trusted_proxies=trusted_proxies,
        )
        return settings.with_dev_defaults()

    def with_dev_defaults(self) -> Settings:
        """Fill the database URL and, in development, keys generated once into the instance."""
        changes: dict[str, object] = {}
        if not self.database_url:
            self.instance_path.mkdir(parents=True, exist_ok=True)
            changes["database_url"] = self.sqlite_default_url
        if not self.secret_key:
            changes["secret_key"] = self._instance_secret("secret_key")
        if not self.encryption_key:
            changes["encryption_key"] = self._instance_secret("encryption_key")
        return replace(self, **changes) if changes else self  # type: ignore[arg-type]

    def _instance_secret(self, name: str) -> str:
        self.instance_path.mkdir(parents=True, exist_ok=True)
        path = self.instance_path / name
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_urlsafe(32)
        path.write_text(value)
        path.chmod(0o600)
        return value
