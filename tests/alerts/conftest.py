"""Fixtures for alert lifecycle tests: a store on disk and a recording sink."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinel.alerts import Alert, AlertState, Transition, ensure_schema

DAY = "2026-03-02"


def at(hhmm: str) -> float:
    """Unix time of ``HH:MM`` or ``HH:MM:SS`` on a fixed day, in UTC."""
    parts = [int(p) for p in hhmm.split(":")]
    h, m, s = [*parts, 0][:3]
    y, mo, d = (int(p) for p in DAY.split("-"))
    return datetime(y, mo, d, h, m, s, tzinfo=UTC).timestamp()


def open_store(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    ensure_schema(conn)
    return conn


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sentinel.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_store(db_path)
    yield c
    c.close()


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
