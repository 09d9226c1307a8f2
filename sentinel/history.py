"""Per-instance history of event increments, and windows over it by prefix sums.

An *SLO instance* is an SLO name plus the values of its ``group_by`` labels
(:func:`sentinel.model.instance_id`). For each instance the history keeps *buckets*:
the increments of bad and total events in ``[start, start + resolution)``, with
``start`` a multiple of the resolution since the epoch (60 s by default). A bucket is
either *known* (the read succeeded; ``0/0`` is a known bucket with no traffic) or
*unknown* (the read failed, samples were missing, ...; it carries the reason). A bucket
that was never recorded is unknown too. Unknown buckets are missing data: they lower a
window's *coverage* and are never counted as zero traffic.

Windows. In memory each instance holds prefix arrays (cumulative bad, total and
known-bucket counts, one entry per bucket since its first bucket), loaded from SQLite
on first use (one primary-key range read, summed by ``accumulate``) and appended to on
every write. A window's counts are the difference of two prefix entries, so evaluating
every window of every instance costs a few array reads each, whatever the window's
length. Buckets with a quality mark or a reason are kept in a sorted index beside the
arrays (and a partial index on disk), with prefix counts of each quality flag over it:
a window's quality is the flags whose count rises across it, two bisections and one
read per flag in use, however many marks the window holds. Its ``reasons`` are a
sample: up to five distinct ones, newest first, from the window's newest 64 buckets
that carry a reason (one unknown stretch of a month is thousands of such buckets).

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

Roll-up. :meth:`History.prune` (hourly in the daemon) also merges buckets older than
``fine_span`` (1 day) into *coarse* buckets of 15 minutes: bad and total summed, the
known count kept in fine buckets (0 to 15), quality flags OR-ed, the first reason kept.
The boundary moves on 15-minute boundaries only forward, in the same transaction as the
rows. A window edge that falls before the boundary moves forward to the next 15-minute
boundary; ``start``, ``buckets`` and ``coverage`` are those of the window actually
read, and its counts are exact for it. So every window of up to ``fine_span`` (the 5m
to 1d alert windows) is exact as above, and a longer one starts up to 14 fine buckets
late: it misses at most the first 14 minutes of its span, below 0.33% of a 3-day
window and 0.033% of a 30-day one. History before the boundary is final: a write there
is dropped (its fine bucket's own counts are gone, so it could not replace them).

Retention is set by the caller: the SLO period plus the longest alert window (see
:func:`retention_for`). :meth:`History.prune` drops older buckets (a coarse bucket
whole, once its start is older).

Memory is about 20 bytes per bucket held. With the roll-up one instance over 33 days
at 60 s holds about 1,500 fine and 3,100 coarse buckets, about 90 KB; without it,
47,500 buckets, about 1 MB. See ``bench/README.md`` for 10,000 instances.
"""

from __future__ import annotations

import bisect
import logging
import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate
from operator import itemgetter
from typing import TYPE_CHECKING

from sentinel.errors import StoreError
from sentinel.model import SLO, Quality
from sentinel.store import Store

if TYPE_CHECKING:
    from sentinel.sources.base import Increment

log = logging.getLogger(__name__)

DEFAULT_RESOLUTION = 60
DEFAULT_COARSE = 900
DEFAULT_FINE_SPAN = 86400.0

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
    # Marked buckets are few: an index of them lets a load skip those columns.
    """
    CREATE INDEX history_bucket_marked ON history_bucket (instance, start)
    WHERE quality != 0 OR reason IS NOT NULL;
    """,
]

_MARKED = "quality != 0 OR reason IS NOT NULL"

# Lets a range on ``start`` use the primary key, one seek per instance.
_EACH_INSTANCE = "instance IN (SELECT id FROM history_instance)"

