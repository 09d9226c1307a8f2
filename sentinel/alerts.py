"""Alert identity and lifecycle, persisted in SQLite.

The rule engine says, at every evaluation, which alerts *should* be active: a set of
:class:`AlertCandidate`. This module turns that stream of sets into a lifecycle with
memory, the way Prometheus does for its alerting rules::

    (absent) --candidate--> pending --for elapsed--> firing
    pending  --candidate gone--> (absent)                      no notification
    firing   --candidate gone for keep_firing_for--> resolved  one notification
    resolved --kept a while (re-sends), then forgotten

An alert whose condition cannot be evaluated, because the SLI data it depends on is
missing, is *held*: it keeps its state. A scrape gap never resolves a firing page, nor
promotes a pending one; once data is back, the condition decides again.

State is written to the store (``sentinel.store``) in one transaction with whatever a
:class:`NotificationSink` queues for it (the notification outbox), so after a crash
or a restart the daemon neither repeats a notification nor loses one: a firing alert
comes back firing with its original start time, and one that cleared while the daemon
was down resolves once, at the first evaluation that no longer sees it.

Times are Unix seconds passed in by the caller (``now``); nothing here reads a clock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from sentinel.store import Migration, Store

log = logging.getLogger(__name__)

COMPONENT = "alerts"
"""The alert state's component name in the store's schema versions."""

MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE alert_state (
        fingerprint TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        annotations TEXT NOT NULL,
        severity TEXT NOT NULL,
        runbook_url TEXT,
        explanation TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
        active_since REAL NOT NULL,
        fired_at REAL,
        cleared_at REAL,
        held_since REAL,
        resolved_at REAL,
        last_sent REAL,
        for_s REAL NOT NULL DEFAULT 0,
        keep_firing_for_s REAL NOT NULL DEFAULT 0
    );
    """,
)
"""The ``alert_state`` table, one entry per schema version (see ``Store.migrate``)."""


class AlertState(StrEnum):
    INACTIVE = "inactive"  # only ever a transition's end: the alert is forgotten
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertCandidate:
    """An alert the rules say should be active at this evaluation.

    ``labels`` are the alert's identity together with ``name`` (and ``severity`` when
    the labels do not carry one). ``held`` means the condition could not be evaluated
    because data is missing: an active alert with this identity keeps its state.
    ``explanation`` is whatever the rule engine gives to say why (rendered with its
    ``text()`` method when it has one, else ``str``).
    """

    name: str
    labels: Mapping[str, str]
    severity: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    runbook_url: str | None = None
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    explanation: object | None = None
    held: bool = False

    def alert_labels(self) -> dict[str, str]:
        return alert_labels(self.name, self.labels, self.severity)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.alert_labels())


def alert_labels(
    name: str, labels: Mapping[str, str], severity: str | None = None
) -> dict[str, str]:
    """An alert's full label set: its labels plus ``alertname`` and ``severity``."""
    out = {str(k): str(v) for k, v in labels.items()}
    out["alertname"] = name
    if severity and "severity" not in out:
        out["severity"] = severity
    return out


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable identity for a label set: 16 hex digits of SHA-256 over sorted pairs."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def explanation_text(explanation: object | None) -> str | None:
    if explanation is None:
        return None
    render = getattr(explanation, "text", None)
    if callable(render):
        return str(render())
    return str(explanation)


@dataclass(frozen=True)
class Alert:
    """One alert the book remembers: its identity, content and lifecycle times."""

    fingerprint: str
    name: str
    labels: Mapping[str, str]  # full set, alertname and severity included
    annotations: Mapping[str, str]
    severity: str
    state: AlertState
    active_since: float  # the condition was first seen (Prometheus' activeAt)
    runbook_url: str | None = None
    explanation: str | None = None
    fired_at: float | None = None
    cleared_at: float | None = None  # the condition has been absent since
    held_since: float | None = None  # data missing since; timers stopped
    resolved_at: float | None = None
    last_sent: float | None = None  # a notification was last queued
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0

    @property
    def held(self) -> bool:
        return self.held_since is not None

    @property
    def slo(self) -> str | None:
        return self.labels.get("slo")


@dataclass(frozen=True)
class Transition:
    """An alert changed state at ``at``; ``alert`` is its state after the change."""

    alert: Alert
    previous: AlertState
    current: AlertState
    at: float

    @property
    def notifies(self) -> bool:
        """Whether receivers are told: only on firing and on resolve."""
        return self.current in (AlertState.FIRING, AlertState.RESOLVED)


