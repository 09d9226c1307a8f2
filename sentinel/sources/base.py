"""The protocol every SLI source shares, and the counter arithmetic they have in common.

A source is asked once per tick, at a pinned time ``now``, for the increments of bad and
total events of every SLO instance since the last tick::

    report = source.tick(now)          # TickReport
    history.apply(report.increments)   # one transaction
    ... history.windows(instance, now, slo.windows()) for each instance

An :class:`Increment` covers one bucket ``[start, end)`` of the history's resolution.
It is *known* (the read succeeded; ``0/0`` is a known quiet bucket) or *unknown* (the
read failed or was partial; ``reason`` says why). A source never turns a failed read
into zeros.

Counter arithmetic (:func:`series_increase`): increases are worked out per series,
reset-aware, before anything is summed over series (case C07); the increase between
two samples lands in the bucket holding the later sample; an interval longer than the
source's ``max_gap`` is a gap whose increase is not attributed, and the buckets it
spans are unknown (case C17).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sentinel.model import SLO, LatencySLI, Quality

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Increment:
    """Bad and total events of one SLO instance in ``[start, end)``."""

    slo: str
    instance: str
    group_labels: Labels
    start: float
    end: float
    bad: float = 0.0
    total: float = 0.0
    known: bool = True
    reason: str | None = None
    quality: Quality = Quality.NONE


@dataclass(frozen=True)
class TargetHealth:
    """Health of one scrape target after a tick."""

    url: str
    up: bool
    last_scrape: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    samples: int = 0


@dataclass
class TickReport:
    """What one tick (or one backfill chunk) of a source did and found."""

    now: float
    increments: list[Increment] = field(default_factory=list)
    #: HTTP reads made: PromQL queries or scrapes.
    requests: int = 0
    failures: int = 0
    #: Wall time spent reading, summed over requests, in seconds.
    latency: float = 0.0
    #: Samples received.
    samples: int = 0
    errors: list[str] = field(default_factory=list)
    targets: list[TargetHealth] = field(default_factory=list)

    def merge(self, other: TickReport) -> None:
        self.increments.extend(other.increments)
        self.requests += other.requests
        self.failures += other.failures
        self.latency += other.latency
        self.samples += other.samples
        self.errors.extend(other.errors)


class Source(Protocol):
    """A source of SLO event increments."""

    def tick(self, now: float) -> TickReport:
        """Read the increments since the last tick, pinned at ``now``."""
        ...

    def close(self) -> None: ...


def bucket_of(t: float, resolution: int) -> int:
    """Start of the bucket holding a sample taken at ``t``.

    Buckets are closed on the right for samples: a sample at exactly ``k * resolution``
    belongs to the bucket that *ends* there, so a tick pinned at an aligned ``now``
    sees the whole of its last bucket ``[now - resolution, now)``.
    """
    return (math.ceil(t / resolution) - 1) * resolution


def counter_delta(previous: float, current: float) -> float:
    """Increase of a counter between two samples; a drop is a reset to zero (C07)."""
    return current - previous if current >= previous else current


@dataclass
class SeriesIncrease:
    """The per-bucket increases of one series, and where it had samples."""

    increases: dict[int, float] = field(default_factory=dict)
    #: Buckets the series covers: a sample no more than ``max_gap`` before their end.
    covered: set[int] = field(default_factory=set)
    #: Buckets holding a NaN sample.
    nan: set[int] = field(default_factory=set)
    #: Buckets holding an infinite sample, or whose increase overflowed.
    nonfinite: set[int] = field(default_factory=set)
    #: The series' first value in the read was not counted: it may be new (C08).
    lower_bound: set[int] = field(default_factory=set)


def series_increase(
    samples: Sequence[tuple[float, float]],
    *,
    start: float,
    end: float,
    resolution: int,
    max_gap: float,
    new_from_zero: bool = False,
) -> SeriesIncrease:
    """Reset-aware increases of one counter series, by bucket, for ``(start, end]``.

    ``samples`` are ``(time, value)`` pairs sorted by time and may begin before
    ``start`` (earlier samples only serve as the base of the first increase).

    A NaN or infinite sample marks its bucket (``nan``, ``nonfinite``) and starts the
    series afresh, as does an increase too large for a float.

    A sample with no predecessor within ``max_gap`` starts the series afresh. Its value
    is counted from zero when ``new_from_zero`` is set (the caller knows the series is
    new, as a scraper does); otherwise it is not counted and the bucket is marked as a
    lower bound, because a query result cannot tell a new series from one whose earlier
    samples lie outside the read (C08).
    """
    out = SeriesIncrease()
    previous: tuple[float, float] | None = None
    for t, value in samples:
        if t > end:
            break
        b = bucket_of(t, resolution)
        if not math.isfinite(value):
            if t > start:
                (out.nan if math.isnan(value) else out.nonfinite).add(b)
            previous = None
            continue
        fresh = previous is None or t - previous[0] > max_gap
        if t > start:
            if previous is not None and not fresh:
                delta = counter_delta(previous[1], value)
                if delta:
                    summed = out.increases.get(b, 0.0) + delta
                    if not math.isfinite(summed):
                        out.nonfinite.add(b)
                    out.increases[b] = summed
            elif new_from_zero:
                if value:
                    out.increases[b] = out.increases.get(b, 0.0) + value
            elif value:
                out.lower_bound.add(b)
        previous = (t, value)
        _cover(out.covered, t, start, end, resolution, max_gap)
    return out


def _cover(
    covered: set[int], t: float, start: float, end: float, resolution: int, gap: float
) -> None:
    # A bucket is covered when a sample lies in (bucket end - max_gap, bucket end].
    first = bucket_of(t, resolution)
    b = first
    while b + resolution - t < gap and b + resolution <= end:
        if b + resolution > start:
            covered.add(b)
        b += resolution


def group_key(labels: Labels, group_by: Sequence[str]) -> tuple[str, ...]:
    """The values of ``group_by`` in ``labels``; a missing label is ``""``."""
    return tuple(labels.get(name, "") for name in group_by)


def bucket_starts(start: float, end: float, resolution: int) -> Iterable[int]:
    """Starts of the buckets in ``(start, end]`` as seen by :func:`bucket_of`."""
    b = bucket_of(start, resolution) + resolution
    while b + resolution <= end:
        yield b
        b += resolution


def le_matches(le: str, threshold: float) -> bool:
    """Whether a bucket's ``le`` label is ``threshold``, compared as numbers (C11)."""
    try:
        return float(le) == threshold
    except ValueError:
        return False


