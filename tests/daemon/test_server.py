"""The HTTP interface over a real socket on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sentinel.metrics import DaemonMetrics, ExportedMetric, FactCollector, Sample
from sentinel.server import HTTPServer


class FakeDaemon:
    def __init__(self) -> None:
        self.ready = False
        self.reload_result = (True, "reloaded")
        self.reloads = 0

    def is_ready(self) -> bool:
        return self.ready

    def reload(self) -> tuple[bool, str]:
        self.reloads += 1
        return self.reload_result

    def slos(self) -> list[dict[str, Any]]:
        return [{"id": 'checkout{region="eu"}', "name": "checkout", "objective": 0.999}]

    def alerts(self) -> list[dict[str, Any]]:
        return [{"name": "SLOBurnRateHigh", "state": "firing"}]


@pytest.fixture
def served() -> Iterator[tuple[HTTPServer, FakeDaemon, DaemonMetrics]]:
    registry = CollectorRegistry()
    metrics = DaemonMetrics(registry)
    exported = ExportedMetric(
        "sentinel_slo_burn_rate",
        "Burn rate per window.",
        ["slo", "window"],
        [Sample({"slo": "checkout", "window": "1h"}, 14.5)],
    )
    registry.register(FactCollector(lambda: [exported]))
    daemon = FakeDaemon()
    server = HTTPServer(daemon, registry, "127.0.0.1", 0).start()
    yield server, daemon, metrics
    server.stop()


def test_health_and_readiness(served: tuple[HTTPServer, FakeDaemon, Any]) -> None:
    server, daemon, _ = served
    assert requests.get(f"{server.url}/-/healthy", timeout=5).status_code == 200
    assert requests.get(f"{server.url}/-/ready", timeout=5).status_code == 503
    daemon.ready = True
    assert requests.get(f"{server.url}/-/ready", timeout=5).status_code == 200


def test_reload_wants_post_and_reports_errors(
    served: tuple[HTTPServer, FakeDaemon, Any],
) -> None:
    server, daemon, _ = served
    assert requests.get(f"{server.url}/-/reload", timeout=5).status_code == 405
    assert daemon.reloads == 0
    ok = requests.post(f"{server.url}/-/reload", timeout=5)
    assert (ok.status_code, ok.text.strip()) == (200, "reloaded")
    daemon.reload_result = (False, "sentinel.yaml:3: slos[0].objective: bad")
    bad = requests.post(f"{server.url}/-/reload", timeout=5)
    assert bad.status_code == 500
    assert "slos[0].objective" in bad.text


def test_metrics_parse_and_carry_exported_facts(
    served: tuple[HTTPServer, FakeDaemon, DaemonMetrics],
) -> None:
    server, _, metrics = served
    metrics.evaluation(0.02, ok=True, now=1_700_000_000, lag=0.5)
    body = requests.get(f"{server.url}/metrics", timeout=5).text
    families = {f.name: f for f in text_string_to_metric_families(body)}
    burn = families["sentinel_slo_burn_rate"].samples[0]
    assert burn.labels == {"slo": "checkout", "window": "1h"}
    assert burn.value == 14.5
    evaluations = families["sentinel_evaluations"].samples
    assert any(s.labels == {"outcome": "ok"} and s.value == 1 for s in evaluations)
    assert families["sentinel_build_info"].samples[0].labels["version"]


def test_api_lists_and_finds_slos(served: tuple[HTTPServer, FakeDaemon, Any]) -> None:
    server, _, _ = served
    listing = requests.get(f"{server.url}/api/v1/slos", timeout=5).json()
    assert listing["data"][0]["name"] == "checkout"
    one = requests.get(
        f"{server.url}/api/v1/slos/checkout%7Bregion%3D%22eu%22%7D", timeout=5
    )
    assert one.status_code == 200
    assert one.json()["data"]["objective"] == 0.999
    missing = requests.get(f"{server.url}/api/v1/slos/nope", timeout=5)
    assert missing.status_code == 404
    alerts = requests.get(f"{server.url}/api/v1/alerts", timeout=5).json()
    assert alerts["data"][0]["state"] == "firing"
