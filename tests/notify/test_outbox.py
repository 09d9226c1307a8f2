"""The outbox: committed with the alert state, sent in order, retried, never dropped."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from sentinel.alerts import AlertBook, AlertCandidate
from sentinel.errors import StoreError
from sentinel.notify.base import Outgoing, Payload
from sentinel.notify.outbox import Outbox
from sentinel.store import Store
from tests.notify.conftest import (
    MIN,
    T0,
    FakeNotifier,
    ResendingNotifier,
    candidate,
)


def evaluate(
    book: AlertBook, outbox: Outbox, now: float, *cands: AlertCandidate
) -> int:
    """One evaluation as the daemon runs it: update the book, then deliver."""
    book.update(now, cands)
    return outbox.deliver_due(now)


def test_transition_is_queued_with_the_state_and_delivered(store: Store) -> None:
    fake = FakeNotifier()
    outbox = Outbox(store, [fake])
    book = AlertBook(store, outbox)
    book.update(T0, [candidate()])
    assert outbox.queue_lengths() == {"fake": 1}
    assert fake.batches == []

    assert outbox.deliver_due(T0) == 1
    assert fake.received == [(candidate().fingerprint, "firing")]
    assert outbox.queue_lengths() == {"fake": 0}
    alert = book.get(candidate().fingerprint)
    assert alert is not None and alert.last_sent == T0

    assert outbox.deliver_due(T0 + MIN) == 0
    assert len(fake.batches) == 1


def test_failed_render_skips_that_notifier_only(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(FakeNotifier):
        def render(self, alert: object, now: float) -> Payload:
            raise KeyError("summary")

    good = FakeNotifier("good")
    outbox = Outbox(store, [Broken("broken"), good])
    book = AlertBook(store, outbox)
    with caplog.at_level(logging.ERROR):
        book.update(T0, [candidate()])
    assert outbox.queue_lengths() == {"broken": 0, "good": 1}
    assert "notifier broken failed to render" in caplog.text


def test_rows_and_state_roll_back_together(store: Store) -> None:
    class Exploding(Outbox):
        def add(self, *args: object, **kw: object) -> None:
            super().add(*args, **kw)  # type: ignore[arg-type]
            store.connection.execute("INSERT INTO no_such_table VALUES (1)")

    outbox = Exploding(store, [FakeNotifier()])
    book = AlertBook(store, outbox)
    with pytest.raises(StoreError, match="no_such_table"):
        book.update(T0, [candidate()])
    assert store.query("SELECT count(*) FROM outbox") == [(0,)]
    assert store.query("SELECT count(*) FROM alert_state") == [(0,)]
    assert book.alerts() == []


def test_backoff_doubles_is_jittered_and_capped(store: Store) -> None:
    outbox = Outbox(store, [], backoff_base=1.0, backoff_cap=300.0, jitter=lambda: 1.0)
    assert [outbox.backoff(n) for n in (1, 2, 3, 4, 9, 10, 50)] == [
        1.0,
        2.0,
        4.0,
        8.0,
        256.0,
        300.0,
        300.0,
    ]
    low = Outbox(store, [], jitter=lambda: 0.0)
    assert [low.backoff(n) for n in (1, 2, 3, 10)] == [1.0, 1.0, 2.0, 150.0]


def test_failure_backs_off_and_retries_when_due(store: Store) -> None:
    fake = FakeNotifier()
    outbox = Outbox(store, [fake], jitter=lambda: 1.0)
    book = AlertBook(store, outbox)
    fake.down = True
    evaluate(book, outbox, T0, candidate())
    row = outbox.pending("fake")[0]
    assert row["attempts"] == 1
    assert row["next_attempt"] == T0 + 1.0
    assert row["last_error"] == "fake: connection refused"

    # not due yet: not even tried
    assert outbox.deliver_due(T0 + 0.5) == 0
    assert outbox.pending("fake")[0]["attempts"] == 1
    assert outbox.next_due() == T0 + 1.0

    outbox.deliver_due(T0 + 1.0)
    assert outbox.pending("fake")[0]["next_attempt"] == T0 + 1.0 + 2.0
    assert outbox.stats.failed["fake"] == 2

    fake.down = False
    assert outbox.deliver_due(T0 + 3.0) == 1
    assert fake.received == [(candidate().fingerprint, "firing")]
    assert outbox.stats.sent["fake"] == 1


def test_receiver_down_for_an_hour_gets_everything_once_in_order(
    store: Store,
) -> None:
    """Firing, resolve and a new firing for two SLOs while the receiver is down."""
    fake = FakeNotifier(max_batch=1)
    outbox = Outbox(store, [fake])
    book = AlertBook(store, outbox)
    a, b = candidate("checkout"), candidate("search")
    fake.down = True
    now = T0
    plan = {0: [a], 10: [a, b], 20: [b], 30: [], 40: [a]}
    current: list[AlertCandidate] = []
    for minute in range(60):
        current = plan.get(minute, current)
        evaluate(book, outbox, now, *current)
        now += MIN
    assert fake.batches == []
    assert outbox.queue_lengths() == {"fake": 5}

    fake.down = False
    # back: within one capped backoff everything arrives, in queue order, once
    assert outbox.deliver_due(now + 300) == 5
    assert outbox.deliver_due(now + 600) == 0
    fa, fb = a.fingerprint, b.fingerprint
    assert fake.received == [
        (fa, "firing"),
        (fb, "firing"),
        (fa, "resolved"),
        (fb, "resolved"),
        (fa, "firing"),
    ]


def test_a_failing_target_does_not_block_another(store: Store) -> None:
    down, up = FakeNotifier("am-0"), FakeNotifier("am-1")
    outbox = Outbox(store, [down, up])
    book = AlertBook(store, outbox)
    down.down = True
    evaluate(book, outbox, T0, candidate())
    assert up.received == [(candidate().fingerprint, "firing")]
    assert outbox.queue_lengths() == {"am-0": 1, "am-1": 0}


def test_batches_follow_max_batch_and_keep_order(store: Store) -> None:
    fake = FakeNotifier(max_batch=2)
    outbox = Outbox(store, [fake])
    book = AlertBook(store, outbox)
    book.update(T0, [candidate(f"slo-{i}") for i in range(5)])
    assert outbox.deliver_due(T0) == 5
    assert [len(b) for b in fake.batches] == [2, 2, 1]
    slos = [p["fp"] for b in fake.batches for p in b]
    assert slos == [
        r[0] for r in store.query("SELECT fingerprint FROM outbox ORDER BY id")
    ]


class TestCoalescing:
    def test_resends_for_a_down_target_replace_each_other(self, store: Store) -> None:
        am = ResendingNotifier("am")
        outbox = Outbox(store, [am])
        book = AlertBook(store, outbox)
        am.down = True
        for i in range(30):
            evaluate(book, outbox, T0 + i * MIN, candidate())
        rows = outbox.pending("am")
        assert len(rows) == 1
        assert rows[0]["payload"]["at"] == T0 + 29 * MIN  # the newest payload

    def test_a_change_of_status_is_never_coalesced_away(self, store: Store) -> None:
        am = ResendingNotifier("am")
        outbox = Outbox(store, [am])
        book = AlertBook(store, outbox)
        am.down = True
        steps = [[candidate()]] * 3 + [[]] * 3 + [[candidate()]] * 3
        for i, cands in enumerate(steps):
            evaluate(book, outbox, T0 + i * MIN, *cands)
        assert [r["status"] for r in outbox.pending("am")] == [
            "firing",
            "resolved",
            "firing",
        ]
        am.down = False
        outbox.deliver_due(T0 + 3600)
        assert [s for _, s in am.received] == ["firing", "resolved", "firing"]

    def test_row_replaced_while_sending_stays_queued(self, store: Store) -> None:
        am = ResendingNotifier("am")
        outbox = Outbox(store, [am])
        book = AlertBook(store, outbox)
        book.update(T0, [candidate()])

        def send_and_requeue(batch: Sequence[Payload]) -> None:
            am.batches.append(list(batch))
            with store.transaction() as conn:
                newer = Outgoing(candidate().fingerprint, "firing", {"fp": "x"})
                outbox.add(conn, "am", [newer], T0 + 1, coalesce=True)

        am.send = send_and_requeue  # type: ignore[method-assign]
        outbox.deliver_due(T0, max_batches=1)
        assert [r["payload"] for r in outbox.pending("am")] == [{"fp": "x"}]


def test_metrics_counts_sent_and_failed(store: Store) -> None:
    seen: list[tuple[str, bool]] = []

    class Metrics:
        def notification(self, notifier: str, sent: bool) -> None:
            seen.append((notifier, sent))

    fake = FakeNotifier()
    outbox = Outbox(store, [fake], metrics=Metrics(), jitter=lambda: 0.0)
    book = AlertBook(store, outbox)
    fake.down = True
    evaluate(book, outbox, T0, candidate("a"), candidate("b"))
    fake.down = False
    outbox.deliver_due(T0 + 10)
    assert seen == [("fake", False), ("fake", True), ("fake", True)]


def test_delivered_rows_are_purged_after_a_day(store: Store) -> None:
    fake = FakeNotifier()
    outbox = Outbox(store, [fake])
    book = AlertBook(store, outbox)
    evaluate(book, outbox, T0, candidate())
    assert store.query("SELECT count(*) FROM outbox") == [(1,)]
    assert outbox.purge(T0 + 86400 + 1) == 1
    assert store.query("SELECT count(*) FROM outbox") == [(0,)]


def test_rows_of_a_removed_target_are_kept_and_reported(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    old = FakeNotifier("old-hook")
    old.down = True
    outbox = Outbox(store, [old])
    evaluate(AlertBook(store, outbox), outbox, T0, candidate())
    with caplog.at_level(logging.WARNING):
        outbox = Outbox(store, [FakeNotifier("new-hook")])
    assert outbox.queue_lengths() == {"new-hook": 0, "old-hook": 1}
    assert "1 undelivered notifications for old-hook" in caplog.text


def test_duplicate_target_names_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="unique"):
        Outbox(store, [FakeNotifier("x"), FakeNotifier("x")])


class TestC18RestartThroughTheOutbox:
    """C18 with notifiers: firing since 10:00, restart at 10:31, nothing repeated."""

    def first_run(self, store: Store) -> None:
        hook, am = FakeNotifier("hook"), ResendingNotifier("am")
        outbox = Outbox(store, [hook, am])
        book = AlertBook(store, outbox)
        for i in range(33):  # 09:58 .. 10:30
            page = candidate()
            book.update(T0 - 2 * MIN + i * MIN, [page])
            outbox.deliver_due(T0 - 2 * MIN + i * MIN)
        assert hook.received == [(page.fingerprint, "firing")]

    def restart(self, db: Path) -> tuple[Store, FakeNotifier, ResendingNotifier]:
        store = Store(db)
        hook, am = FakeNotifier("hook"), ResendingNotifier("am")
        return store, hook, am

    def test_still_true_sends_no_new_firing(self, tmp_path: Path) -> None:
        db = tmp_path / "s.db"
        with Store(db) as store:
            self.first_run(store)
        store, hook, am = self.restart(db)
        outbox = Outbox(store, [hook, am])
        book = AlertBook(store, outbox)
        now = T0 + 31 * MIN
        book.update(now, [candidate()])
        outbox.deliver_due(now)
        assert hook.received == []
        # Alertmanager gets its usual re-send of the same alert
        assert am.received == [(candidate().fingerprint, "firing")]
        store.close()

    def test_cleared_while_down_resolves_once(self, tmp_path: Path) -> None:
        db = tmp_path / "s.db"
        with Store(db) as store:
            self.first_run(store)
        store, hook, am = self.restart(db)
        outbox = Outbox(store, [hook, am])
        book = AlertBook(store, outbox)
        for i in range(5):
            now = T0 + (31 + i) * MIN
            book.update(now, [])
            outbox.deliver_due(now)
        assert hook.received == [(candidate().fingerprint, "resolved")]
        store.close()
