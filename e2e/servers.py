"""Loopback HTTP servers for the browser tests: the Optline app and a customer's site."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        """No access log in test output."""


class Slot:
    """A WSGI app filled in after the server is bound, so the app can know its own URL.

    Records every request it receives (``seen``): the browser's view (page.on("request")) leaves
    out CORS preflights, the server's does not.
    """

    def __init__(self) -> None:
        self.app: WSGIApp | None = None
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def record(status: str, headers: Any, *args: Any) -> Any:
            self.seen.append(
                (environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), int(status.split()[0]))
            )
            return start_response(status, headers, *args)

        if self.app is None:
            return Response("not ready", status=503)(environ, record)
        return self.app(environ, record)


class LoopbackServer:
    """A threaded werkzeug server on 127.0.0.1 and a free port, stopped with ``close()``."""

    def __init__(self, app: WSGIApp) -> None:
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
        )
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class CustomerSite:
    """A customer's website: pages a test registers by path, served with the headers it gives.

    Reached as ``http://localhost:<port>`` (the allowed origin) and, for the refusal test, as
    ``http://127.0.0.1:<port>``: the same pages from an origin the property does not allow.
    """

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, dict[str, str]]] = {}
        self._server = LoopbackServer(self._wsgi)
        self.origin = f"http://localhost:{self._server.port}"
        self.other_origin = f"http://127.0.0.1:{self._server.port}"

    def add(self, path: str, html: str, headers: dict[str, str] | None = None) -> str:
        self.pages[path] = (html, headers or {})
        return self.origin + path

    def reset(self) -> None:
        self.pages.clear()

    def close(self) -> None:
        self._server.close()

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        page = self.pages.get(request.path)
        if page is None:
            return Response("not found", status=404)(environ, start_response)
        html, headers = page
        response = Response(
            html, mimetype="text/html", headers={"Cache-Control": "no-store", **headers}
        )
        return response(environ, start_response)
