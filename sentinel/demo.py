"""``sentinel demo``: the real daemon against a small service with a scripted outage.

Nothing needs to be installed beyond Sentinel. The demo starts an instrumented checkout
service on 127.0.0.1 and sends it steady traffic, writes a configuration that scrapes
it with the embedded scraper, and runs the daemon on a store in a temporary folder. The
script is: healthy traffic, an outage where half the requests fail, then recovery. A
page fires during the outage and resolves after it; notifications print as they
happen, and ``/metrics`` and the API are served on localhost until the demo ends.

To fit in a few minutes the demo's SLO has a one-day period and one tier over
5 minutes and 1 minute (the Workbook's 2% of the budget over the long window, here a
burn factor of 5.76). Real SLOs keep the Workbook's defaults.
"""

from __future__ import annotations

import logging
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sentinel.daemon import Daemon
from sentinel.demo_service import DemoService, Phase, Traffic, play

log = logging.getLogger(__name__)

CONFIG = """\
# Written by `sentinel demo`: the embedded scraper reads the demo service's metrics.
version: sentinel/v1
global:
  interval: {interval}s
  resolution: {interval}s
  state_dir: {state}
  listen: 127.0.0.1:{port}
sources:
  - name: demo
    type: scrape
    interval: {interval}s
    timeout: 2s
    targets:
      - url: {service}/metrics
slos:
  - name: checkout-availability
    service: checkout
    description: Checkout requests that do not fail with a server error.
    objective: 99
    period: 1d
    min_events: 5
    sli:
      ratio:
        bad: demo_http_requests_total{{code="500"}}
        total: demo_http_requests_total
    alerting:
      tiers:
        - name: page-5m
          fraction: 2%
          long: 5m
          short: 1m
          severity: page
notifiers:
  - name: console
    type: log
"""


@dataclass(frozen=True)
class Script:
    """The demo's timeline; tests run a shorter one."""

    healthy: float = 30.0
    outage: float = 60.0
    error_ratio: float = 0.5
    recovery_limit: float = 300.0
    interval: int = 5
    rate: float = 20.0

    def phases(self) -> Sequence[Phase]:
        return (
            Phase("healthy", self.healthy, 0.0),
            Phase("outage", self.outage, self.error_ratio),
        )


class _Console(logging.Handler):
    """Prints notifications and the demo's own narration, nothing else."""

    def __init__(self, out: TextIO, started: float) -> None:
        super().__init__(logging.INFO)
        self.out = out
        self.started = started

    def emit(self, record: logging.LogRecord) -> None:
        if not (
            record.name.startswith("sentinel.notify")
            or record.name == __name__
            or record.levelno >= logging.ERROR
        ):
            return
        elapsed = record.created - self.started
        print(f"[{elapsed:5.0f}s] {record.getMessage()}", file=self.out, flush=True)


def run_demo(
    script: Script | None = None,
    out: TextIO | None = None,
    port: int = 0,
    stop: threading.Event | None = None,
) -> int:
    """Run the demo to its end; returns 0 when the page fired and resolved."""
    script = script or Script()
    out = out or sys.stdout
    stop = stop or threading.Event()
    started = time.time()
    console = _Console(out, started)
    root = logging.getLogger()
    root.addHandler(console)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    service = DemoService().start()
    traffic = Traffic(service.url, script.rate).start()
    try:
        with tempfile.TemporaryDirectory(prefix="sentinel-demo-") as tmp:
            return _run(script, service, Path(tmp), port, stop)
    finally:
        traffic.stop()
        service.stop()
        root.removeHandler(console)


def _run(
    script: Script, service: DemoService, tmp: Path, port: int, stop: threading.Event
) -> int:
    config = tmp / "sentinel.yaml"
    if port and not _free(port):
        log.info("port %d is taken; Sentinel will listen on another one", port)
        port = 0
    config.write_text(
        CONFIG.format(
            interval=script.interval,
            state=tmp / "state",
            port=port,
            service=service.url,
        )
    )
    daemon = Daemon(config).start()
    assert daemon.server is not None
    url = daemon.server.url
    log.info("Sentinel is running on %s with the config %s", url, config)
    log.info("  look at %s/metrics, %s/api/v1/slos and %s/api/v1/alerts", url, url, url)
    log.info(
        "  the demo service is %s; it gets %g requests/s", service.url, script.rate
    )
    try:
        finished = play(service, script.phases(), lambda p: _announce(p), stop)
        if not finished:
            return 1
        service.error_ratio = 0.0
        log.info("recovery: every request succeeds again; waiting for the resolve")
        return _await_resolve(daemon, script, stop)
    finally:
        daemon.stop()


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _announce(phase: Phase) -> None:
    if phase.error_ratio:
        log.info(
            "outage: %.0f%% of checkouts fail for %.0fs; a page should fire",
            phase.error_ratio * 100,
            phase.seconds,
        )
    else:
        log.info("healthy traffic for %.0fs", phase.seconds)


def _await_resolve(daemon: Daemon, script: Script, stop: threading.Event) -> int:
    deadline = time.monotonic() + script.recovery_limit
    while time.monotonic() < deadline and not stop.is_set():
        pages = [a for a in daemon.book.alerts() if a.name == "SLOBurnRateHigh"]
        fired = any(a.fired_at for a in pages)
        active = [a for a in pages if a.state.value in ("pending", "firing")]
        if fired and not active:
            log.info("the page fired and resolved; the demo is over")
            return 0
        stop.wait(1.0)
    if not stop.is_set():
        log.error("no page fired and resolved within %.0fs", script.recovery_limit)
    return 1