class NotificationSink(Protocol):
    """Queues notifications inside the book's write transaction.

    ``enqueue`` must write through ``conn`` without committing; it returns the
    fingerprints it queued something for (their ``last_sent`` becomes ``now``).
    """

    def enqueue(
        self,
        conn: sqlite3.Connection,
        now: float,
        transitions: Sequence[Transition],
        alerts: Sequence[Alert],
    ) -> Collection[str]: ...


class AlertBook:
    """The lifecycle of every alert, kept in memory and written through to SQLite.

    The book brings ``store`` to its schema and loads the alerts it finds there.
    ``sink`` queues notifications in the same transaction as the state change.
    Resolved alerts are kept ``keep_resolved_s`` seconds (notifiers re-send resolves
    from them), then forgotten.
    """

    def __init__(
        self,
        store: Store,
        sink: NotificationSink | None = None,
        keep_resolved_s: float = 900.0,
    ) -> None:
        store.migrate(COMPONENT, MIGRATIONS)
        self._store = store
        self._sink = sink
        self._keep_resolved_s = keep_resolved_s
        self._lock = threading.Lock()
        self._alerts: dict[str, Alert] = self._load()
        if self._alerts:
            log.info("restored %d alerts from the store", len(self._alerts))

    def alerts(self, states: Collection[AlertState] | None = None) -> list[Alert]:
        """A snapshot of the remembered alerts, oldest first."""
        with self._lock:
            found = [
                a for a in self._alerts.values() if not states or a.state in states
            ]
        return sorted(found, key=lambda a: (a.active_since, a.fingerprint))

    def get(self, fp: str) -> Alert | None:
        with self._lock:
            return self._alerts.get(fp)

    def update(
        self,
        now: float,
        candidates: Iterable[AlertCandidate],
        held_slos: Collection[str] = (),
    ) -> list[Transition]:
        """Advance every alert to ``now`` given this evaluation's candidates.

        ``held_slos`` names SLOs whose data is missing: their active alerts are held
        whether or not a candidate was produced for them. Returns the transitions, in
        a stable order; they (and the sink's rows) are committed when this returns.
        Raises :class:`StoreError` when the write fails; the book then keeps its
        state from before the call.
        """
        with self._lock:
            before = self._alerts
            after = dict(before)
            transitions = _advance(after, now, _by_fingerprint(candidates), held_slos)
            self._forget_old_resolved(after, now)
            self._write(before, after, now, transitions)
            self._alerts = after
        for t in transitions:
            alert = t.alert
            log.debug(
                "alert %s %s: %s -> %s",
                alert.name,
                alert.fingerprint,
                t.previous,
                t.current,
            )
        return transitions

    def _forget_old_resolved(self, alerts: dict[str, Alert], now: float) -> None:
        horizon = now - self._keep_resolved_s
        for fp, alert in list(alerts.items()):
            resolved_at = alert.resolved_at
            if resolved_at is not None and resolved_at < horizon:
                del alerts[fp]

    def _write(
        self,
        before: Mapping[str, Alert],
        after: dict[str, Alert],
        now: float,
        transitions: Sequence[Transition],
    ) -> None:
        with self._store.transaction() as conn:
            gone = [fp for fp in before if fp not in after]
            conn.executemany(
                "DELETE FROM alert_state WHERE fingerprint = ?", [(fp,) for fp in gone]
            )
            if self._sink is not None:
                snapshot = sorted(after.values(), key=lambda a: a.active_since)
                sent = self._sink.enqueue(conn, now, transitions, snapshot)
                for fp in sent:
                    if fp in after:
                        after[fp] = replace(after[fp], last_sent=now)
            changed = [a for fp, a in after.items() if before.get(fp) != a]
            conn.executemany(_UPSERT, [_row(a) for a in changed])

    def _load(self) -> dict[str, Alert]:
        rows = self._store.query(f"SELECT {_COLUMNS} FROM alert_state")
        return {row[0]: _from_row(row) for row in rows}


def _by_fingerprint(candidates: Iterable[AlertCandidate]) -> dict[str, AlertCandidate]:
    out: dict[str, AlertCandidate] = {}
    for c in candidates:
        fp = c.fingerprint
        # Two rules deriving the same alert: a held copy never overrides a live one.
        if fp not in out or out[fp].held:
            out[fp] = c
    return out


