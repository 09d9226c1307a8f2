"""Per-instance history of event increments, and windows over it by prefix sums.

An *SLO instance* is an SLO name plus the values of its ``group_by`` labels
(:func:`sentinel.model.instance_id`). For each instance the history keeps *buckets*:
the increments of bad and total events in ``[start, start + resolution)``, with
``start`` a multiple of the resolution since the epoch (60 s by default). A bucket is
either *known* (the read succeeded; ``0/0`` is a known bucket with no traffic) or
*unknown* (the read failed, samples were missing, ...; it carries the reason). A bucket
that was never recorded is unknown too. Unknown buckets are missing data: they lower a
window's *coverage* and are never counted as zero traffic.

Windows. In memory each instance holds dense prefix arrays (cumulative bad, total and
known-bucket counts, one entry per bucket since its first bucket), loaded from SQLite
on first use and appended to on every write. A window's counts are the difference of
two prefix entries, so evaluating every window of every instance costs a few array
reads each, whatever the window's length. Buckets with a quality mark are kept in a
small sorted index beside the arrays.

Resolution and error. ``window(instance, now, span)`` covers the buckets starting in
``[T - span, T)`` where ``T`` is ``now`` aligned down to the resolution; spans that are
no multiple of the resolution are rounded up to one. Counts are exact for that aligned
window. What is inexact is *where* an event lands: a source attributes the increase
between two samples to the bucket holding the later sample, so an event may appear up
to one sample interval late, and the window ends up to one resolution before ``now``.
For the 5-minute window at the default 60 s resolution and 60 s sampling, the window
holds the right number of buckets (5) but may be shifted by up to 60 s: up to 20% of
its span is the minute before, never a double count or a loss. For 1 h that is 1.7%,
for 30 d 0.002%.

Writes. A known bucket replaces whatever was recorded for that bucket; an unknown one
never replaces a known one (a failed re-read does not erase data). Each write runs in a
SQLite transaction and the memory is changed only after the commit, so a crash or
``kill -9`` leaves the database with whole transactions and the next start loads it.

Retention is set by the caller: the SLO period plus the longest alert window (see
:func:`retention_for`). :meth:`History.prune` drops older buckets.

Memory is about 20 bytes per bucket held: one instance over 33 days at 60 s is about
1 MB. Many thousands of instances at 60 s over 30 days need a coarser resolution or a
roll-up of old buckets; see ``bench/README.md``.
"""

from __future__ import annotations

import bisect
import logging
import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel.errors import StoreError
from sentinel.model import SLO, Quality
from sentinel.store import Store

if TYPE_CHECKING:
    from sentinel.sources.base import Increment

log = logging.getLogger(__name__)

DEFAULT_RESOLUTION = 60

_MIGRATIONS = [
    """
    CREATE TABLE history_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE history_instance (
        id   INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE history_bucket (
        instance INTEGER NOT NULL,
        start    INTEGER NOT NULL,
        bad      REAL NOT NULL,
        total    REAL NOT NULL,
        known    INTEGER NOT NULL,
        quality  INTEGER NOT NULL DEFAULT 0,
        reason   TEXT,
        PRIMARY KEY (instance, start)
    ) WITHOUT ROWID;
    """,
]

_UPSERT = """
INSERT INTO history_bucket (instance, start, bad, total, known, quality, reason)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (instance, start) DO UPDATE SET
    bad = excluded.bad, total = excluded.total, known = excluded.known,
    quality = excluded.quality, reason = excluded.reason
WHERE excluded.known = 1 OR history_bucket.known = 0
"""