_ROLLUP_TABLE = """
CREATE TEMP TABLE history_rollup (
    instance INTEGER NOT NULL,
    start    INTEGER NOT NULL,
    bad      REAL NOT NULL,
    total    REAL NOT NULL,
    known    INTEGER NOT NULL,
    quality  INTEGER NOT NULL,
    reason   TEXT,
    PRIMARY KEY (instance, start)
) WITHOUT ROWID
"""

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
    ``quality`` is every flag of the window's buckets OR-ed. ``reasons`` is a sample
    of why its unknown buckets are unknown: up to five distinct reasons, newest first,
    from its newest 64 buckets with a reason; empty only when none has one.
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


_SAMPLE_BUCKETS = 64
_SAMPLE_REASONS = 5


class _Marks:
    """Quality marks and reasons of one instance's buckets, keyed by fine index.

    ``keys`` is the sorted index of ``values``; ``reasoned`` the sorted keys whose
    reason is set. ``counts[flag][m]`` is how many of ``keys[:m]`` carry ``flag``,
    for each flag in use, so a range of keys has a flag when its count rises across
    the range. The counts are brought up to date on read: they hold for the first
    ``valid`` keys, a change at position ``m`` lowers that to ``m``, and the next read
    extends them from there. Writes land at or near the end, so that is a mark or two
    per write; a roll-up or a load rebuilds them once.
    """

    __slots__ = ("counts", "keys", "reasoned", "valid", "values")

    def __init__(self) -> None:
        self.values: dict[int, tuple[Quality, str | None]] = {}
        self.keys: list[int] = []
        self.reasoned: list[int] = []
        self.counts: dict[int, array[int]] = {}
        self.valid = 0

    def __len__(self) -> int:
        return len(self.keys)

    def set(self, index: int, quality: Quality, reason: str | None) -> None:
        reason = reason or None
        old = self.values.get(index)
        if old is None and not (quality or reason):
            return
        keys = self.keys
        m = bisect.bisect_left(keys, index)
        had_reason = old is not None and old[1] is not None
        if had_reason and reason is None:
            self.reasoned.pop(bisect.bisect_left(self.reasoned, index))
        elif reason is not None and not had_reason:
            bisect.insort(self.reasoned, index)
        if quality or reason:
            self.values[index] = _value(quality, reason)
            if old is None:
                keys.insert(m, index)
            elif old[0] == quality:
                return  # same flags at the same position: the counts still hold
        else:
            del self.values[index]
            del keys[m]
        self.valid = min(self.valid, m)

    def load(self, marks: Iterable[tuple[int, int, str | None]]) -> None:
        """Marks of a fresh instance by index: (index, quality flags, reason)."""
        values, keys, reasoned = self.values, self.keys, self.reasoned
        for index, quality, reason in marks:
            values[index] = _value(quality, reason or None)
            keys.append(index)
            if reason:
                reasoned.append(index)

    def _update_counts(self) -> None:
        n, v = len(self.keys), self.valid
        if v == n:
            return
        values = self.values
        flags = [int(values[k][0]) for k in self.keys[v:]]
        used = 0
        for q in flags:
            used |= q
        counts = self.counts
        while used:
            flag = used & -used
            used ^= flag
            if flag not in counts:
                counts[flag] = array("i", [0]) * (v + 1)
        for flag, count in counts.items():
            count[v:] = array(
                "i", accumulate(((q & flag) > 0 for q in flags), initial=count[v])
            )
        self.valid = n

    def between(self, lo: int, hi: int) -> tuple[Quality, tuple[str, ...]]:
        """Flags of the marks in ``[lo, hi)`` OR-ed, and a sample of their reasons."""
        keys = self.keys
        i = bisect.bisect_left(keys, lo)
        j = bisect.bisect_left(keys, hi, i)
        if i == j:
            return Quality.NONE, ()
        self._update_counts()
        quality = 0
        for flag, count in self.counts.items():
            if count[j] > count[i]:
                quality |= flag
        reasoned = self.reasoned
        a = bisect.bisect_left(reasoned, lo)
        b = bisect.bisect_left(reasoned, hi, a)
        sample = reasoned[max(a, b - _SAMPLE_BUCKETS) : b]
        sample.reverse()
        marks = map(self.values.__getitem__, sample)
        reasons = tuple(dict.fromkeys(map(itemgetter(1), marks)))
        return Quality(quality) if quality else Quality.NONE, reasons[:_SAMPLE_REASONS]

    def fold(self, until: int, step: int) -> None:
        """Merge the marks before ``until`` (a multiple of ``step``) per coarse
        bucket, keyed by its first fine index: flags OR-ed, the first reason kept."""
        cut = bisect.bisect_left(self.keys, until)
        if not cut:
            return
        folded: dict[int, tuple[Quality, str | None]] = {}
        for i in self.keys[:cut]:
            q, reason = self.values.pop(i)
            key = i // step * step
            old_q, old_reason = folded.get(key, (Quality.NONE, None))
            folded[key] = _value(
                old_q | q, reason if old_reason is None else old_reason
            )
        self.values.update(folded)
        self.keys[:cut] = sorted(folded)
        self.reasoned[: bisect.bisect_left(self.reasoned, until)] = sorted(
            k for k, (_, reason) in folded.items() if reason is not None
        )
        self.valid = 0
        self.counts = {}

    def drop_before(self, index: int) -> None:
        cut = bisect.bisect_left(self.keys, index)
        if not cut:
            return
        for i in self.keys[:cut]:
            del self.values[i]
        del self.keys[:cut]
        del self.reasoned[: bisect.bisect_left(self.reasoned, index)]
        if self.valid >= cut:
            # Differences are all we read: the counts can be sliced too.
            for count in self.counts.values():
                del count[:cut]
            self.valid -= cut
        else:
            self.valid = 0
            self.counts = {}


