"""An in-process HTTP receiver that records every JSON body posted to it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """Records POSTed JSON bodies; ``status`` sets the code it answers with.

    Set ``status`` to 500 (or ``down()``) to play a receiver that is failing.
    """

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.status
                if status < 300:
                    receiver._record(self.path, dict(self.headers), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._cond:
            self.requests.append((path, headers, body))
            try:
                self.notifications.append(json.loads(body))
            except ValueError:
                self.notifications.append({"_raw": body.decode(errors="replace")})
            self._cond.notify_all()

    def wait_for(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Block until ``predicate(notifications)`` holds; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.notifications):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no matching notification after {timeout}s; "
                        f"got {json.dumps(self.notifications, indent=1)[:4000]}"
                    )
                self._cond.wait(left)
            return list(self.notifications)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
