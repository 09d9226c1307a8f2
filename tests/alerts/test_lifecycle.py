"""The alert lifecycle: pending for ``for``, firing, keep_firing_for, resolve, hold."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sentinel.alerts import (
    AlertBook,
    AlertCandidate,
    AlertState,
    alert_labels,
    fingerprint,
)
from sentinel.errors import StoreError
from sentinel.store import Store
from tests.alerts.conftest import RecordingSink, at

MIN = 60.0


def page(
    for_s: float = 0.0, keep_firing_for_s: float = 0.0, held: bool = False, **ann: str
) -> AlertCandidate:
    return AlertCandidate(
        name="SLOBurnRateHigh",
        labels={"slo": "checkout", "service": "shop", "tier": "page-1h"},
        severity="page",
        annotations={"summary": "checkout burns its budget", **ann},
        runbook_url="https://runbooks.example/slo-burn-rate",
        for_s=for_s,
        keep_firing_for_s=keep_firing_for_s,
        held=held,
    )


def run(
    book: AlertBook, start: str, end: str, cand: AlertCandidate | None, **kw: object
) -> list[str]:
    """Evaluate once a minute from ``start`` to ``end`` inclusive; states seen."""
    states = []
    t = at(start)
    while t <= at(end):
        book.update(t, [cand] if cand else [], **kw)  # type: ignore[arg-type]
        alert = book.get(page().fingerprint)
        states.append(alert.state.value if alert else "inactive")
        t += MIN
    return states


def test_fingerprint_is_stable_and_order_free() -> None:
    a = fingerprint({"alertname": "X", "slo": "a", "tier": "t"})
    b = fingerprint({"tier": "t", "slo": "a", "alertname": "X"})
    assert a == b
    assert len(a) == 16
    assert a != fingerprint({"alertname": "X", "slo": "b", "tier": "t"})


def test_labels_carry_alertname_and_severity() -> None:
    assert alert_labels("A", {"slo": "s"}, "page") == {
        "alertname": "A",
        "slo": "s",
        "severity": "page",
    }
    # a severity label set by the rule wins over the candidate's field
    assert alert_labels("A", {"severity": "ticket"}, "page")["severity"] == "ticket"


def test_pending_for_then_firing(store: Store) -> None:
    sink = RecordingSink()
    book = AlertBook(store, sink)
    states = run(book, "10:00", "10:03", page(for_s=2 * MIN))
    assert states == ["pending", "pending", "firing", "firing"]
    alert = book.get(page().fingerprint)
    assert alert is not None
    assert alert.active_since == at("10:00")
    assert alert.fired_at == at("10:02")
    assert sink.sent == [(at("10:02"), "SLOBurnRateHigh", "firing")]


def test_pending_that_clears_goes_away_silently(store: Store) -> None:
    sink = RecordingSink()
    book = AlertBook(store, sink)
    assert run(book, "10:00", "10:01", page(for_s=5 * MIN)) == ["pending", "pending"]
    transitions = book.update(at("10:02"), [])
    assert [(t.previous, t.current) for t in transitions] == [
        (AlertState.PENDING, AlertState.INACTIVE)
    ]
    assert not any(t.notifies for t in transitions)
    assert sink.sent == []
    assert store.query("SELECT count(*) FROM alert_state")[0][0] == 0


def test_for_zero_fires_at_once(store: Store) -> None:
    book = AlertBook(store)
    transitions = book.update(at("10:00"), [page()])
    assert [t.current for t in transitions] == [AlertState.PENDING, AlertState.FIRING]


def test_keep_firing_for_then_resolved_once(store: Store) -> None:
    sink = RecordingSink()
    book = AlertBook(store, sink)
    run(book, "10:00", "10:05", page(keep_firing_for_s=3 * MIN))
    states = run(book, "10:06", "10:10", None)
    assert states == ["firing", "firing", "firing", "resolved", "resolved"]
    assert sink.count(AlertState.RESOLVED) == 1
    alert = book.get(page().fingerprint)
    assert alert is not None
    assert alert.cleared_at == at("10:06")
    assert alert.resolved_at == at("10:09")


def test_condition_back_within_keep_firing_for_keeps_firing(
    store: Store,
) -> None:
    sink = RecordingSink()
    book = AlertBook(store, sink)
    run(book, "10:00", "10:02", page(keep_firing_for_s=3 * MIN))
    run(book, "10:03", "10:04", None)
    states = run(book, "10:05", "10:06", page(keep_firing_for_s=3 * MIN))
    assert states == ["firing", "firing"]
    # the clock of keep_firing_for starts over when the condition clears again
    assert run(book, "10:07", "10:10", None)[-1] == "resolved"
    assert sink.count(AlertState.FIRING) == 1
    assert sink.count(AlertState.RESOLVED) == 1


def test_resolved_then_true_again_fires_anew(store: Store) -> None:
    sink = RecordingSink()
    book = AlertBook(store, sink)
    run(book, "10:00", "10:01", page())
    run(book, "10:02", "10:02", None)
    run(book, "10:03", "10:03", page())
    alert = book.get(page().fingerprint)
    assert alert is not None
    assert alert.active_since == at("10:03")
    assert [s for _, _, s in sink.sent] == ["firing", "resolved", "firing"]


def test_resolved_alerts_are_forgotten_after_keep_resolved(
    store: Store,
) -> None:
    book = AlertBook(store, keep_resolved_s=15 * MIN)
    run(book, "10:00", "10:00", page())
    run(book, "10:01", "10:16", None)
    assert book.get(page().fingerprint) is not None
    run(book, "10:17", "10:17", None)
    assert book.get(page().fingerprint) is None
    assert store.query("SELECT count(*) FROM alert_state")[0][0] == 0


def test_annotations_follow_the_latest_evaluation(store: Store) -> None:
    book = AlertBook(store)
    book.update(at("10:00"), [page(description="burn 20.1")])
    book.update(at("10:01"), [page(description="burn 31.7")])
    alert = book.get(page().fingerprint)
    assert alert is not None
    assert alert.annotations["description"] == "burn 31.7"
    assert alert.annotations["runbook_url"] == "https://runbooks.example/slo-burn-rate"
    restored = AlertBook(store).get(page().fingerprint)
    assert restored == alert


class TestC17ScrapeGap:
    """C17: no samples 12:00-12:05 while a page fires since 11:31."""

    def test_page_is_held_through_the_gap_and_not_sent_again(
        self, store: Store
    ) -> None:
        sink = RecordingSink()
        book = AlertBook(store, sink)
        run(book, "11:30", "11:59", page(for_s=MIN))
        # the 5m window has no data: no candidate, but the SLO is held
        gap = run(book, "12:00", "12:05", None, held_slos={"checkout"})
        assert gap == ["firing"] * 6
        alert = book.get(page().fingerprint)
        assert alert is not None and alert.held
        assert alert.held_since == at("12:00")
        # samples again from 12:06, still failing: same alert, no new page
        assert run(book, "12:06", "12:08", page(for_s=MIN)) == ["firing"] * 3
        alert = book.get(page().fingerprint)
        assert alert is not None and not alert.held
        assert alert.active_since == at("11:30")
        assert alert.fired_at == at("11:31")
        assert sink.sent == [(at("11:31"), "SLOBurnRateHigh", "firing")]

    def test_held_candidate_keeps_the_page(self, store: Store) -> None:
        sink = RecordingSink()
        book = AlertBook(store, sink)
        run(book, "11:30", "11:35", page())
        assert run(book, "11:36", "11:40", page(held=True)) == ["firing"] * 5
        assert sink.count(AlertState.RESOLVED) == 0

    def test_held_pending_alert_does_not_fire(self, store: Store) -> None:
        book = AlertBook(store)
        run(book, "11:30", "11:30", page(for_s=2 * MIN))
        held = run(book, "11:31", "11:35", None, held_slos={"checkout"})
        assert held == ["pending"] * 5

    def test_held_candidate_alone_starts_nothing(self, store: Store) -> None:
        book = AlertBook(store)
        assert run(book, "11:30", "11:31", page(held=True)) == ["inactive"] * 2

    def test_data_back_and_condition_gone_resolves(self, store: Store) -> None:
        sink = RecordingSink()
        book = AlertBook(store, sink)
        run(book, "11:30", "11:35", page())
        run(book, "11:36", "11:40", None, held_slos={"checkout"})
        assert run(book, "11:41", "11:41", None) == ["resolved"]
        assert [s for _, _, s in sink.sent] == ["firing", "resolved"]


class TestC18Restart:
    """C18: page with for 2m, true since 09:58, firing since 10:00, notified once;
    the daemon stops at 10:30:00 and starts again at 10:31:00."""

    def before_restart(self, store: Store, sink: RecordingSink) -> None:
        book = AlertBook(store, sink)
        run(book, "09:58", "10:30", page(for_s=2 * MIN))
        assert sink.sent == [(at("10:00"), "SLOBurnRateHigh", "firing")]

    def test_still_true_restores_firing_without_a_second_page(
        self, db_path: Path, store: Store
    ) -> None:
        self.before_restart(store, RecordingSink())
        store.close()

        store2 = Store(db_path)
        sink = RecordingSink()
        book = AlertBook(store2, sink)
        alert = book.get(page().fingerprint)
        assert alert is not None and alert.state is AlertState.FIRING
        transitions = book.update(at("10:31:00"), [page(for_s=2 * MIN)])
        assert transitions == []
        alert = book.get(page().fingerprint)
        assert alert is not None
        assert alert.state is AlertState.FIRING
        assert alert.active_since == at("09:58")
        assert alert.fired_at == at("10:00")
        assert sink.sent == []
        store2.close()

    def test_cleared_while_down_resolves_exactly_once(
        self, db_path: Path, store: Store
    ) -> None:
        self.before_restart(store, RecordingSink())
        store.close()

        store2 = Store(db_path)
        sink = RecordingSink()
        book = AlertBook(store2, sink)
        run(book, "10:31", "10:40", None)
        assert sink.sent == [(at("10:31"), "SLOBurnRateHigh", "resolved")]
        store2.close()

    def test_pending_alert_keeps_its_start_across_restart(
        self, db_path: Path, store: Store
    ) -> None:
        run(AlertBook(store), "09:58", "09:58", page(for_s=5 * MIN))
        store.close()

        store2 = Store(db_path)
        states = run(AlertBook(store2), "10:02", "10:03", page(for_s=5 * MIN))
        assert states == ["pending", "firing"]
        store2.close()

    def test_fresh_store_sends_nothing_old(self, store: Store) -> None:
        sink = RecordingSink()
        book = AlertBook(store, sink)
        assert book.alerts() == []
        assert book.update(at("10:31"), []) == []
        assert sink.sent == []


def test_failed_write_keeps_previous_state(store: Store) -> None:
    class Broken(RecordingSink):
        def enqueue(self, *args: object, **kw: object) -> list[str]:
            raise sqlite3.OperationalError("disk I/O error")

    book = AlertBook(store, Broken())
    with pytest.raises(StoreError, match="disk I/O error"):
        book.update(at("10:00"), [page()])
    assert book.alerts() == []
    assert store.query("SELECT count(*) FROM alert_state")[0][0] == 0
