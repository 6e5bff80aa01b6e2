"""Widget API views: parse, call a service, answer. Every route also exists under
``/api/public/v1/<property>/…`` so browsers can preflight against one property."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask.typing import ResponseReturnValue

from backend.domain.email_codes import (
    RESEND_COOLDOWN_SECONDS,
    parse_code_request,
    parse_verify_request,
)
from backend.domain.errors import FieldError, ValidationError
from backend.domain.identity import TokenRejectedError
from backend.domain.preferences import parse_bootstrap, parse_save
from backend.services import email_codes, preferences
from backend.services.widget_identity import request_token
from backend.web import current_deps
from backend.web.errors import error_response
from backend.web.widget_api import bp
from backend.web.widget_api import limits as lim

INVALID_TOKEN = (
    "a valid identity token is required "  # noqa: S105 - a message, not a secret
    "(Authorization: Bearer <token>, or a token field in the body)"
)


def _body(property_code: str | None) -> dict[str, Any]:
    """The JSON object of the request; the property of the path fills in or must agree."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ValidationError("body: must be a JSON object")
    if property_code is not None:
        given = body.setdefault("property", property_code)
        if given != property_code:
            raise ValidationError(FieldError("property", "differs from the property in the path"))
    return body


def _token() -> str | None:
    """``Authorization: Bearer`` when sent, else the body's ``token`` (a CORS simple request)."""
    body = request.get_json(force=True, silent=True)
    return request_token(request.headers.get("Authorization"), body)


def _unauthorised(details: dict[str, Any] | None = None) -> Response:
    return error_response(
        401, "invalid_token", INVALID_TOKEN, details, headers={"WWW-Authenticate": "Bearer"}
    )


@bp.errorhandler(TokenRejectedError)
def _token_rejected(exc: TokenRejectedError) -> Response:
    return _unauthorised()


@bp.errorhandler(email_codes.EmailVerificationDisabledError)
def _codes_off(exc: email_codes.EmailVerificationDisabledError) -> Response:
    return error_response(403, "email_verification_disabled", str(exc))


@bp.errorhandler(email_codes.CooldownError)
def _cooldown(exc: email_codes.CooldownError) -> Response:
    return error_response(
        429,
        "cooldown",
        str(exc),
        {"retry_after": exc.retry_after},
        headers={"Retry-After": str(exc.retry_after)},
    )


@bp.errorhandler(email_codes.CodeRejectedError)
def _code_rejected(exc: email_codes.CodeRejectedError) -> Response:
    return error_response(400, exc.code, str(exc), {"tries_left": exc.tries_left})


@bp.post("/bootstrap")
@bp.post("/<property_code>/bootstrap")
def bootstrap(property_code: str | None = None) -> ResponseReturnValue:
    """Texts, topics × channels and the visitor's state; 401 carries the public texts."""
    limited = lim.widget_limits()
    if limited is not None:
        return limited
    req = parse_bootstrap(_body(property_code))
    result = preferences.bootstrap(current_deps(), _token(), req)
    if result.state is None:
        return _unauthorised(result.public)
    return jsonify({**result.public, **result.state})


@bp.post("/preferences")
@bp.post("/<property_code>/preferences")
def save_preferences(property_code: str | None = None) -> ResponseReturnValue:
    limited = lim.widget_limits()
    if limited is not None:
        return limited
    req = parse_save(_body(property_code))
    info = preferences.RequestInfo(
        origin=request.headers.get("Origin"), user_agent=request.user_agent.string or None
    )
    return jsonify(preferences.save(current_deps(), _token(), req, info))


@bp.post("/email-codes")
@bp.post("/<property_code>/email-codes")
def send_email_code(property_code: str | None = None) -> ResponseReturnValue:
    """Always the same answer for any address: no enumeration."""
    limited = lim.check(
        (lim.CODES_PER_IP, "codes-" + lim.ip_key()),
        (lim.CODES_PER_EMAIL, "codes-" + lim.email_key()),
    )
    if limited is not None:
        return limited
    req = parse_code_request(_body(property_code))
    email_codes.request_code(current_deps(), req)
    body = {"sent": True, "resend_after": RESEND_COOLDOWN_SECONDS}
    return jsonify(body), 202


@bp.post("/email-codes/verify")
@bp.post("/<property_code>/email-codes/verify")
def verify_email_code(property_code: str | None = None) -> ResponseReturnValue:
    limited = lim.check(
        (lim.VERIFY_PER_IP, "verify-" + lim.ip_key()),
        (lim.VERIFY_PER_EMAIL, "verify-" + lim.email_key()),
    )
    if limited is not None:
        return limited
    req = parse_verify_request(_body(property_code))
    grant = email_codes.verify_code(current_deps(), req)
    return jsonify({"session_token": grant.session_token, "expires_in": grant.expires_in})
