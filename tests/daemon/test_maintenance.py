"""Planned maintenance from the configuration mutes an SLO's pages until it ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.config import ConfigErrors, load_config
from sentinel.daemon import Daemon
from sentinel.demo_service import DemoService
from tests.daemon.conftest import CONFIG, T0, Clock, page_1h, step
from tests.harness.webhook import WebhookReceiver

UNTIL = T0 + 20 * 60


def write(tmp_path: Path, service: str, hook: str, maintenance: str) -> Path:
    path = tmp_path / "sentinel.yaml"
    text = CONFIG.format(state=tmp_path / "state", service=service, hook=hook)
    path.write_text(text + maintenance)
    return path


def test_outage_during_maintenance_pages_only_once_it_ends(
    tmp_path: Path, service: DemoService, webhook_receiver: WebhookReceiver
) -> None:
    config = write(
        tmp_path,
        service.url,
        webhook_receiver.url,
        f"maintenance:\n  - {{slo: checkout, until: {UNTIL:.0f}, reason: db move}}\n",
    )
    clock = Clock(T0)
    daemon = Daemon(config, clock=clock)
    daemon.evaluate()
    for _ in range(10):
        step(daemon, clock, service, good=1000, bad=0)
    for _ in range(8):  # the outage starts inside the maintenance window
        step(daemon, clock, service, good=500, bad=500)
    assert page_1h(webhook_receiver.notifications, "firing") == []
    silenced = daemon.runtime.engine.facts("silenced")
    assert [f["reason"] for f in silenced] == ["db move"]

    for _ in range(3):  # the window ends; the outage goes on
        step(daemon, clock, service, good=500, bad=500)
    assert clock.t > UNTIL
    assert len(page_1h(webhook_receiver.notifications, "firing")) == 1
    assert daemon.runtime.engine.facts("maintenance") == []
    daemon.stop()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "  - {slo: chekout, until: 1900000000}\n",
            "maintenance[0].slo: names no SLO; did you mean 'checkout'?, got 'chekout'",
        ),
        (
            "  - {slo: checkout, until: tomorrow}\n",
            "maintenance[0].until: must be Unix seconds or an ISO 8601 time with a "
            "zone, e.g. 2026-12-03T18:00:00Z, got 'tomorrow'",
        ),
    ],
)
def test_bad_maintenance_entries_name_the_field(
    tmp_path: Path, entry: str, message: str
) -> None:
    config = write(tmp_path, "http://127.0.0.1:1", "http://127.0.0.1:2/", "")
    config.write_text(config.read_text() + "maintenance:\n" + entry)
    with pytest.raises(ConfigErrors) as info:
        load_config(config)
    (error,) = info.value.errors
    assert str(error).split(": ", 1)[1] == message


def test_iso_times_are_read_with_their_zone(tmp_path: Path) -> None:
    config = write(tmp_path, "http://127.0.0.1:1", "http://127.0.0.1:2/", "")
    config.write_text(
        config.read_text()
        + "maintenance:\n  - {slo: checkout, until: '2027-01-01T00:00:00+01:00'}\n"
    )
    (m,) = load_config(config).maintenance
    assert m.until == 1798758000.0


def test_maintenance_starting_during_a_page_holds_it_instead_of_resolving(
    tmp_path: Path, service: DemoService, webhook_receiver: WebhookReceiver
) -> None:
    starts, until = T0 + 14 * 60, T0 + 18 * 60
    config = write(
        tmp_path,
        service.url,
        webhook_receiver.url,
        "maintenance:\n"
        f"  - {{slo: checkout, starts: {starts:.0f}, until: {until:.0f}, reason: x}}\n",
    )
    clock = Clock(T0)
    daemon = Daemon(config, clock=clock)
    daemon.evaluate()
    for _ in range(10):
        step(daemon, clock, service, good=1000, bad=0)
    for _ in range(12):  # paging before, during and after the window
        step(daemon, clock, service, good=500, bad=500)
    assert clock.t > until
    assert len(page_1h(webhook_receiver.notifications, "firing")) == 1
    assert page_1h(webhook_receiver.notifications, "resolved") == []
    daemon.stop()
