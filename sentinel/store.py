"""The SQLite database Sentinel keeps its state in: history, alert state, outbox.

One file, opened in WAL mode. Each part of the daemon owns a *component* of the schema
and brings its own list of migrations; :meth:`Store.migrate` applies the ones a database
has not seen yet, in one transaction, and records the component's version in the
``schema_version`` table. A new part (alert state, the outbox) adds tables by calling
``migrate`` with its own component name; nothing here needs to know about it.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``. WAL alone keeps the file
consistent when the process is killed (``kill -9``) at any instant: a transaction is
either in the log with its commit record or ignored. ``FULL`` also syncs the log at
every commit, so a commit that returned survives a power loss too. The daemon commits
about once per tick, so the extra ``fsync`` is cheap, and alert state must be on disk
before a notification leaves.

Every SQLite failure is raised as :class:`~sentinel.errors.StoreError` naming the file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sentinel.errors import StoreError

log = logging.getLogger(__name__)

#: A migration is SQL text (run with ``executescript``-like splitting) or a callable
#: receiving the connection, inside the migration's transaction.
Migration = str | Callable[[sqlite3.Connection], None]

_SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    component TEXT PRIMARY KEY,
    version   INTEGER NOT NULL
)
"""


class Store:
    """An open SQLite database.

    ``path`` may be ``":memory:"`` for tests. ``busy_timeout`` is how long a writer
    waits for another connection's lock before failing, in seconds.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0):
        self.path = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout,
                isolation_level=None,  # transactions are explicit, see transaction()
                check_same_thread=False,
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal" and self.path != ":memory:":
                raise StoreError(f"{self.path}: cannot use WAL journal (got {mode})")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute(_SCHEMA_TABLE)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open database: {exc}") from exc

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one.

        Commits on normal exit, rolls back on an exception. SQLite errors are raised as
        :class:`StoreError`.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot begin: {exc}") from exc
            self._depth = 1
            try:
                yield self._conn
            except BaseException as exc:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"{self.path}: {exc}") from exc
                raise
            self._depth = 0
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise StoreError(f"{self.path}: cannot commit: {exc}") from exc

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """Run a read and return all rows."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    def version(self, component: str) -> int:
        """The schema version of ``component``: 0 when it has never been migrated."""
        rows = self.query(
            "SELECT version FROM schema_version WHERE component = ?", (component,)
        )
        return rows[0][0] if rows else 0

    def migrate(self, component: str, migrations: Sequence[Migration]) -> int:
        """Bring ``component`` to version ``len(migrations)`` and return that version.

        Migration ``i`` (0-based) takes the schema from version ``i`` to ``i + 1``. A
        database newer than the code (a downgrade) is refused rather than guessed at.
        """
        target = len(migrations)
        with self.transaction() as conn:
            current = self.version(component)
            if current > target:
                raise StoreError(
                    f"{self.path}: schema of {component!r} is version {current}, "
                    f"newer than this Sentinel knows ({target}); refusing to downgrade"
                )
            for number in range(current, target):
                step = migrations[number]
                if callable(step):
                    step(conn)
                else:
                    for statement in _split_sql(step):
                        conn.execute(statement)
                log.info("migrated %s schema to version %d", component, number + 1)
            conn.execute(
                "INSERT INTO schema_version (component, version) VALUES (?, ?) "
                "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                (component, target),
            )
        return target

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot close: {exc}") from exc

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (``executescript`` would commit)."""
    statements = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
