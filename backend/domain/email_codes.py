"""Rules of the email one-time code: what a request may say, and the code's life."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from backend.domain.errors import FieldError, ValidationError
from backend.domain.preferences import parse_bootstrap

CODE_DIGITS = 6
CODE_TTL_SECONDS = 600
MAX_TRIES = 5
RESEND_COOLDOWN_SECONDS = 60
SESSION_TTL_SECONDS = 900
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
CODE_RE = re.compile(r"^[0-9]{6}$")


@dataclass(frozen=True)
class CodeRequest:
    property: str
    email: str
    language: str | None


@dataclass(frozen=True)
class VerifyRequest:
    property: str
    email: str
    code: str


def normalise_email(value: Any, path: str = "email") -> str:
    if not isinstance(value, str):
        raise ValidationError(FieldError(path, "must be an email address"))
    email = value.strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise ValidationError(FieldError(path, "must be an email address"))
    return email


def parse_code_request(body: Any) -> CodeRequest:
    base = parse_bootstrap(body)
    return CodeRequest(base.property, normalise_email(body.get("email")), base.language)


def parse_verify_request(body: Any) -> VerifyRequest:
    base = parse_bootstrap(body)
    code = body.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = f"{code:06d}"
    if not isinstance(code, str) or not CODE_RE.match(code.strip()):
        raise ValidationError(FieldError("code", f"must be the {CODE_DIGITS}-digit code"))
    return VerifyRequest(base.property, normalise_email(body.get("email")), code.strip())
