"""The daemon's HTTP interface.

``/metrics``        Prometheus exposition of the daemon's registry
``/-/healthy``      200 while the process serves requests
``/-/ready``        200 once backfill and a first evaluation are done, else 503
``/-/reload``       POST: re-read configuration and rules; 200, or 500 with the errors
``/api/v1/slos``    JSON: every SLO instance with its windows, burn rates and budget
``/api/v1/slos/ID`` JSON: one SLO instance
``/api/v1/alerts``  JSON: active alerts, each with the rules and facts that made it fire

Served by the standard library's WSGI server in a thread per request, with
prometheus-client's WSGI app for ``/metrics``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from urllib.parse import unquote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


class DaemonView(Protocol):
    """What the HTTP interface needs from the daemon."""

    def is_ready(self) -> bool: ...

    def reload(self) -> tuple[bool, str]: ...

    def slos(self) -> list[dict[str, Any]]: ...

    def alerts(self) -> list[dict[str, Any]]: ...


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: %s", format % args)


def _json(start: StartResponse, status: str, body: object) -> Iterable[bytes]:
    data = json.dumps(body, indent=2, sort_keys=True, default=str).encode()
    start(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _text(start: StartResponse, status: str, body: str) -> Iterable[bytes]:
    data = (body + "\n").encode()
    start(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(data))),
        ],
    )
    return [data]


class Application:
    """The WSGI application routing the daemon's endpoints."""

    def __init__(self, view: DaemonView, registry: CollectorRegistry) -> None:
        self.view = view
        self.metrics_app = make_wsgi_app(registry)

    def __call__(self, environ: Environ, start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            return self.route(method, path, environ, start)
        except Exception:
            log.exception("http: %s %s failed", method, path)
            return _json(start, "500 Internal Server Error", {"error": "internal"})

    def route(
        self, method: str, path: str, environ: Environ, start: StartResponse
    ) -> Iterable[bytes]:
        if path == "/metrics":
            return self.metrics_app(environ, start)
        if path == "/-/healthy":
            return _text(start, "200 OK", "Sentinel is healthy.")
        if path == "/-/ready":
            if self.view.is_ready():
                return _text(start, "200 OK", "Sentinel is ready.")
            return _text(start, "503 Service Unavailable", "Sentinel is not ready.")
        if path == "/-/reload":
            if method not in ("POST", "PUT"):
                return _text(start, "405 Method Not Allowed", "Use POST.")
            ok, message = self.view.reload()
            status = "200 OK" if ok else "500 Internal Server Error"
            return _text(start, status, message)
        if path in ("/api/v1/slos", "/api/v1/slos/"):
            return _json(
                start, "200 OK", {"status": "success", "data": self.view.slos()}
            )
        if path.startswith("/api/v1/slos/"):
            wanted = unquote(path[len("/api/v1/slos/") :])
            for slo in self.view.slos():
                if wanted in (slo.get("id"), slo.get("name")):
                    return _json(start, "200 OK", {"status": "success", "data": slo})
            return _json(
                start,
                "404 Not Found",
                {"status": "error", "error": f"no SLO {wanted!r}"},
            )
        if path == "/api/v1/alerts":
            data = self.view.alerts()
            return _json(start, "200 OK", {"status": "success", "data": data})
        if path == "/":
            return _text(
                start,
                "200 OK",
                "Sentinel: /metrics /-/healthy /-/ready /-/reload "
                "/api/v1/slos /api/v1/alerts",
            )
        return _json(start, "404 Not Found", {"status": "error", "error": "not found"})


class HTTPServer:
    """Serves :class:`Application` on ``host:port`` from a background thread."""

    def __init__(
        self, view: DaemonView, registry: CollectorRegistry, host: str, port: int
    ) -> None:
        self._server = make_server(
            host,
            port,
            Application(view, registry),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sentinel-http", daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> HTTPServer:
        self._thread.start()
        log.info("serving HTTP on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
