"""The durable outbox: notifications survive a dead receiver and a dead daemon.

Rows are committed to SQLite in the same transaction as the alert state that caused
them (the outbox is the alert book's :class:`~sentinel.alerts.NotificationSink`), and
only then sent. A ``deliver_due`` pass sends each target's rows in order; a failure
backs that target off exponentially, with jitter, from ``backoff_base`` up to
``backoff_cap``, and nothing is dropped: a receiver down for an hour gets the whole
queue once it is back. Delivery is at least once: a crash between a successful send
and its commit sends that batch again.

Order is kept per target: rows go out in the order they were queued, and a target's
queue waits behind its oldest row, so a resolve never overtakes its firing. Targets
that re-send state at every evaluation (Alertmanager) *coalesce*: a newer payload for
an alert replaces the undelivered one of the same status in place, so a target that
is down does not pile up stale copies; a change of status is always kept.

Delivered rows are kept ``keep_delivered_s`` (a day) for inspection, then purged.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sentinel.alerts import Alert, Transition
from sentinel.errors import NotifyError
from sentinel.notify.base import Notifier, Outgoing
from sentinel.store import Migration, Store

log = logging.getLogger(__name__)

COMPONENT = "outbox"

MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status TEXT NOT NULL,
        payload TEXT NOT NULL,
        revision INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL,
        last_error TEXT,
        delivered_at REAL
    );
    CREATE INDEX outbox_queue ON outbox (target, id) WHERE delivered_at IS NULL;
    CREATE INDEX outbox_alert ON outbox (target, fingerprint)
        WHERE delivered_at IS NULL;
    """,
)
"""The ``outbox`` table, one entry per schema version (see ``Store.migrate``)."""


class DeliveryMetrics(Protocol):
    """Where delivery outcomes are counted (the daemon's metrics object)."""

    def notification(self, notifier: str, sent: bool) -> None: ...


@dataclass
class OutboxStats:
    """Counters since start, by target: notifications sent, failed send attempts."""

    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    last_error: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Row:
    id: int
    revision: int
    attempts: int
    next_attempt: float
    payload: str