@dataclass(frozen=True)
class WindowCounts:
    """Event counts of one instance over one window ``[start, end)``.

    ``coverage`` is the fraction of the window's buckets that hold known data. With
    ``total == 0`` the window has no traffic: ``ratio`` is then ``None``, never 0.
    """

    bad: float
    total: float
    known_buckets: int
    buckets: int
    start: float
    end: float
    quality: Quality = Quality.NONE
    reasons: tuple[str, ...] = ()

    @property
    def coverage(self) -> float:
        return self.known_buckets / self.buckets if self.buckets else 0.0

    @property
    def partial(self) -> bool:
        """Some of the window has no known data (C14: a window longer than the data)."""
        return self.known_buckets < self.buckets

    @property
    def ratio(self) -> float | None:
        """Bad over total events; ``None`` when the window holds no events."""
        return self.bad / self.total if self.total > 0 else None


@dataclass(frozen=True)
class Bucket:
    """One stored bucket, as read back by :meth:`History.buckets`."""

    start: int
    bad: float
    total: float
    known: bool
    quality: Quality = Quality.NONE
    reason: str | None = None


class _Series:
    """Dense prefix arrays of one instance; index ``k`` is bucket ``base + k``.

    ``cum_x[k]`` is the sum of ``x`` over buckets ``base .. base + k - 1``, so the
    arrays are one longer than the number of buckets.
    """

    __slots__ = ("base", "cum_bad", "cum_known", "cum_total", "marked", "marks")

    def __init__(self, base: int) -> None:
        self.base = base
        self.cum_bad = array("d", [0.0])
        self.cum_total = array("d", [0.0])
        self.cum_known = array("i", [0])
        self.marks: dict[int, tuple[Quality, str | None]] = {}
        self.marked: list[int] = []  # sorted keys of marks

    def __len__(self) -> int:
        return len(self.cum_known) - 1

    def get(self, index: int) -> tuple[float, float, bool]:
        k = index - self.base
        if k < 0 or k >= len(self):
            return 0.0, 0.0, False
        return (
            self.cum_bad[k + 1] - self.cum_bad[k],
            self.cum_total[k + 1] - self.cum_total[k],
            self.cum_known[k + 1] > self.cum_known[k],
        )

    def set(
        self,
        index: int,
        bad: float,
        total: float,
        known: bool,
        quality: Quality,
        reason: str | None,
    ) -> None:
        if not len(self):
            self.base = index
        if index < self.base:
            self._prepend(self.base - index)
        k = index - self.base
        if k >= len(self):
            self._extend(k + 1 - len(self))
        old_bad, old_total, old_known = self.get(index)
        if old_known and not known:
            return
        self._shift(k + 1, bad - old_bad, total - old_total, int(known) - old_known)
        self._mark(index, quality, None if known else reason)

    def _prepend(self, n: int) -> None:
        self.base -= n
        # New leading buckets are empty: their prefix sums are the first entry, 0.
        self.cum_bad = array("d", [0.0] * n) + self.cum_bad
        self.cum_total = array("d", [0.0] * n) + self.cum_total
        self.cum_known = array("i", [0] * n) + self.cum_known

    def _extend(self, n: int) -> None:
        self.cum_bad.extend([self.cum_bad[-1]] * n)
        self.cum_total.extend([self.cum_total[-1]] * n)
        self.cum_known.extend([self.cum_known[-1]] * n)

    def _shift(self, k: int, d_bad: float, d_total: float, d_known: int) -> None:
        # Writes land at or near the end, so this loop is short in practice.
        for j in range(k, len(self.cum_known)):
            if d_bad:
                self.cum_bad[j] += d_bad
            if d_total:
                self.cum_total[j] += d_total
            if d_known:
                self.cum_known[j] += d_known

    def _mark(self, index: int, quality: Quality, reason: str | None) -> None:
        if quality or reason:
            if index not in self.marks:
                bisect.insort(self.marked, index)
            self.marks[index] = (quality, reason)
        elif index in self.marks:
            del self.marks[index]
            self.marked.pop(bisect.bisect_left(self.marked, index))

    def drop_before(self, index: int) -> None:
        k = index - self.base
        if k <= 0:
            return
        k = min(k, len(self))
        # Differences are all we read, so the arrays can be sliced without rebasing.
        self.cum_bad = self.cum_bad[k:]
        self.cum_total = self.cum_total[k:]
        self.cum_known = self.cum_known[k:]
        self.base += k
        cut = bisect.bisect_left(self.marked, self.base)
        for i in self.marked[:cut]:
            del self.marks[i]
        del self.marked[:cut]


