"""The harness itself: backfilled history is queryable, alerts reach the receiver."""

from __future__ import annotations

import time

import pytest

from tests.conftest import AlertmanagerFactory, PrometheusFactory
from tests.harness.alertmanager import AlertmanagerServer
from tests.harness.openmetrics import counter_series, histogram_series
from tests.harness.webhook import WebhookReceiver

pytestmark = pytest.mark.integration

MINUTE = 60
DAY = 86400


def test_thirty_days_backfilled_are_queryable(
    prometheus_factory: PrometheusFactory,
) -> None:
    end = (int(time.time()) // MINUTE - 2) * MINUTE
    start = end - 30 * DAY
    ok = counter_series(
        "http_requests_total", {"code": "200"}, start, end, MINUTE, 100.0
    )
    errors = counter_series(
        "http_requests_total", {"code": "500"}, start, end, MINUTE, 1.0
    )
    latency = histogram_series(
        "http_request_duration_seconds",
        {},
        start,
        end,
        MINUTE,
        bounds=[0.1, 0.3, 1.0],
        per_step=[50, 30, 15, 5],
    )
    server = prometheus_factory(backfill=[ok, errors, *latency])

    # Exact counts: 43,200 one-minute steps in 30 days.
    steps = 30 * DAY // MINUTE
    result = server.query(
        "sum by (code) (increase(http_requests_total[30d]))", time=end
    )["result"]
    got = {r["metric"]["code"]: float(r["value"][1]) for r in result}
    # Prometheus 2 ranges include both ends, so all steps are seen and the answer is
    # exact; Prometheus 3 drops the first sample and extrapolates, within 1/steps.
    for code, per_minute in (("200", 100.0), ("500", 1.0)):
        expected = steps * per_minute
        assert got[code] == pytest.approx(expected, rel=0.001), (code, got)

    # The raw samples of a short range are returned as written.
    raw = server.query('http_requests_total{code="500"}[5m]', time=end)["result"]
    values = [float(v) for _, v in raw[0]["values"]]
    assert values[-1] == steps * 1.0
    assert values == sorted(values)

    buckets = server.query('http_request_duration_seconds_bucket{le="0.3"}', time=end)[
        "result"
    ]
    assert float(buckets[0]["value"][1]) == steps * 80.0


def test_alert_reaches_webhook_receiver(
    alertmanager: AlertmanagerServer, webhook_receiver: WebhookReceiver
) -> None:
    alertmanager.post_alerts(
        [
            {
                "labels": {"alertname": "HarnessCheck", "slo": "checkout"},
                "annotations": {"runbook_url": "https://example.test/runbook"},
            }
        ]
    )
    got = webhook_receiver.wait_for(lambda ns: len(ns) >= 1, timeout=20)
    alert = got[0]["alerts"][0]
    assert alert["status"] == "firing"
    assert alert["labels"] == {"alertname": "HarnessCheck", "slo": "checkout"}
    assert alert["annotations"]["runbook_url"] == "https://example.test/runbook"
    assert got[0]["version"] == "4"


def test_two_replicas_both_notify(
    alertmanager_factory: AlertmanagerFactory, webhook_receiver: WebhookReceiver
) -> None:
    first, second = alertmanager_factory(2)
    alert = {"labels": {"alertname": "ClusterCheck"}, "annotations": {}}
    first.post_alerts([alert])
    second.post_alerts([alert])
    webhook_receiver.wait_for(lambda ns: len(ns) >= 1, timeout=20)
    assert any(a["labels"]["alertname"] == "ClusterCheck" for a in second.alerts())
