"""Fixtures for notifier and outbox tests: a store, alerts, a scriptable notifier."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from sentinel.alerts import Alert, AlertCandidate, AlertState, Transition
from sentinel.errors import NotifyError
from sentinel.notify.base import Outgoing, Payload, TransitionNotifier
from sentinel.store import Store

T0 = 1_772_445_600.0  # 2026-03-02T10:00:00Z
MIN = 60.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "sentinel.db")
    yield s
    s.close()


def candidate(slo: str = "checkout", **annotations: str) -> AlertCandidate:
    return AlertCandidate(
        name="SLOBurnRateHigh",
        labels={"slo": slo, "service": "shop", "tier": "page-1h"},
        severity="page",
        annotations={
            "summary": f"{slo} is burning its error budget",
            "description": "burn rate 1h 20.5 and 5m 31.2 over 14.4",
            **annotations,
        },
        runbook_url="https://runbooks.example/slo-burn-rate",
    )


def alert(state: AlertState = AlertState.FIRING, **changes: object) -> Alert:
    values: dict[str, object] = {
        "fingerprint": candidate().fingerprint,
        "name": "SLOBurnRateHigh",
        "labels": candidate().alert_labels(),
        "annotations": {
            "summary": "checkout is burning its error budget",
            "description": "burn rate 1h 20.5 and 5m 31.2 over 14.4",
            "runbook_url": "https://runbooks.example/slo-burn-rate",
        },
        "severity": "page",
        "state": state,
        "active_since": T0 - 2 * MIN,
        "fired_at": T0,
        "runbook_url": "https://runbooks.example/slo-burn-rate",
        "explanation": "sli(checkout, 1h) ... by rule 'fast-burn-page'",
    }
    if state is AlertState.RESOLVED:
        values["resolved_at"] = T0 + 30 * MIN
    values.update(changes)
    return Alert(**values)  # type: ignore[arg-type]


def transition(a: Alert) -> Transition:
    previous = (
        AlertState.FIRING if a.state is AlertState.RESOLVED else AlertState.PENDING
    )
    return Transition(a, previous, a.state, T0)


class FakeNotifier(TransitionNotifier):
    """Records what it is sent; ``down`` makes every send fail."""

    def __init__(self, name: str = "fake", max_batch: int = 1) -> None:
        self.name = name
        self.max_batch = max_batch
        self.batches: list[list[Payload]] = []
        self.down = False

    def render(self, alert: Alert, now: float) -> Payload:
        return {"fp": alert.fingerprint, "status": alert.state.value, "at": now}

    def send(self, batch: Sequence[Payload]) -> None:
        if self.down:
            raise NotifyError(f"{self.name}: connection refused")
        self.batches.append(list(batch))

    @property
    def received(self) -> list[tuple[str, str]]:
        return [(p["fp"], p["status"]) for b in self.batches for p in b]


class ResendingNotifier(FakeNotifier):
    """Like Alertmanager: every firing alert at every evaluation, coalesced."""

    coalesce = True

    def outgoing(
        self, now: float, transitions: Sequence[Transition], alerts: Sequence[Alert]
    ) -> list[Outgoing]:
        return [
            Outgoing(a.fingerprint, a.state.value, self.render(a, now))
            for a in alerts
            if a.state in (AlertState.FIRING, AlertState.RESOLVED)
        ]
