"""One JSON error shape for every API: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from backend.domain.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PermanentError,
    RetryableError,
    ValidationError,
)

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message, "details": details or {}}}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def retry_after_seconds() -> int:
    """Seconds until the limit that was hit resets (Flask-Limiter knows which one it was)."""
    from backend.web.security import limiter

    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()) + 1)


def is_api_request() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/t/")


def init_app(app: Flask) -> None:
    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Response:
        details = {"fields": [{"path": e.path, "message": e.message} for e in exc.errors]}
        return error_response(400, "invalid", str(exc), details)

    @app.errorhandler(NotFoundError)
    def _not_found(exc: NotFoundError) -> Response:
        return error_response(404, "not_found", str(exc))

    @app.errorhandler(ConflictError)
    def _conflict(exc: ConflictError) -> Response:
        return error_response(409, "conflict", str(exc))

    @app.errorhandler(ForbiddenError)
    def _forbidden(exc: ForbiddenError) -> Response:
        return error_response(403, "forbidden", str(exc))

    @app.errorhandler(AuthError)
    def _auth(exc: AuthError) -> Response:
        return error_response(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.errorhandler(PermanentError)
    def _braze_permanent(exc: PermanentError) -> Response:
        return error_response(502, "braze_error", str(exc))

    @app.errorhandler(RetryableError)
    def _braze_retryable(exc: RetryableError) -> Response:
        return error_response(503, "braze_unavailable", str(exc))

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded) -> Any:
        retry_after = retry_after_seconds()
        if not is_api_request():
            response = exc.get_response()
            response.headers["Retry-After"] = str(retry_after)
            return response
        return error_response(
            429,
            "too_many_requests",
            "Too many requests: try again later.",
            {"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if not is_api_request():
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name or "error")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if is_api_request():
            return error_response(500, "internal", "internal error")
        return "Internal error", 500
