"""Alertmanager v2: leases, re-sends to every replica, explicit resolves (C19)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from sentinel.alerts import AlertBook, AlertState
from sentinel.errors import NotifyError
from sentinel.notify.alertmanager import AlertmanagerNotifier, alertmanager_cluster
from sentinel.notify.base import rfc3339
from sentinel.notify.outbox import Outbox
from sentinel.store import Store
from tests.conftest import AlertmanagerFactory
from tests.harness.webhook import WebhookReceiver
from tests.notify.conftest import MIN, T0, alert, candidate

FIVE_MIN = 5 * MIN


@pytest.fixture
def second_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def pushes(receiver: WebhookReceiver) -> list[list[dict[str, object]]]:
    return [json.loads(body) for _, _, body in receiver.requests]


def test_payload_is_what_alertmanager_expects() -> None:
    am = AlertmanagerNotifier(
        "http://am:9093/", interval_s=FIVE_MIN, external_url="https://sentinel.example/"
    )
    (out,) = am.outgoing(T0, [], [alert()])
    assert out.status == "firing"
    assert out.payload == {
        "labels": {
            "alertname": "SLOBurnRateHigh",
            "severity": "page",
            "slo": "checkout",
            "service": "shop",
            "tier": "page-1h",
        },
        "annotations": {
            "summary": "checkout is burning its error budget",
            "description": "burn rate 1h 20.5 and 5m 31.2 over 14.4",
            "runbook_url": "https://runbooks.example/slo-burn-rate",
        },
        "startsAt": "2026-03-02T09:58:00.000Z",
        "endsAt": "2026-03-02T10:20:00.000Z",
        "generatorURL": "https://sentinel.example/api/v1/slos/checkout",
    }


@pytest.mark.parametrize(
    ("interval", "lease"), [(FIVE_MIN, 20 * MIN), (MIN, 4 * MIN), (15.0, 4 * MIN)]
)
def test_lease_is_four_intervals_of_at_least_a_minute(
    interval: float, lease: float
) -> None:
    am = AlertmanagerNotifier("http://am:9093", interval_s=interval)
    (out,) = am.outgoing(T0, [], [alert()])
    assert out.payload["endsAt"] == rfc3339(T0 + lease)


def test_pending_alerts_are_not_sent_and_old_resolves_stop() -> None:
    am = AlertmanagerNotifier("http://am:9093")
    assert am.outgoing(T0, [], [alert(AlertState.PENDING, fired_at=None)]) == []
    resolved = alert(AlertState.RESOLVED, resolved_at=T0)
    (out,) = am.outgoing(T0 + 15 * MIN, [], [resolved])
    assert out.status == "resolved"
    assert out.payload["endsAt"] == rfc3339(T0)
    assert am.outgoing(T0 + 15 * MIN + 1, [], [resolved]) == []


def test_target_name_is_per_replica_and_free_of_credentials() -> None:
    a, b = alertmanager_cluster(
        ["http://user:secret@am-0:9093", "http://am-1:9093/"], name="am"
    )
    assert (a.name, b.name) == ("am@am-0:9093", "am@am-1:9093")
    assert "secret" not in repr(a)


def test_http_error_is_a_notify_error(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.status = 400
    am = AlertmanagerNotifier(webhook_receiver.url)
    with pytest.raises(NotifyError, match=r"HTTP 400"):
        am.send([{"labels": {}}])


def test_connection_refused_is_a_notify_error_with_its_cause() -> None:
    am = AlertmanagerNotifier("http://127.0.0.1:9", timeout=2)
    with pytest.raises(NotifyError) as info:
        am.send([{"labels": {}}])
    assert info.value.__cause__ is not None


class TestC19Lease:
    """C19: evaluation every 5 min, two replicas, condition true for 30 minutes."""

    def test_every_push_is_leased_and_goes_to_every_replica(
        self,
        store: Store,
        webhook_receiver: WebhookReceiver,
        second_receiver: WebhookReceiver,
    ) -> None:
        replicas = alertmanager_cluster(
            [webhook_receiver.url, second_receiver.url], interval_s=FIVE_MIN
        )
        outbox = Outbox(store, replicas)
        book = AlertBook(store, outbox)

        # true for 30 minutes: evaluations at 0, 5, ..., 30
        for i in range(7):
            now = T0 + i * FIVE_MIN
            book.update(now, [candidate()])
            outbox.deliver_due(now)
        for receiver in (webhook_receiver, second_receiver):
            got = pushes(receiver)
            assert len(got) == 7
            for i, (push,) in enumerate(got):
                assert push["startsAt"] == rfc3339(T0)
                assert push["endsAt"] == rfc3339(T0 + i * FIVE_MIN + 20 * MIN)
            assert {path for path, _, _ in receiver.requests} == {"/api/v2/alerts"}

        # cleared at 35: an explicit resolve, re-sent for 15 minutes
        resolved_at = T0 + 35 * MIN
        for i in range(5):
            now = resolved_at + i * FIVE_MIN
            book.update(now, [])
            outbox.deliver_due(now)
        for receiver in (webhook_receiver, second_receiver):
            resolves = pushes(receiver)[7:]
            assert [p["endsAt"] for (p,) in resolves] == [rfc3339(resolved_at)] * 4


def _parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@pytest.mark.integration
def test_c19_two_real_replicas_notify_once_then_resolve(
    store: Store,
    alertmanager_factory: AlertmanagerFactory,
    webhook_receiver: WebhookReceiver,
) -> None:
    """C19 against two clustered Alertmanagers, on a compressed clock.

    Evaluations step 5 simulated minutes each, a fraction of a second apart, starting
    at the real time, so every lease lies ahead of Alertmanager's own clock as it
    would in production. Alertmanager compares a resolve's endsAt with its wall
    clock, so the clearing evaluation runs at the real time.
    """
    servers = alertmanager_factory(2)
    replicas = alertmanager_cluster([s.url for s in servers], interval_s=FIVE_MIN)
    outbox = Outbox(store, replicas)
    book = AlertBook(store, outbox)

    start = time.time()
    for i in range(7):
        now = start + i * FIVE_MIN
        book.update(now, [candidate()])
        assert outbox.deliver_due(now) == 2
        time.sleep(0.3)
    webhook_receiver.wait_for(lambda ns: len(ns) >= 1, timeout=15)
    time.sleep(2.5)  # room for a duplicate or a flap to show up
    for server in servers:
        (held,) = server.alerts()
        assert held["status"]["state"] == "active"
        assert _parse(held["endsAt"]) == pytest.approx(start + 50 * MIN, abs=1)

    cleared = time.time()
    book.update(cleared, [])
    assert outbox.deliver_due(cleared) == 2
    got = webhook_receiver.wait_for(
        lambda ns: any(n["status"] == "resolved" for n in ns), timeout=15
    )
    statuses = [n["status"] for n in got]
    assert statuses.count("firing") == 1, statuses
    assert statuses[0] == "firing"
    resolved = next(n for n in got if n["status"] == "resolved")
    (a,) = resolved["alerts"]
    assert a["labels"]["slo"] == "checkout"
    assert _parse(a["endsAt"]) == pytest.approx(cleared, abs=1)
    assert outbox.queue_lengths() == {r.name: 0 for r in replicas}
    stored = book.get(candidate().fingerprint)
    assert stored is not None and stored.state is AlertState.RESOLVED
