"""The daemon's evaluation loop on a simulated clock against a real scraped service.

The demo service is scraped over real HTTP by the embedded scrape source; the test
drives its counters directly and advances the daemon's clock a minute per evaluation,
so an hour of history takes a second and nothing sleeps.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sentinel.daemon import Daemon
from sentinel.demo_service import DemoService
from tests.daemon.conftest import CONFIG, MINUTE, T0, Clock, page_1h, step
from tests.harness.webhook import WebhookReceiver


def test_outage_pages_once_across_a_restart_and_resolves(
    config: Path, service: DemoService, webhook_receiver: WebhookReceiver
) -> None:
    clock = Clock(T0)
    daemon = Daemon(config, clock=clock)
    daemon.evaluate()  # the baseline scrape
    for _ in range(30):
        step(daemon, clock, service, good=1000, bad=0)
    assert daemon.book.alerts() == []

    # two minutes with half the requests failing: 1h burn 31, 5m burn 200
    for _ in range(2):
        step(daemon, clock, service, good=500, bad=500)
    fired = page_1h(webhook_receiver.notifications, "firing")
    assert len(fired) == 1
    alert = fired[0]["alert"]
    assert alert["runbook_url"].endswith("slo-burn-rate-high.md")
    assert alert["labels"]["slo"] == "checkout"
    assert alert["labels"]["severity"] == "page"
    # it pages at the first failing minute: 500 of 31000 in 1h, 500 of 5000 in 5m
    assert alert["annotations"]["description"] == (
        "burn rate 16.13 over 1h and 100 over 5m, both above 14.4; 500 of 31000 "
        "events failed over 1h; budget left -15.13"
    )
    views = {a["name"]: a for a in daemon.alerts()}
    assert "SLOBurnRateHigh" in views
    assert "burn-rate-high" in (views["SLOBurnRateHigh"]["explanation"] or "")

    # a restart while the outage goes on: state restored, no second page
    daemon.stop()
    daemon = Daemon(config, clock=clock)
    for _ in range(3):
        step(daemon, clock, service, good=500, bad=500)
    assert len(page_1h(webhook_receiver.notifications, "firing")) == 1

    # recovery: the 5m window clears, the page resolves exactly once
    for _ in range(8):
        step(daemon, clock, service, good=1000, bad=0)
    assert len(page_1h(webhook_receiver.notifications, "resolved")) == 1
    assert len(page_1h(webhook_receiver.notifications, "firing")) == 1
    daemon.stop()


def test_a_receiver_outage_delays_but_loses_nothing(
    config: Path, service: DemoService, webhook_receiver: WebhookReceiver
) -> None:
    clock = Clock(T0)
    daemon = Daemon(config, clock=clock)
    daemon.evaluate()
    for _ in range(10):
        step(daemon, clock, service, good=1000, bad=0)
    webhook_receiver.status = 503
    for _ in range(2):
        step(daemon, clock, service, good=500, bad=500)
    assert page_1h(webhook_receiver.notifications, "firing") == []
    assert daemon.outbox.queue_lengths()["hook"] > 0

    webhook_receiver.status = 200
    for _ in range(3):
        step(daemon, clock, service, good=500, bad=500)
    assert len(page_1h(webhook_receiver.notifications, "firing")) == 1
    daemon.stop()


def test_metrics_export_burn_rates_and_daemon_health(
    config: Path, service: DemoService
) -> None:
    clock = Clock(T0)
    registry = CollectorRegistry()
    daemon = Daemon(config, clock=clock, registry=registry)
    daemon.evaluate()
    for _ in range(6):
        step(daemon, clock, service, good=1000, bad=2)
    text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    burn = {
        s.labels["window"]: s.value
        for s in families["sentinel_slo_burn_rate"].samples
        if s.labels["slo"] == "checkout"
    }
    # 2 bad in 1002 a minute, over a 0.1% budget
    assert burn["5m"] == pytest.approx(2 / 1002 / 0.001)
    objective = families["sentinel_slo_objective"].samples[0]
    assert objective.value == pytest.approx(0.999)
    assert families["sentinel_evaluations"].samples
    daemon.stop()


def test_a_scrape_gap_holds_a_firing_page(
    config: Path, service: DemoService, webhook_receiver: WebhookReceiver
) -> None:
    clock = Clock(T0)
    daemon = Daemon(config, clock=clock)
    daemon.evaluate()
    for _ in range(10):
        step(daemon, clock, service, good=1000, bad=0)
    for _ in range(2):
        step(daemon, clock, service, good=0, bad=1000)
    assert len(page_1h(webhook_receiver.notifications, "firing")) == 1

    # the service stops answering for six minutes (C17): held, never resolved
    service.stop()
    for _ in range(6):
        clock.t += MINUTE
        daemon.evaluate()
    assert page_1h(webhook_receiver.notifications, "resolved") == []
    page = next(a for a in daemon.book.alerts() if a.labels.get("tier") == "page-1h")
    assert page.state.value == "firing"
    assert page.held
    daemon.stop()


def test_a_failed_evaluation_rebuilds_the_network_and_the_next_one_works(
    config: Path,
    service: DemoService,
    webhook_receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock(T0)
    daemon = Daemon(config, clock=clock)
    daemon.evaluate()
    for _ in range(10):
        step(daemon, clock, service, good=1000, bad=0)

    # facts modified, then the run breaks half way through the tick
    def broken(limit: int | None = None) -> int:
        raise RuntimeError("rule action failed")

    daemon.runtime.engine.run = broken  # type: ignore[method-assign]
    step(daemon, clock, service, good=500, bad=500)
    assert "evaluation at" in caplog.text and "failed" in caplog.text
    assert page_1h(webhook_receiver.notifications, "firing") == []

    step(daemon, clock, service, good=500, bad=500)
    assert len(page_1h(webhook_receiver.notifications, "firing")) == 1
    daemon.stop()


def test_stop_is_bounded_when_an_evaluation_hangs(config: Path) -> None:
    daemon = Daemon(config, clock=Clock(T0))
    daemon._eval_lock.acquire()  # an evaluation stuck on a hanging source
    try:
        started = time.monotonic()
        daemon.stop(timeout=1.0)
        assert time.monotonic() - started < 3
    finally:
        daemon._eval_lock.release()
    daemon.stop()


def test_a_reload_that_changes_an_slo_keeps_the_scrapers_last_values(
    config: Path, service: DemoService
) -> None:
    clock = Clock(T0)
    daemon = Daemon(config, clock=clock)
    daemon.evaluate()
    for _ in range(6):
        step(daemon, clock, service, good=1000, bad=0)
    config.write_text(config.read_text().replace("objective: 99.9", "objective: 99.5"))
    ok, message = daemon.reload()
    assert ok, message
    for _ in range(2):
        step(daemon, clock, service, good=1000, bad=0)
    (view,) = daemon.slos()
    assert view["objective"] == pytest.approx(0.995)
    five = view["windows"]["5m"]
    assert (five["total"], five["coverage"]) == (5000, 1.0)
    daemon.stop()


def test_backfill_from_an_unreachable_prometheus_gives_up_and_evaluates(
    tmp_path: Path,
) -> None:
    from tests.harness.net import free_port

    path = tmp_path / "sentinel.yaml"
    path.write_text(
        CONFIG.format(
            state=tmp_path / "state", service="http://x", hook="http://x/"
        ).replace(
            "  - name: app\n    type: scrape\n    timeout: 2s\n    targets:\n"
            "      - url: http://x/metrics\n",
            f"  - name: app\n    type: prometheus\n"
            f"    url: http://127.0.0.1:{free_port()}\n    timeout: 1s\n",
        )
    )
    daemon = Daemon(path, listen="127.0.0.1:0")
    started = time.monotonic()
    daemon.start()
    try:
        assert daemon.is_ready()
        assert time.monotonic() - started < 30
    finally:
        daemon.stop()
