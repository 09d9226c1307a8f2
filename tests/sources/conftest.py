"""A loopback HTTP server whose every answer the test decides."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Answer:
    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/plain; version=0.0.4"
    delay: float = 0.0


@dataclass
class FakeServer:
    """Serves ``respond(path_and_query) -> Answer``; records every request path."""

    respond: Callable[[str], Answer] = field(default=lambda path: Answer())
    requests: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path
            length = int(self.headers.get("Content-Length") or 0)
            if length:  # a form POST: hand it over like a query string
                path += "?" + self.rfile.read(length).decode()
            server.requests.append(path)
            server.headers.append(dict(self.headers))
            answer = server.respond(path)
            if answer.delay:
                time.sleep(answer.delay)
            body = answer.body.encode() if isinstance(answer.body, str) else answer.body
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server.httpd = httpd
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()
