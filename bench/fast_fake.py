"""A lean Braze stand-in for benchmarks, run in its own process so it never competes with the
worker being measured for the GIL.

It answers /users/track (validating the batch cap, counting objects), /users/export/segment
(with a fixed object prefix) and /segments/list, and can enforce a fixed-window rate limit the
way Braze counts one: a window starts at its first request; ``X-RateLimit-*`` headers on every
answer; 429 with ``Retry-After`` over the limit. ``GET /_stats`` reports what it saw.

    python -m bench.fast_fake --port 0 [--limit 300 --window 3] [--prefix P]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class State:
    def __init__(self, limit: int | None, window: float, prefix: str) -> None:
        self.limit, self.window, self.prefix = limit, window, prefix
        self.lock = threading.Lock()
        self.window_start: float | None = None
        self.used = 0
        self.stats = {"requests": 0, "ok": 0, "throttled": 0, "objects": 0, "first": 0.0,
                      "last": 0.0}  # fmt: skip

    def admit(self, now: float) -> tuple[bool, dict[str, str]]:
        with self.lock:
            self.stats["requests"] += 1
            self.stats["first"] = self.stats["first"] or now
            self.stats["last"] = now
            if self.limit is None:
                return True, {}
            if self.window_start is None or now >= self.window_start + self.window:
                self.window_start, self.used = now, 0
            reset = math.ceil(self.window_start + self.window)
            if self.used >= self.limit:
                self.stats["throttled"] += 1
                wait = max(1, math.ceil(self.window_start + self.window - now))
                return False, {
                    "X-RateLimit-Limit": str(self.limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                    "Retry-After": str(wait),
                }
            self.used += 1
            return True, {
                "X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(self.limit - self.used),
                "X-RateLimit-Reset": str(reset),
            }


def handler_for(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per answer and no Nagle: otherwise delayed ACKs cost 40 ms a request.
        wbufsize = -1
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            if self.path.startswith("/_stats"):
                with state.lock:
                    self._reply(200, dict(state.stats), {})
            elif self.path.startswith("/segments/list"):
                self._reply(200, {"message": "success", "segments": []}, {})
            else:
                self._reply(404, {"message": "Not Found"}, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path == "/_reset":
                with state.lock:
                    for key in state.stats:
                        state.stats[key] = 0
                    state.window_start, state.used = None, 0
                self._reply(200, {}, {})
                return
            ok, headers = state.admit(time.time())
            if not ok:
                self._reply(429, {"message": "API rate limit exceeded"}, headers)
                return
            if self.path == "/users/track":
                body = json.loads(raw)
                objects = body.get("attributes") or []
                if len(objects) > 75:
                    self._reply(400, {"message": "Max Input Length Exceeded"}, headers)
                    return
                with state.lock:
                    state.stats["ok"] += 1
                    state.stats["objects"] += len(objects)
                self._reply(201, {"message": "success", "attributes_processed": len(objects)},
                            headers)  # fmt: skip
            elif self.path == "/users/export/segment":
                with state.lock:
                    state.stats["ok"] += 1
                self._reply(201, {"message": "success", "object_prefix": state.prefix}, headers)
            else:
                self._reply(404, {"message": "Not Found"}, headers)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--prefix", default="bench-export-0")
    args = parser.parse_args()
    state = State(args.limit, args.window, args.prefix)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(state))
    server.daemon_threads = True
    print(server.server_address[1], flush=True)  # the parent reads the port
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