_VALUES: dict[tuple[int, str | None], tuple[Quality, str | None]] = {}


def _value(quality: int, reason: str | None) -> tuple[Quality, str | None]:
    """One shared tuple per distinct mark: a month of unknown buckets holds one."""
    shared = _VALUES.get((quality, reason))
    if shared is None:
        shared = (Quality(quality), reason)
        if len(_VALUES) < 4096:  # reasons may embed details: keep this bounded
            _VALUES[quality, reason] = shared
    return shared


class _Series:
    """Prefix arrays of one instance: a coarse tier (rolled up) and a fine tier.

    The fine tier is dense from ``base``: ``cum_x[k]`` is the sum of ``x`` over every
    bucket of the instance before bucket ``base + k``, so the arrays are one longer
    than the number of fine buckets. The coarse tier is alike over coarse buckets of
    ``step`` fine buckets each, from coarse bucket ``cbase``; it lies entirely before
    the fine one, and both tiers share one origin, so ``cum_x[0]`` is the coarse
    tier's last entry. Marks of rolled-up buckets are keyed by their coarse bucket's
    first fine index (see :class:`_Marks`).
    """

    __slots__ = (
        "base",
        "c_bad",
        "c_known",
        "c_total",
        "cbase",
        "cum_bad",
        "cum_known",
        "cum_total",
        "marks",
        "step",
    )

    def __init__(self, base: int, step: int = 1) -> None:
        self.base = base
        self.step = step
        self.cum_bad = array("d", [0.0])
        self.cum_total = array("d", [0.0])
        self.cum_known = array("i", [0])
        self.cbase = 0
        self.c_bad = array("d", [0.0])
        self.c_total = array("d", [0.0])
        self.c_known = array("i", [0])
        self.marks = _Marks()

    def __len__(self) -> int:
        return len(self.cum_known) - 1

    def prefix(self, index: int) -> tuple[float, float, int]:
        """Sums over the buckets before fine index ``index``.

        In the coarse tier ``index`` is taken as the start of the coarse bucket that
        holds it when it is not one; callers align it first (see ``History._edge``).
        """
        k = index - self.base
        if k >= 0 or len(self.c_known) == 1:
            k = min(max(k, 0), len(self.cum_known) - 1)
            return self.cum_bad[k], self.cum_total[k], self.cum_known[k]
        j = min(max(index // self.step - self.cbase, 0), len(self.c_known) - 1)
        return self.c_bad[j], self.c_total[j], self.c_known[j]

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
        self.marks.set(index, quality, None if known else reason)

    def _prepend(self, n: int) -> None:
        self.base -= n
        # New leading buckets are empty: their prefix sums are the first entry.
        self.cum_bad = array("d", [self.cum_bad[0]] * n) + self.cum_bad
        self.cum_total = array("d", [self.cum_total[0]] * n) + self.cum_total
        self.cum_known = array("i", [self.cum_known[0]] * n) + self.cum_known

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

    def roll_up(self, until: int) -> None:
        """Merge the fine buckets before fine index ``until`` (a multiple of
        ``step``) into the coarse tier."""
        n = min(until - self.base, len(self))
        if n > 0:
            step = self.step
            first = self.base // step
            last = (self.base + n - 1) // step
            size = len(self.c_known) - 1
            if not size:
                self.cbase = first
                self.c_bad = array("d", [self.cum_bad[0]])
                self.c_total = array("d", [self.cum_total[0]])
                self.c_known = array("i", [self.cum_known[0]])
            # Coarse buckets between the tiers, if any, are empty.
            gap = first - (self.cbase + size)
            if gap > 0:
                self.c_bad.extend([self.c_bad[-1]] * gap)
                self.c_total.extend([self.c_total[-1]] * gap)
                self.c_known.extend([self.c_known[-1]] * gap)
            for c in range(max(first, self.cbase + size), last + 1):
                k = min((c + 1) * step - self.base, n)
                self.c_bad.append(self.cum_bad[k])
                self.c_total.append(self.cum_total[k])
                self.c_known.append(self.cum_known[k])
            self.cum_bad = self.cum_bad[n:]
            self.cum_total = self.cum_total[n:]
            self.cum_known = self.cum_known[n:]
            self.base += n
        self.marks.fold(until, self.step)

    def drop_before(self, index: int) -> None:
        # Differences are all we read, so the arrays can be sliced without rebasing.
        c = -(-index // self.step) - self.cbase
        if c > 0 and len(self.c_known) > 1:
            c = min(c, len(self.c_known) - 1)
            self.c_bad = self.c_bad[c:]
            self.c_total = self.c_total[c:]
            self.c_known = self.c_known[c:]
            self.cbase += c
        k = index - self.base
        if k > 0:
            k = min(k, len(self))
            self.cum_bad = self.cum_bad[k:]
            self.cum_total = self.cum_total[k:]
            self.cum_known = self.cum_known[k:]
            self.base += k
        self.marks.drop_before(index)


class History:
    """Bad and total event increments per SLO instance, over a :class:`Store`.

    ``retention`` (seconds) is how much history :meth:`prune` keeps; ``None`` keeps
    everything. ``resolution`` is fixed for a database: opening it with another one is
    an error, since the buckets on disk would not line up.

    ``coarse`` and ``fine_span`` set the roll-up (see the module docstring): at each
    :meth:`prune`, buckets older than ``fine_span`` seconds are merged into buckets of
    ``coarse`` seconds (rounded up to a multiple of the resolution). ``coarse=None``,
    or one no longer than the resolution, rolls nothing up. Once a database holds
    rolled-up buckets their size is fixed: a later ``coarse`` that differs is ignored.
    """

    def __init__(
        self,
        store: Store,
        *,
        resolution: int = DEFAULT_RESOLUTION,
        retention: float | None = None,
        coarse: int | None = DEFAULT_COARSE,
        fine_span: float = DEFAULT_FINE_SPAN,
    ) -> None:
        if resolution <= 0 or int(resolution) != resolution:
            raise ValueError(
                f"resolution must be a whole number of seconds > 0: {resolution!r}"
            )
        self.store = store
        self.resolution = int(resolution)
        self.retention = retention
        self.fine_span = fine_span
        store.migrate("history", _MIGRATIONS)
        self._check_resolution()
        self._read_rollup(coarse)
        self._ids = self._read_ids()
        self._series: dict[str, _Series] = {}
        self._pending: (
            list[tuple[str, int, float, float, bool, Quality, str | None]] | None
        ) = None

    def _read_ids(self) -> dict[str, int]:
        rows = self.store.query("SELECT id, name FROM history_instance")
        return {name: id_ for id_, name in rows}

    def _read_rollup(self, coarse: int | None) -> None:
        """Set the coarse bucket size and the fine index the roll-up has reached."""
        meta = dict(
            self.store.query(
                "SELECT key, value FROM history_meta "
                "WHERE key IN ('coarse', 'rolled_before')"
            )
        )
        r = self.resolution
        wanted = -(-int(coarse) // r) * r if coarse is not None else None
        self._rolls = wanted is not None and wanted > r
        self._rolled: int | None = None
        self.coarse = wanted if self._rolls else None
        if "coarse" in meta:
            stored = int(meta["coarse"])
            if self._rolls and wanted != stored:
                log.warning(
                    "history is rolled up into %d s buckets; keeping them, not %d s",
                    stored,
                    wanted,
                )
            self.coarse = stored
            self._rolled = int(meta["rolled_before"]) // r
        self._step = self.coarse // r if self.coarse else 1

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
        :attr:`Quality.INTERPOLATED`; sources normally emit one bucket each. A known
        increment whose counts are not finite numbers >= 0 is recorded as unknown,
        with the reason, rather than failing the whole call.
        """
        written = 0
        with self.batch():
            for inc in increments:
                start = self.align(inc.start)
                end = max(start + self.resolution, -self.align(-inc.end))
                n = (end - start) // self.resolution
                if inc.known and not (
                    math.isfinite(inc.bad)
                    and math.isfinite(inc.total)
                    and inc.bad >= 0
                    and inc.total >= 0
                ):
                    log.warning(
                        "%s: increment at %d is not finite and >= 0"
                        " (bad=%r total=%r); recorded as unknown",
                        inc.instance,
                        start,
                        inc.bad,
                        inc.total,
                    )
                    finite = math.isfinite(inc.bad) and math.isfinite(inc.total)
                    self.record_unknown(
                        inc.instance,
                        start,
                        end,
                        f"{'negative' if finite else 'non-finite'} increment:"
                        f" bad={inc.bad!r} total={inc.total!r}",
                        inc.quality | (Quality.NONE if finite else Quality.NAN),
                    )
                    written += n
                    continue
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
        if self._rolled is not None and start // self.resolution < self._rolled:
            # Rolled-up history is final: the bucket's own counts are gone, so a
            # write could neither replace them nor tell a re-read from new data.
            log.debug("%s: bucket %d is rolled up; write dropped", instance, start)
            return
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
        id_ = self._ids.get(instance)
        if id_ is None:
            return _Series(0, self._step)
        rows = self.store.query(
            "SELECT start, bad, total, known FROM history_bucket "
            "WHERE instance = ? ORDER BY start",
            (id_,),
        )
        marks = self.store.query(
            "SELECT start, quality, reason FROM history_bucket "
            "INDEXED BY history_bucket_marked "
            f"WHERE instance = ? AND ({_MARKED}) ORDER BY start",
            (id_,),
        )
        return self._build(rows, marks)

    def _build(
        self,
        rows: Sequence[tuple[int, float, float, int]],
        marks: Iterable[tuple[int, int, str | None]],
    ) -> _Series:
        """An instance's series from its rows and its marked rows, both by start."""
        r, step = self.resolution, self._step
        series = _Series(0, step)
        if rows:
            starts, bads, totals, knowns = zip(*rows, strict=True)
            cut = 0
            if self._rolled is not None:
                cut = bisect.bisect_left(starts, self._rolled * r)
            if cut:
                assert self.coarse is not None
                series.cbase, b, t, k = _dense(
                    starts[:cut], bads[:cut], totals[:cut], knowns[:cut], self.coarse
                )
                series.c_bad = array("d", accumulate(b, initial=0.0))
                series.c_total = array("d", accumulate(t, initial=0.0))
                series.c_known = array("i", accumulate(k, initial=0))
                series.base = (series.cbase + len(series.c_known) - 1) * step
            origin = series.c_bad[-1], series.c_total[-1], series.c_known[-1]
            if cut < len(starts):
                series.base, b, t, k = _dense(
                    starts[cut:], bads[cut:], totals[cut:], knowns[cut:], r
                )
            else:
                b, t, k = (), (), ()
            series.cum_bad = array("d", accumulate(b, initial=origin[0]))
            series.cum_total = array("d", accumulate(t, initial=origin[1]))
            series.cum_known = array("i", accumulate(k, initial=origin[2]))
        series.marks.load((s // r, q, reason) for s, q, reason in marks)
        return series

    def load_all(self) -> None:
        """Load every instance into memory now rather than on first use.

        One primary-key range read per instance, its rows' columns summed into the
        prefix arrays by ``accumulate``: about as fast as SQLite hands rows over, and
        faster than one ordered scan of the whole table split up in Python.
        """
        for instance in self._ids:
            self._series_for(instance)

    def last_bucket(self, instance: str) -> int | None:
        """Start of the newest *known* bucket of ``instance``, to resume from.

        When only rolled-up buckets are known, the last fine bucket of the newest one.
        """
        series = self._series_for(instance)
        ck = series.cum_known
        if ck[-1] > ck[0]:
            # The newest index whose known count rises: bisect on the prefix array.
            k = bisect.bisect_left(ck, ck[-1]) - 1
            return (series.base + k) * self.resolution
        c = series.c_known
        if c[-1] > c[0]:
            j = bisect.bisect_left(c, c[-1]) - 1
            return ((series.cbase + j + 1) * series.step - 1) * self.resolution
        return None

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
        """Start of the oldest known bucket of ``instance`` (rolled up or not)."""
        series = self._series_for(instance)
        c = series.c_known
        if c[-1] > c[0]:
            j = bisect.bisect_right(c, c[0]) - 1
            return (series.cbase + j) * series.step * self.resolution
        ck = series.cum_known
        if ck[-1] > ck[0]:
            k = bisect.bisect_right(ck, ck[0]) - 1
            return (series.base + k) * self.resolution
        return None

    def _edge(self, index: int) -> int:
        """A window edge: before the roll-up boundary, the next coarse boundary."""
        if self._rolled is not None and index < self._rolled:
            return -(-index // self._step) * self._step
        return index

    def window(self, instance: str, now: float, seconds: float) -> WindowCounts:
        """Counts of ``instance`` over the ``seconds`` before ``now`` (aligned down).

        An edge that falls in the rolled-up history moves to the next coarse bucket
        boundary; ``start``, ``buckets`` and the coverage are those of the window read.
        """
        r = self.resolution
        end_index = math.floor(now / r)
        start_index = self._edge(end_index - max(1, math.ceil(seconds / r)))
        end_index = self._edge(end_index)
        series = self._series_for(instance)
        lo_bad, lo_total, lo_known = series.prefix(start_index)
        hi_bad, hi_total, hi_known = series.prefix(end_index)
        quality = Quality.NONE
        reasons: tuple[str, ...] = ()
        if series.marks:
            quality, reasons = series.marks.between(start_index, end_index)
        return WindowCounts(
            bad=hi_bad - lo_bad,
            total=hi_total - lo_total,
            known_buckets=hi_known - lo_known,
            buckets=end_index - start_index,
            start=start_index * r,
            end=end_index * r,
            quality=quality,
            reasons=reasons,
        )

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
        """Drop buckets older than ``now - retention``, then :meth:`roll_up`.

        Returns the rows deleted by the retention.
        """
        deleted = 0
        if self.retention is not None:
            cutoff = self.align(now - self.retention)
            with self.store.transaction() as conn:
                deleted = conn.execute(
                    f"DELETE FROM history_bucket WHERE {_EACH_INSTANCE} AND start < ?",
                    (cutoff,),
                ).rowcount
            for series in self._series.values():
                series.drop_before(cutoff // self.resolution)
            if deleted:
                log.info("pruned %d history buckets older than %d", deleted, cutoff)
        self.roll_up(now)
        return deleted

    def roll_up(self, now: float) -> int:
        """Merge buckets older than ``fine_span`` into coarse buckets.

        The boundary moves to the coarse bucket boundary at or before
        ``align(now) - fine_span`` and never back. Rows and boundary change in one
        transaction. Returns the fine rows merged.
        """
        if not self._rolls or self.coarse is None:
            return 0
        c, r = self.coarse, self.resolution
        until = math.floor((self.align(now) - self.fine_span) / c) * c
        since = self._rolled * r if self._rolled is not None else None
        if since is not None and until <= since:
            return 0
        span = (since if since is not None else -(2**62), until)
        where = f"{_EACH_INSTANCE} AND start >= ? AND start < ?"
        with self.store.transaction() as conn:
            conn.execute(_ROLLUP_TABLE)
            conn.execute(
                "INSERT INTO temp.history_rollup "
                "SELECT instance, start - start % ?, SUM(bad), SUM(total), SUM(known),"
                f" 0, NULL FROM history_bucket WHERE {where} GROUP BY 1, 2",
                (c, *span),
            )
            # Quality flags are OR-ed, the first reason kept: marks are few.
            merged: dict[tuple[int, int], tuple[int, str | None]] = {}
            for id_, start, quality, reason in conn.execute(
                "SELECT instance, start, quality, reason FROM history_bucket "
                "INDEXED BY history_bucket_marked "
                f"WHERE {where} AND ({_MARKED}) ORDER BY instance, start",
                span,
            ):
                key = (id_, start - start % c)
                old_quality, old_reason = merged.get(key, (0, None))
                merged[key] = (
                    old_quality | quality,
                    reason if old_reason is None else old_reason,
                )
            conn.executemany(
                "UPDATE temp.history_rollup SET quality = ?, reason = ? "
                "WHERE instance = ? AND start = ?",
                ((q, reason, i, s) for (i, s), (q, reason) in merged.items()),
            )
            merged_rows = conn.execute(
                f"DELETE FROM history_bucket WHERE {where}", span
            ).rowcount
            conn.execute("INSERT INTO history_bucket SELECT * FROM temp.history_rollup")
            conn.execute("DROP TABLE temp.history_rollup")
            conn.executemany(
                "INSERT INTO history_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (("coarse", str(c)), ("rolled_before", str(until))),
            )
        self._rolled = until // r
        for series in self._series.values():
            series.roll_up(self._rolled)
        log.info(
            "rolled %d history buckets before %d up into %d s", merged_rows, until, c
        )
        return merged_rows


def _dense(
    starts: Sequence[int],
    bad: Sequence[float],
    total: Sequence[float],
    known: Sequence[int],
    size: int,
) -> tuple[int, Sequence[float], Sequence[float], Sequence[int]]:
    """Rows ordered by start as dense columns from the first bucket: gaps hold zeros."""
    first = starts[0] // size
    n = starts[-1] // size - first + 1
    if n == len(starts):
        return first, bad, total, known
    b, t, k = [0.0] * n, [0.0] * n, [0] * n
    for s, x, y, z in zip(starts, bad, total, known, strict=True):
        j = s // size - first
        b[j], t[j], k[j] = x, y, z
    return first, b, t, k


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