@dataclass
class GroupSums:
    """Increases of one SLO instance in one bucket, summed over its series."""

    total: float = 0.0
    other: float = 0.0  # bad, or good for good-based and latency SLIs
    total_series: int = 0
    other_series: int = 0
    quality: Quality = Quality.NONE
    unknown: str | None = None


def to_increment(
    slo: str,
    instance: str,
    group_labels: Labels,
    start: float,
    end: float,
    sums: GroupSums,
    *,
    other_is_good: bool,
) -> Increment:
    """Bad and total of one bucket from summed series, with the C01/C12 rules.

    - No bad series at all next to a total: no errors (C01). Bad events without any
      total series: a data fault, unknown (C12).
    - For good-based SLIs, no good series at all while there is traffic is a data
      fault too, not "everything failed". Good above total is clamped to bad 0 and
      marked (C12): never negative bad events, never an SLI above 1.
    """

    def unknown(reason: str, quality: Quality = Quality.NONE) -> Increment:
        return Increment(
            slo,
            instance,
            group_labels,
            start,
            end,
            known=False,
            reason=reason,
            quality=sums.quality | quality,
        )

    if sums.unknown:
        return unknown(sums.unknown)
    if not sums.total_series:
        if sums.other_series and (sums.other > 0 or not other_is_good):
            kind = "good" if other_is_good else "bad"
            return unknown(
                f"{kind} events without a total series", Quality.BAD_WITHOUT_TOTAL
            )
        return unknown("no total series")
    quality = sums.quality
    if other_is_good:
        if not sums.other_series and sums.total > 0:
            return unknown("no good series next to the total", Quality.MISSING_GOOD)
        bad = sums.total - sums.other
        if bad < 0:
            bad = 0.0
            quality |= Quality.CLAMPED
    else:
        bad = sums.other
        if bad > sums.total:
            bad = sums.total
            quality |= Quality.CLAMPED
    return Increment(
        slo,
        instance,
        group_labels,
        start,
        end,
        bad=bad,
        total=sums.total,
        quality=quality,
    )


def bound_text(bound: float) -> str:
    """A bucket bound as a person writes it: ``1``, ``0.25``, ``+Inf``."""
    if math.isinf(bound):
        return "+Inf" if bound > 0 else "-Inf"
    return str(int(bound)) if bound == int(bound) else repr(bound)


def missing_good_message(slo: SLO, found_le: Iterable[str] | None) -> str:
    """Why an SLI has traffic but no good series, for the log (C11, C12).

    ``found_le`` are the ``le`` labels of the histogram's buckets that were found
    (latency SLIs), or ``None`` when they could not be read.
    """
    sli = slo.sli
    if not isinstance(sli, LatencySLI):
        return (
            f"SLO {slo.name}: good selector {sli.good} matches no series while the"
            f" total {sli.total} has traffic; its bad events cannot be counted"
        )
    threshold = bound_text(sli.threshold)
    if found_le is None:
        return (
            f"SLO {slo.name}: no bucket le={threshold} of {sli.histogram} next to"
            " its count; the bounds could not be read"
        )
    bounds: set[float] = set()
    for le in found_le:
        try:
            bounds.add(float(le))
        except ValueError:
            continue
    listed = ", ".join(bound_text(b) for b in sorted(bounds)) or "none"
    if float(sli.threshold) in bounds:
        return (
            f"SLO {slo.name}: no bucket le={threshold} of {sli.histogram} next to"
            f" its count for some instances; bounds found: {listed}"
        )
    return (
        f"SLO {slo.name}: threshold {threshold} is not a bucket bound of"
        f" {sli.histogram}; bounds found: {listed}"
    )


class MisfitLog:
    """Logs an SLO's configuration misfit as an ERROR once, and again if it changes.

    A source calls :meth:`check` with each read's increments: while any of them is
    marked :attr:`Quality.MISSING_GOOD` the message is logged (once per distinct
    text); a read with traffic and no such mark clears it, so a recurrence is
    logged again.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._last: dict[str, str] = {}

    def missing(self, increments: Iterable[Increment]) -> bool | None:
        """True if any increment misses its good series; None if nothing says."""
        cleared = None
        for inc in increments:
            if inc.quality & Quality.MISSING_GOOD:
                return True
            if inc.known and inc.total > 0:
                cleared = False
        return cleared

    def report(self, slo: str, message: str) -> None:
        if self._last.get(slo) != message:
            self._last[slo] = message
            self._log.error("%s", message)

    def clear(self, slo: str) -> None:
        self._last.pop(slo, None)