def _advance(
    alerts: dict[str, Alert],
    now: float,
    candidates: Mapping[str, AlertCandidate],
    held_slos: Collection[str],
) -> list[Transition]:
    """Move each alert one step; mutates ``alerts``, returns the transitions."""
    transitions: list[Transition] = []

    def record(new: Alert | None, old: Alert) -> None:
        if new is None:
            del alerts[old.fingerprint]
            transitions.append(Transition(old, old.state, AlertState.INACTIVE, now))
            return
        alerts[new.fingerprint] = new
        if new.state != old.state:
            transitions.append(Transition(new, old.state, new.state, now))

    # live candidates: start an alert, or carry it on
    for fp, cand in sorted(candidates.items()):
        old = alerts.get(fp)
        if cand.held:
            continue
        if old is None or old.state is AlertState.RESOLVED:
            new = _new_alert(fp, cand, now)
            alerts[fp] = new
            previous = AlertState.INACTIVE if old is None else old.state
            transitions.append(Transition(new, previous, AlertState.PENDING, now))
            if new.for_s <= 0:
                record(_fire(new, now), new)
            continue
        current = _refresh(old, cand)
        due = now - current.active_since >= current.for_s
        if current.state is AlertState.PENDING and due:
            current = _fire(current, now)
        record(current, old)

    # alerts without a live candidate: held, or clearing
    for fp, old in sorted(alerts.items()):
        if old.state is AlertState.RESOLVED:
            continue
        seen = candidates.get(fp)
        if seen is not None and not seen.held:
            continue
        if seen is not None or old.slo in held_slos:
            if old.held_since is None:
                record(replace(old, held_since=now), old)
            continue
        old_unheld = replace(old, held_since=None)
        if old.state is AlertState.PENDING:
            record(None, old)
            continue
        cleared_at = old.cleared_at if old.cleared_at is not None else now
        if now - cleared_at >= old.keep_firing_for_s:
            record(
                replace(
                    old_unheld,
                    state=AlertState.RESOLVED,
                    cleared_at=cleared_at,
                    resolved_at=now,
                ),
                old,
            )
        else:
            record(replace(old_unheld, cleared_at=cleared_at), old)
    return transitions


def _new_alert(fp: str, cand: AlertCandidate, now: float) -> Alert:
    return Alert(
        fingerprint=fp,
        name=cand.name,
        labels=cand.alert_labels(),
        annotations=_annotations(cand),
        severity=cand.severity,
        state=AlertState.PENDING,
        active_since=now,
        runbook_url=cand.runbook_url,
        explanation=explanation_text(cand.explanation),
        for_s=cand.for_s,
        keep_firing_for_s=cand.keep_firing_for_s,
    )


def _refresh(old: Alert, cand: AlertCandidate) -> Alert:
    """The alert with the candidate's latest content; the condition holds again.

    The explanation is the one from when the alert became active: why it started.
    Rendering it anew each evaluation would cost more than the rest of the update,
    and the annotations already carry the latest numbers.
    """
    return replace(
        old,
        annotations=_annotations(cand),
        runbook_url=cand.runbook_url,
        explanation=old.explanation or explanation_text(cand.explanation),
        for_s=cand.for_s,
        keep_firing_for_s=cand.keep_firing_for_s,
        cleared_at=None,
        held_since=None,
    )


def _fire(alert: Alert, now: float) -> Alert:
    return replace(alert, state=AlertState.FIRING, fired_at=now)


def _annotations(cand: AlertCandidate) -> dict[str, str]:
    out = {str(k): str(v) for k, v in cand.annotations.items()}
    if cand.runbook_url and "runbook_url" not in out:
        out["runbook_url"] = cand.runbook_url
    return out


_FIELDS = (
    "fingerprint",
    "name",
    "labels",
    "annotations",
    "severity",
    "runbook_url",
    "explanation",
    "state",
    "active_since",
    "fired_at",
    "cleared_at",
    "held_since",
    "resolved_at",
    "last_sent",
    "for_s",
    "keep_firing_for_s",
)
_COLUMNS = ", ".join(_FIELDS)
_UPSERT = (
    f"INSERT OR REPLACE INTO alert_state ({_COLUMNS}) "
    f"VALUES ({', '.join('?' for _ in _FIELDS)})"
)


def _row(alert: Alert) -> tuple[Any, ...]:
    values = {f: getattr(alert, f) for f in _FIELDS}
    values["labels"] = json.dumps(dict(alert.labels), sort_keys=True)
    values["annotations"] = json.dumps(dict(alert.annotations), sort_keys=True)
    values["state"] = alert.state.value
    return tuple(values[f] for f in _FIELDS)


def _from_row(row: Sequence[Any]) -> Alert:
    values = dict(zip(_FIELDS, row, strict=True))
    values["labels"] = json.loads(values["labels"])
    values["annotations"] = json.loads(values["annotations"])
    values["state"] = AlertState(values["state"])
    return Alert(**values)
