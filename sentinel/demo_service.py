"""A small instrumented HTTP service for ``sentinel demo``, and traffic to drive it.

The service answers ``GET /checkout`` and exposes prometheus-client metrics on
``/metrics``: ``demo_http_requests_total{code}`` and the latency histogram
``demo_http_request_duration_seconds``. A :class:`Script` of phases sets how many of its
requests fail; :class:`Traffic` sends it real HTTP requests at a steady rate.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.05, 0.1, 0.3, 1.0, 2.5)


@dataclass(frozen=True)
class Phase:
    """``seconds`` of traffic in which a share ``error_ratio`` of requests fail."""

    name: str
    seconds: float
    error_ratio: float


class DemoService:
    """The instrumented service, served from a background thread on 127.0.0.1."""

    def __init__(self, seed: int = 7) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "demo_http_requests",
            "Requests served by the demo checkout service, by status code.",
            ["code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "demo_http_request_duration_seconds",
            "Time to serve a checkout request.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Both codes exist from the start, as a well-instrumented service does.
        self.requests.labels("200")
        self.requests.labels("500")
        self.error_ratio = 0.0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-service", daemon=True
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    encoder, content_type = choose_encoder(
                        self.headers.get("Accept", "")
                    )
                    self._reply(200, encoder(service.registry), content_type)
                elif self.path.startswith("/checkout"):
                    code = service.serve()
                    self._reply(code, b"ok\n" if code == 200 else b"failed\n")
                else:
                    self._reply(404, b"not found\n")

            def _reply(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def serve(self) -> int:
        """Handle one checkout: fail with the current error ratio."""
        with self._lock:
            failed = self._random.random() < self.error_ratio
            seconds = self._random.uniform(0.01, 0.2)
        code = 500 if failed else 200
        self.requests.labels(str(code)).inc()
        self.latency.observe(seconds)
        return code

    def start(self) -> DemoService:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; a second call does nothing."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()


class Traffic:
    """Sends ``rate`` real HTTP requests a second to the service until stopped."""

    def __init__(self, url: str, rate: float = 20.0) -> None:
        self.url = url
        self.rate = rate
        self.sent = 0
        self._stop = threading.Event()
        self._session = requests.Session()
        self._thread = threading.Thread(
            target=self._run, name="demo-traffic", daemon=True
        )

    def _run(self) -> None:
        gap = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self._session.get(f"{self.url}/checkout", timeout=2)
                self.sent += 1
            except requests.RequestException as exc:
                log.debug("demo traffic: %s", exc)
            next_at += gap
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._session.close()


def play(
    service: DemoService,
    phases: Sequence[Phase],
    on_phase: Callable[[Phase], None],
    stop: threading.Event,
) -> bool:
    """Run the phases in order; return False when ``stop`` cut the script short."""
    for phase in phases:
        service.error_ratio = phase.error_ratio
        on_phase(phase)
        if stop.wait(phase.seconds):
            return False
    return True
