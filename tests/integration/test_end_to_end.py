"""End to end on real time: a service scraped by a real Prometheus, Sentinel reading it,
alerts going to two real Alertmanager replicas and to a webhook.

The SLO uses a one-day period and one tier over 2 minutes and 1 minute so that a page
fires and resolves within a couple of minutes; the mechanics are those of the
Workbook's tiers.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from sentinel.daemon import Daemon
from sentinel.demo_service import DemoService, Traffic
from tests.conftest import AlertmanagerFactory, PrometheusFactory
from tests.harness.binaries import require_binary
from tests.harness.openmetrics import counter_series
from tests.harness.webhook import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = """\
version: sentinel/v1
global:
  interval: 2s
  resolution: 2s
  state_dir: {state}
  listen: 127.0.0.1:0
sources:
  - name: prom
    type: prometheus
    url: {prometheus}
    scrape_interval: 1s
    timeout: 5s
slos:
  - name: checkout
    service: shop
    objective: 99
    period: 1d
    min_events: 5
    sli:
      ratio:
        bad: demo_http_requests_total{{code="500"}}
        total: demo_http_requests_total
    alerting:
      tiers:
        - {{name: page-2m, fraction: 2%, long: 2m, short: 1m, severity: page}}
notifiers:
  - name: am
    type: alertmanager
    urls: [{am0}, {am1}]
  - name: hook
    type: webhook
    url: {hook}
"""


@pytest.fixture
def service() -> Iterator[DemoService]:
    s = DemoService().start()
    traffic = Traffic(s.url, rate=40).start()
    yield s
    traffic.stop()
    s.stop()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def statuses(notifications: list[dict[str, Any]], name: str) -> list[str]:
    """Alertmanager webhook payloads: the status of ``name`` in each."""
    return [
        a["status"]
        for n in notifications
        for a in n["alerts"]
        if a["labels"].get("alertname") == name
    ]


def page_statuses(hook: WebhookReceiver) -> list[str]:
    """Sentinel's own webhook payloads: the status of each page notification."""
    return [
        n["status"]
        for n in hook.notifications
        if n["alert"]["labels"].get("alertname") == "SLOBurnRateHigh"
    ]


def test_outage_pages_through_alertmanager_and_resolves(
    tmp_path: Path,
    service: DemoService,
    hook: WebhookReceiver,
    prometheus_factory: PrometheusFactory,
    alertmanager_factory: AlertmanagerFactory,
    webhook_receiver: WebhookReceiver,
) -> None:
    # a day of healthy history, then live scrapes of the service
    end = (time.time() // 60 - 2) * 60
    history = [
        counter_series(
            "demo_http_requests_total",
            {"code": code, "job": "backfill"},
            end - 86400,
            end,
            60,
            per_minute,
        )
        for code, per_minute in (("200", 600.0), ("500", 0.0))
    ]
    prometheus = prometheus_factory(
        backfill=history, scrape_targets=[service.url.split("://")[1]]
    )
    prometheus.wait_for_targets(1)
    am0, am1 = alertmanager_factory(2)
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        CONFIG.format(
            state=tmp_path / "state",
            prometheus=prometheus.url,
            am0=am0.url,
            am1=am1.url,
            hook=hook.url,
        )
    )

    daemon = Daemon(config).start()
    try:
        assert daemon.server is not None
        assert requests.get(f"{daemon.server.url}/-/ready", timeout=5).ok

        # the outage: half the checkouts fail
        service.error_ratio = 0.5
        got = webhook_receiver.wait_for(
            lambda ns: "firing" in statuses(ns, "SLOBurnRateHigh"), timeout=120
        )
        page = next(
            a
            for n in got
            for a in n["alerts"]
            if a["labels"].get("alertname") == "SLOBurnRateHigh"
        )
        assert page["labels"]["severity"] == "page"
        assert page["annotations"]["runbook_url"].endswith("slo-burn-rate-high.md")
        assert "/api/v1/slos/" in page["generatorURL"]

        check_metrics(daemon)

        # a restart in the middle of the outage sends nothing new
        assert page_statuses(hook) == ["firing"]
        daemon.stop()
        daemon = Daemon(config).start()
        time.sleep(6)
        assert page_statuses(hook) == ["firing"]

        # recovery: resolved at Alertmanager and at the webhook, once
        service.error_ratio = 0.0
        webhook_receiver.wait_for(
            lambda ns: "resolved" in statuses(ns, "SLOBurnRateHigh"), timeout=150
        )
        hook.wait_for(lambda ns: "resolved" in page_statuses(hook), 30)
        assert page_statuses(hook) == ["firing", "resolved"]
    finally:
        daemon.stop()


def check_metrics(daemon: Daemon) -> None:
    assert daemon.server is not None
    body = requests.get(f"{daemon.server.url}/metrics", timeout=5).text
    names = {f.name for f in text_string_to_metric_families(body)}
    assert {"sentinel_slo_burn_rate", "sentinel_evaluations"} <= names
    promtool = require_binary("promtool", "prometheus")
    done = subprocess.run(
        [promtool, "check", "metrics"],
        input=body,
        capture_output=True,
        text=True,
        check=False,
    )
    # promtool exits non-zero on lint problems, and names them
    assert done.returncode == 0, done.stdout + done.stderr
