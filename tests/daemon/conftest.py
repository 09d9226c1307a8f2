"""Shared pieces of the daemon tests: a simulated clock and a scraped demo service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentinel.daemon import Daemon
from sentinel.demo_service import DemoService
from tests.harness.webhook import WebhookReceiver

T0 = 1_800_000_000.0  # a multiple of 60
MINUTE = 60.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


CONFIG = """\
version: sentinel/v1
global:
  interval: 1m
  state_dir: {state}
  listen: 127.0.0.1:0
sources:
  - name: app
    type: scrape
    timeout: 2s
    targets:
      - url: {service}/metrics
slos:
  - name: checkout
    service: shop
    objective: 99.9
    sli:
      ratio:
        bad: demo_http_requests_total{{code="500"}}
        total: demo_http_requests_total
notifiers:
  - name: hook
    type: webhook
    url: {hook}
"""


@pytest.fixture
def service() -> Iterator[DemoService]:
    s = DemoService().start()
    yield s
    s.stop()


@pytest.fixture
def config(
    tmp_path: Path, service: DemoService, webhook_receiver: WebhookReceiver
) -> Path:
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        CONFIG.format(
            state=tmp_path / "state", service=service.url, hook=webhook_receiver.url
        )
    )
    return path


def step(
    daemon: Daemon, clock: Clock, service: DemoService, good: int, bad: int
) -> None:
    service.requests.labels("200").inc(good)
    service.requests.labels("500").inc(bad)
    clock.t += MINUTE
    daemon.evaluate()


def page_1h(notifications: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    return [
        n
        for n in notifications
        if n["alert"]["labels"].get("tier") == "page-1h" and n["status"] == status
    ]
