"""Every request gets an id: taken from a well-formed X-Request-ID, else made; echoed back."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from backend.logs import request_id_var

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def init_app(app: Flask) -> None:
    @app.before_request
    def _assign() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        g.request_id_token = request_id_var.set(g.request_id)

    @app.after_request
    def _echo(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        return response

    @app.teardown_request
    def _clear(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.reset(token)
