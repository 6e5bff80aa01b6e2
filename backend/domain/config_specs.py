"""The desired state of each configuration object, as frozen values that compare field by field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A secret written as this value means "keep the stored secret" (what ``config export`` prints).
REDACTED = "<redacted>"
# Stands for a stored secret that the configured keys cannot decrypt: equal to nothing a file says.
UNREADABLE = "\x00unreadable-secret\x00"

CODE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
CODE_HINT = "lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 64"
IDENTITIES = ("external_id", "email")
CHANNELS = ("email", "sms", "push", "whatsapp")
CAPTURE_SOURCES = ("queue", "cookie", "window", "data_layer", "local_storage", "query")
SIGNING_ALGORITHMS = ("HS256", "ES256", "RS256")
# HS256 is only as strong as its secret; RFC 7518 §3.2 asks for a key as long as the hash.
MIN_HS256_SECRET = 32
MIN_TOKEN_TTL, MAX_TOKEN_TTL = 60, 3600


@dataclass(frozen=True)
class S3Spec:
    """Where Braze writes segment exports; also the transport of profile-sync imports."""

    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


@dataclass(frozen=True)
class BrazeConnectionSpec:
    code: str
    name: str
    rest_endpoint: str
    api_key: str
    identity: str = "external_id"
    sandbox: bool = False
    create_missing_users: bool = True
    budget_share: float = 0.8
    s3: S3Spec | None = None


@dataclass(frozen=True)
class SigningKeySpec:
    """An HS256 secret or an ES256/RS256 public key (PEM) that verifies visitor tokens."""

    kid: str
    algorithm: str = "HS256"
    secret: str | None = None
    public_key: str | None = None


@dataclass(frozen=True)
class CaptureSpec:
    """One place the tag looks for the identity token; ``queue`` needs no key."""

    source: str
    key: str | None = None


@dataclass(frozen=True)
class PropertySpec:
    code: str
    name: str
    allowed_origins: tuple[str, ...] = ()
    signing_keys: tuple[SigningKeySpec, ...] = ()
    identity_capture: tuple[CaptureSpec, ...] = (CaptureSpec("queue"),)
    email_verification: bool = False
    languages: tuple[str, ...] = ("en",)
    # Subscription codes shown; None shows every subscription.
    subscriptions: tuple[str, ...] | None = None
    theme: dict[str, str] = field(default_factory=dict)
    token_max_ttl: int = MAX_TOKEN_TTL


@dataclass(frozen=True)
class ChannelSpec:
    channel: str
    connection: str
    subscription_group_id: str


@dataclass(frozen=True)
class SubscriptionSpec:
    code: str
    # Language → text; always has "en".
    name: dict[str, str]
    description: dict[str, str] = field(default_factory=dict)
    position: int = 0
    channels: tuple[ChannelSpec, ...] = ()