class Outbox:
    """Queued notifications for ``notifiers``, kept in ``store``.

    ``jitter`` (a number in [0, 1)) spreads the backoff; ``metrics`` gets one
    ``notification(target, sent)`` per notification sent and per failed attempt.
    """

    def __init__(
        self,
        store: Store,
        notifiers: Sequence[Notifier],
        *,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        keep_delivered_s: float = 86400.0,
        jitter: Callable[[], float] = random.random,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        names = [n.name for n in notifiers]
        if len(set(names)) != len(names):
            raise ValueError(f"notifier names must be unique, got {names}")
        store.migrate(COMPONENT, MIGRATIONS)
        self._store = store
        self.notifiers = list(notifiers)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.keep_delivered_s = keep_delivered_s
        self._jitter = jitter
        self._purged_at = float("-inf")
        self._delivering = threading.Lock()
        self._metrics = metrics
        self.stats = OutboxStats()
        self._warn_orphans()

    # queueing, inside the alert book's transaction

    def enqueue(
        self,
        conn: sqlite3.Connection,
        now: float,
        transitions: Sequence[Transition],
        alerts: Sequence[Alert],
    ) -> Collection[str]:
        """Queue what each notifier wants sent for this evaluation (no commit).

        A notifier that fails to render is logged and skipped: the others, and the
        alert state, still go through.
        """
        queued: set[str] = set()
        for notifier in self.notifiers:
            try:
                outgoing = notifier.outgoing(now, transitions, alerts)
            except Exception:
                log.exception("notifier %s failed to render; dropped", notifier.name)
                continue
            self.add(conn, notifier.name, outgoing, now, coalesce=notifier.coalesce)
            queued.update(o.fingerprint for o in outgoing)
        return queued

    def add(
        self,
        conn: sqlite3.Connection,
        target: str,
        outgoing: Sequence[Outgoing],
        now: float,
        *,
        coalesce: bool = False,
    ) -> None:
        """Append rows for ``target`` through ``conn`` (the caller commits)."""
        for o in outgoing:
            payload = json.dumps(o.payload, sort_keys=True)
            if coalesce and self._replace(conn, target, o, payload, now):
                continue
            conn.execute(
                "INSERT INTO outbox (target, fingerprint, status, payload, created, "
                "next_attempt) VALUES (?, ?, ?, ?, ?, ?)",
                (target, o.fingerprint, o.status, payload, now, now),
            )

    def _replace(
        self,
        conn: sqlite3.Connection,
        target: str,
        o: Outgoing,
        payload: str,
        now: float,
    ) -> bool:
        # Only the newest undelivered row of the alert may be replaced, and only by
        # the same status: firing, resolved, firing again are three rows.
        last = conn.execute(
            "SELECT id, status FROM outbox WHERE target = ? AND fingerprint = ? "
            "AND delivered_at IS NULL ORDER BY id DESC LIMIT 1",
            (target, o.fingerprint),
        ).fetchone()
        if last is None or last[1] != o.status:
            return False
        conn.execute(
            "UPDATE outbox SET payload = ?, created = ?, revision = revision + 1 "
            "WHERE id = ?",
            (payload, now, last[0]),
        )
        return True

    # delivery

    def deliver_due(self, now: float, max_batches: int = 100) -> int:
        """Send every target's due rows, in order; returns how many were delivered.

        Sending happens outside any transaction. A target whose oldest row is not due
        yet is skipped; one that fails is backed off and the pass moves on. A pass
        started while another runs (from another thread) returns 0 at once.
        """
        if not self._delivering.acquire(blocking=False):
            return 0
        try:
            delivered = 0
            for notifier in self.notifiers:
                delivered += self._deliver_target(notifier, now, max_batches)
            if now - self._purged_at >= 600:
                self.purge(now)
                self._purged_at = now
            return delivered
        finally:
            self._delivering.release()

    def _deliver_target(self, notifier: Notifier, now: float, max_batches: int) -> int:
        delivered = 0
        for _ in range(max_batches):
            rows = self._head(notifier.name, max(1, notifier.max_batch))
            if not rows or rows[0].next_attempt > now:
                break

            # send the batch
            started = time.monotonic()
            try:
                notifier.send([json.loads(r.payload) for r in rows])
            except NotifyError as exc:
                self._failed(notifier.name, rows, now, str(exc))
                break
            except Exception as exc:
                log.exception("notifier %s raised unexpectedly", notifier.name)
                self._failed(notifier.name, rows, now, f"{type(exc).__name__}: {exc}")
                break

            # record it
            self._delivered(rows, now)
            delivered += len(rows)
            self.stats.sent[notifier.name] += len(rows)
            if self._metrics is not None:
                for _ in rows:
                    self._metrics.notification(notifier.name, True)
            log.debug(
                "delivered %d notifications to %s in %.3fs",
                len(rows),
                notifier.name,
                time.monotonic() - started,
            )
        return delivered

    def _head(self, target: str, limit: int) -> list[_Row]:
        rows = self._store.query(
            "SELECT id, revision, attempts, next_attempt, payload FROM outbox "
            "WHERE target = ? AND delivered_at IS NULL ORDER BY id LIMIT ?",
            (target, limit),
        )
        return [_Row(*r) for r in rows]

    def _delivered(self, rows: Sequence[_Row], now: float) -> None:
        # A row coalesced while it was being sent keeps its newer payload queued.
        with self._store.transaction() as conn:
            conn.executemany(
                "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, "
                "last_error = NULL WHERE id = ? AND revision = ?",
                [(now, r.id, r.revision) for r in rows],
            )

    def _failed(
        self, target: str, rows: Sequence[_Row], now: float, error: str
    ) -> None:
        attempts = rows[0].attempts + 1
        delay = self.backoff(attempts)
        log.warning(
            "notifier %s failed (attempt %d, %d queued in this batch), retry in "
            "%.1fs: %s",
            target,
            attempts,
            len(rows),
            delay,
            error,
        )
        with self._store.transaction() as conn:
            conn.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, "
                "next_attempt = ? WHERE id = ?",
                [(error[:1000], now + delay, r.id) for r in rows],
            )
        self.stats.failed[target] += 1
        self.stats.last_error[target] = error
        if self._metrics is not None:
            self._metrics.notification(target, False)

    def backoff(self, attempts: int) -> float:
        """Delay after the ``attempts``-th failure: doubling, capped, half jittered."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** min(attempts - 1, 30))
        return max(self.backoff_base, ceiling / 2 + self._jitter() * ceiling / 2)

    # housekeeping and inspection

    def purge(self, now: float) -> int:
        """Delete rows delivered more than ``keep_delivered_s`` ago."""
        with self._store.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM outbox WHERE delivered_at < ?",
                (now - self.keep_delivered_s,),
            )
        return cursor.rowcount

    def queue_lengths(self) -> dict[str, int]:
        """Undelivered rows by target, every configured target included."""
        lengths = {n.name: 0 for n in self.notifiers}
        rows = self._store.query(
            "SELECT target, count(*) FROM outbox WHERE delivered_at IS NULL "
            "GROUP BY target"
        )
        lengths.update({target: count for target, count in rows})
        return lengths

    def next_due(self) -> float | None:
        """When the earliest configured target's oldest row is due, if any."""
        due = None
        for notifier in self.notifiers:
            head = self._head(notifier.name, 1)
            if head and (due is None or head[0].next_attempt < due):
                due = head[0].next_attempt
        return due

    def pending(self, target: str) -> list[dict[str, Any]]:
        """The undelivered rows of ``target``, oldest first, for inspection."""
        rows = self._store.query(
            "SELECT id, fingerprint, status, payload, created, attempts, "
            "next_attempt, last_error FROM outbox "
            "WHERE target = ? AND delivered_at IS NULL ORDER BY id",
            (target,),
        )
        keys = (
            "id",
            "fingerprint",
            "status",
            "payload",
            "created",
            "attempts",
            "next_attempt",
            "last_error",
        )
        out = [dict(zip(keys, r, strict=True)) for r in rows]
        for row in out:
            row["payload"] = json.loads(row["payload"])
        return out

    def _warn_orphans(self) -> None:
        known = {n.name for n in self.notifiers}
        for target, count in self.queue_lengths().items():
            if target not in known:
                log.warning(
                    "outbox holds %d undelivered notifications for %s, which is no "
                    "longer configured; they wait until it is configured again",
                    count,
                    target,
                )
