import json
import logging

from flask import Flask

from backend.logs import JsonFormatter
from backend.web import request_ids


def format_record(**extra: object) -> dict[str, object]:
    record = logging.LogRecord("optline.test", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter().format(record))


def test_a_log_line_is_json_with_its_extra_fields() -> None:
    entry = format_record(connection_id=7, braze_call="POST /users/track")
    assert entry["message"] == "hello x"
    assert entry["level"] == "info"
    assert entry["connection_id"] == 7
    assert entry["braze_call"] == "POST /users/track"
    assert "request_id" not in entry


def test_requests_carry_an_id_into_logs_and_the_response() -> None:
    app = Flask("t")
    request_ids.init_app(app)
    lines: list[dict[str, object]] = []

    @app.get("/")
    def index() -> str:
        lines.append(format_record())
        return "ok"

    client = app.test_client()
    given = client.get("/", headers={"X-Request-ID": "abc-123-def"})
    assert given.headers["X-Request-ID"] == "abc-123-def"
    assert lines[-1]["request_id"] == "abc-123-def"
    made = client.get("/", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] != "bad id with spaces"
    assert len(made.headers["X-Request-ID"]) == 32
    assert lines[-1]["request_id"] == made.headers["X-Request-ID"]
    assert "request_id" not in format_record()  # outside a request
