import sqlite3

import pytest

from sentinel.errors import StoreError
from sentinel.store import Store


def test_wal_and_full_sync(tmp_path):
    store = Store(tmp_path / "s.db")
    conn = store.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_migrations_apply_once_and_in_order(tmp_path):
    calls = []

    def second(conn: sqlite3.Connection) -> None:
        calls.append("second")
        conn.execute("INSERT INTO t (x) VALUES (1)")

    steps = ["CREATE TABLE t (x INTEGER);\nCREATE INDEX t_x ON t (x);", second]
    store = Store(tmp_path / "s.db")
    assert store.migrate("demo", steps) == 2
    assert store.migrate("demo", steps) == 2
    assert calls == ["second"]
    assert store.version("demo") == 2
    assert store.version("other") == 0
    store.close()

    reopened = Store(tmp_path / "s.db")
    steps.append("ALTER TABLE t ADD COLUMN y INTEGER")
    assert reopened.migrate("demo", steps) == 3
    assert reopened.query("SELECT x, y FROM t") == [(1, None)]


def test_failed_migration_rolls_back(tmp_path):
    store = Store(tmp_path / "s.db")
    with pytest.raises(StoreError, match=r"s\.db"):
        store.migrate("demo", ["CREATE TABLE t (x INTEGER)", "NOT SQL AT ALL"])
    assert store.version("demo") == 0
    assert store.query("SELECT name FROM sqlite_master WHERE name = 't'") == []


def test_refuses_downgrade(tmp_path):
    store = Store(tmp_path / "s.db")
    store.migrate("demo", ["CREATE TABLE t (x)", "CREATE TABLE u (x)"])
    with pytest.raises(StoreError, match="newer than this Sentinel knows"):
        store.migrate("demo", ["CREATE TABLE t (x)"])


def test_unopenable_path_names_the_file(tmp_path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match=r"dir\.db: cannot open database"):
        Store(tmp_path / "dir.db")


def test_nested_transactions_join_and_roll_back_together(tmp_path):
    store = Store(tmp_path / "s.db")
    store.migrate("demo", ["CREATE TABLE t (x INTEGER)"])
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
        with store.transaction() as inner:
            inner.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("boom")
    assert store.query("SELECT count(*) FROM t") == [(0,)]
