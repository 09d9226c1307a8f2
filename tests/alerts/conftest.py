"""Fixtures for alert lifecycle tests: a store on disk and a recording sink."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinel.alerts import Alert, AlertState, Transition
from sentinel.store import Store

DAY = "2026-03-02"


def at(hhmm: str) -> float:
    """Unix time of ``HH:MM`` or ``HH:MM:SS`` on a fixed day, in UTC."""
    parts = [int(p) for p in hhmm.split(":")]
    h, m, s = [*parts, 0][:3]
    y, mo, d = (int(p) for p in DAY.split("-"))
    return datetime(y, mo, d, h, m, s, tzinfo=UTC).timestamp()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sentinel.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


class RecordingSink:
    """Remembers what it was asked to queue; queues one row per notifying change."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str, str]] = []  # (now, alertname, state)

    def enqueue(
        self,
        conn: sqlite3.Connection,
        now: float,
        transitions: Sequence[Transition],
        alerts: Sequence[Alert],
    ) -> Collection[str]:
        out = []
        for t in transitions:
            if t.notifies:
                self.sent.append((now, t.alert.name, t.current.value))
                out.append(t.alert.fingerprint)
        return out

    def count(self, state: AlertState) -> int:
        return sum(1 for _, _, s in self.sent if s == state.value)