class History:
    """Bad and total event increments per SLO instance, over a :class:`Store`.

    ``retention`` (seconds) is how much history :meth:`prune` keeps; ``None`` keeps
    everything. ``resolution`` is fixed for a database: opening it with another one is
    an error, since the buckets on disk would not line up.
    """

    def __init__(
        self,
        store: Store,
        *,
        resolution: int = DEFAULT_RESOLUTION,
        retention: float | None = None,
    ) -> None:
        if resolution <= 0 or int(resolution) != resolution:
            raise ValueError(
                f"resolution must be a whole number of seconds > 0: {resolution!r}"
            )
        self.store = store
        self.resolution = int(resolution)
        self.retention = retention
        store.migrate("history", _MIGRATIONS)
        self._check_resolution()
        self._ids = self._read_ids()
        self._series: dict[str, _Series] = {}
        self._pending: (
            list[tuple[str, int, float, float, bool, Quality, str | None]] | None
        ) = None

    def _read_ids(self) -> dict[str, int]:
        rows = self.store.query("SELECT id, name FROM history_instance")
        return {name: id_ for id_, name in rows}

    def _check_resolution(self) -> None:
        rows = self.store.query(
            "SELECT value FROM history_meta WHERE key = 'resolution'"
        )
        if rows and int(rows[0][0]) != self.resolution:
            raise StoreError(
                f"{self.store.path}: history was written at a resolution of "
                f"{rows[0][0]} s, not {self.resolution} s"
            )
        if not rows:
            with self.store.transaction() as conn:
                conn.execute(
                    "INSERT INTO history_meta (key, value) VALUES ('resolution', ?)",
                    (str(self.resolution),),
                )

    # -- time -----------------------------------------------------------------------

    def align(self, t: float) -> int:
        """``t`` aligned down to the start of its bucket."""
        return math.floor(t / self.resolution) * self.resolution

    # -- writes ---------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group writes into one transaction (one ``fsync``); nested batches join."""
        if self._pending is not None:
            yield
            return
        self._pending = []
        try:
            with self.store.transaction():
                yield
            done = self._pending
        except BaseException:
            # Instance ids handed out inside the rolled-back transaction are void.
            self._ids = self._read_ids()
            raise
        finally:
            self._pending = None
        for write in done:
            self._series_for(write[0]).set(write[1], *write[2:])

    def record(
        self,
        instance: str,
        bucket_start: float,
        bad: float,
        total: float,
        quality: Quality = Quality.NONE,
    ) -> None:
        """Record the known increments of one bucket (replacing what it held)."""
        if bucket_start % self.resolution:
            raise ValueError(
                f"bucket start {bucket_start} is not aligned to {self.resolution} s"
            )
        if not (math.isfinite(bad) and math.isfinite(total)) or bad < 0 or total < 0:
            raise ValueError(
                f"increments must be finite and >= 0: bad={bad} total={total}"
            )
        self._write(instance, int(bucket_start), bad, total, True, quality, None)

    def record_unknown(
        self,
        instance: str,
        start: float,
        end: float,
        reason: str,
        quality: Quality = Quality.NONE,
    ) -> None:
        """Mark the buckets overlapping ``[start, end)`` unknown, unless known."""
        with self.batch():
            t = self.align(start)
            while t < end:
                self._write(instance, t, 0.0, 0.0, False, quality, reason)
                t += self.resolution

    def apply(self, increments: Iterable[Increment]) -> int:
        """Record a source's increments in one transaction; returns buckets written.

        An increment spanning several buckets is spread evenly over them and marked
        :attr:`Quality.INTERPOLATED`; sources normally emit one bucket each.
        """
        written = 0
        with self.batch():
            for inc in increments:
                start = self.align(inc.start)
                end = max(start + self.resolution, -self.align(-inc.end))
                n = (end - start) // self.resolution
                if not inc.known:
                    self.record_unknown(
                        inc.instance, start, end, inc.reason or "unknown", inc.quality
                    )
                    written += n
                    continue
                quality = inc.quality | (
                    Quality.INTERPOLATED if n > 1 else Quality.NONE
                )
                for i in range(n):
                    self.record(
                        inc.instance,
                        start + i * self.resolution,
                        inc.bad / n,
                        inc.total / n,
                        quality,
                    )
                written += n
        return written

    def _write(
        self,
        instance: str,
        start: int,
        bad: float,
        total: float,
        known: bool,
        quality: Quality,
        reason: str | None,
    ) -> None:
        with self.batch():
            self._series_for(instance)  # load before the write reaches the database
            id_ = self._instance_id(instance)
            self.store.connection.execute(
                _UPSERT,
                (id_, start, bad, total, int(known), int(quality), reason),
            )
            assert self._pending is not None
            self._pending.append(
                (instance, start // self.resolution, bad, total, known, quality, reason)
            )

    def _instance_id(self, instance: str) -> int:
        id_ = self._ids.get(instance)
        if id_ is None:
            cur = self.store.connection.execute(
                "INSERT INTO history_instance (name) VALUES (?)", (instance,)
            )
            id_ = int(cur.lastrowid or 0)
            self._ids[instance] = id_
        return id_

    # -- reads ----------------------------------------------------------------------

    def instances(self) -> list[str]:
        """Every instance the history has seen, sorted."""
        return sorted(self._ids)

    def _series_for(self, instance: str) -> _Series:
        series = self._series.get(instance)
        if series is None:
            series = self._load(instance)
            self._series[instance] = series
        return series

    def _load(self, instance: str) -> _Series:
        series = _Series(0)
        id_ = self._ids.get(instance)
        if id_ is None:
            return series
        rows = self.store.query(
            "SELECT start, bad, total, known, quality, reason FROM history_bucket "
            "WHERE instance = ? ORDER BY start",
            (id_,),
        )
        if not rows:
            return series
        r = self.resolution
        series.base = rows[0][0] // r
        cb, ct, ck = series.cum_bad, series.cum_total, series.cum_known
        next_index = series.base
        for start, bad, total, known, quality, reason in rows:
            index = start // r
            if index > next_index:  # a gap: buckets never recorded
                gap = index - next_index
                cb.extend([cb[-1]] * gap)
                ct.extend([ct[-1]] * gap)
                ck.extend([ck[-1]] * gap)
            cb.append(cb[-1] + bad)
            ct.append(ct[-1] + total)
            ck.append(ck[-1] + known)
            if quality or reason:
                series.marks[index] = (Quality(quality), reason)
                series.marked.append(index)
            next_index = index + 1
        return series

    def load_all(self) -> None:
        """Load every instance into memory now rather than on first use."""
        for instance in self._ids:
            self._series_for(instance)

    def last_bucket(self, instance: str) -> int | None:
        """Start of the newest *known* bucket of ``instance``, to resume from."""
        series = self._series_for(instance)
        ck = series.cum_known
        n = len(series)
        if not n or ck[-1] == 0:
            return None
        # The newest index whose known count rises: bisect on the prefix array.
        k = bisect.bisect_left(ck, ck[-1]) - 1
        return (series.base + k) * self.resolution

    def resume_point(self, slo: str) -> int | None:
        """End of the newest known bucket over the instances of SLO ``slo``.

        A source backfills from here after a restart. Every instance of an SLO is read
        by the same queries, so the newest one stands for all.
        """
        ends = [
            last + self.resolution
            for name in self._ids
            if name == slo or name.startswith(slo + "{")
            if (last := self.last_bucket(name)) is not None
        ]
        return max(ends, default=None)

    def first_bucket(self, instance: str) -> int | None:
        """Start of the oldest known bucket of ``instance``."""
        series = self._series_for(instance)
        if not len(series) or series.cum_known[-1] == 0:
            return None
        k = bisect.bisect_right(series.cum_known, 0) - 1
        return (series.base + k) * self.resolution

    def window(self, instance: str, now: float, seconds: float) -> WindowCounts:
        """Counts of ``instance`` over the ``seconds`` before ``now`` (aligned down)."""
        r = self.resolution
        end_index = math.floor(now / r)
        n_buckets = max(1, math.ceil(seconds / r))
        start_index = end_index - n_buckets
        series = self._series_for(instance)
        base, size = series.base, len(series)
        lo = min(max(start_index - base, 0), size)
        hi = min(max(end_index - base, 0), size)
        quality = Quality.NONE
        reasons: tuple[str, ...] = ()
        if series.marked:
            quality, reasons = self._marks_between(series, start_index, end_index)
        return WindowCounts(
            bad=series.cum_bad[hi] - series.cum_bad[lo],
            total=series.cum_total[hi] - series.cum_total[lo],
            known_buckets=series.cum_known[hi] - series.cum_known[lo],
            buckets=n_buckets,
            start=start_index * r,
            end=end_index * r,
            quality=quality,
            reasons=reasons,
        )

    @staticmethod
    def _marks_between(
        series: _Series, start_index: int, end_index: int
    ) -> tuple[Quality, tuple[str, ...]]:
        marked = series.marked
        i = bisect.bisect_left(marked, start_index)
        j = bisect.bisect_left(marked, end_index)
        quality = Quality.NONE
        reasons: dict[str, None] = {}
        for index in marked[i:j]:
            q, reason = series.marks[index]
            quality |= q
            if reason is not None and len(reasons) < 5:
                reasons[reason] = None
        return quality, tuple(reasons)

    def windows(
        self, instance: str, now: float, spans: Sequence[float]
    ) -> dict[float, WindowCounts]:
        """:meth:`window` for each span; keys are the spans as given."""
        return {span: self.window(instance, now, span) for span in spans}

    def buckets(self, instance: str, start: float, end: float) -> list[Bucket]:
        """The stored buckets of ``instance`` starting in ``[start, end)``."""
        id_ = self._ids.get(instance)
        if id_ is None:
            return []
        rows = self.store.query(
            "SELECT start, bad, total, known, quality, reason FROM history_bucket "
            "WHERE instance = ? AND start >= ? AND start < ? ORDER BY start",
            (id_, start, end),
        )
        return [
            Bucket(s, b, t, bool(k), Quality(q), reason)
            for s, b, t, k, q, reason in rows
        ]

    # -- retention ------------------------------------------------------------------

    def prune(self, now: float) -> int:
        """Drop buckets older than ``now - retention``; returns rows deleted."""
        if self.retention is None:
            return 0
        cutoff = self.align(now - self.retention)
        with self.store.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM history_bucket WHERE start < ?", (cutoff,)
            ).rowcount
        for series in self._series.values():
            series.drop_before(cutoff // self.resolution)
        if deleted:
            log.info("pruned %d history buckets older than %d", deleted, cutoff)
        return deleted


def retention_for(slos: Iterable[SLO], resolution: float = DEFAULT_RESOLUTION) -> float:
    """History an SLO set needs: its longest period plus its longest alert window.

    The windows and the period both end at ``now``, so strictly the period alone is
    read; the extra alert window keeps a full period available for the budget of any
    past evaluation a rule or a report may look back on, plus one bucket of slack.
    """
    need = 0.0
    for slo in slos:
        alert = max((w for w in slo.windows() if w < slo.period), default=0.0)
        need = max(need, slo.period + alert)
    return need + resolution


def all_windows(
    history: History, now: float, spans: Sequence[float]
) -> Mapping[str, dict[float, WindowCounts]]:
    """Every instance's windows at ``now``: what the evaluator reads each tick."""
    return {i: history.windows(i, now, spans) for i in history.instances()}
