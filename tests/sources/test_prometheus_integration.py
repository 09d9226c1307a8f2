"""The Prometheus source against a real Prometheus with 34 days of backfilled history.

History (one sample a minute, at :30 past each minute, from 34 days ago):

- ``requests_total{region="eu"}``: code 200 +100 and code 500 +1 a minute; both reset
  to zero 3 hours before ``E``; no samples for 10 minutes 40 minutes before ``E``;
- ``requests_total{region="us"}``: code 200 +50 a minute; a code 500 series appears
  2 hours before ``E`` at 3 and grows by 2 a minute (its first value is not counted);
- ``rpc_seconds`` histogram, ``le`` written "1" (Go style): 100 a minute, 98 under 1 s.

The expected counts are worked out from the sample lists below, and the simple ones
are also stated by hand.
"""

from __future__ import annotations

import time

import pytest

from sentinel.history import History
from sentinel.model import SLO, LatencySLI, Quality, RatioSLI
from sentinel.sources.prometheus import PrometheusSource
from sentinel.store import Store
from tests.harness.openmetrics import Series, counter_series, histogram_series

pytestmark = pytest.mark.integration

MIN, HOUR, DAY = 60, 3600, 86400
MAX_GAP = 120
SPANS = (5 * MIN, HOUR, 6 * HOUR, 3 * DAY, 30 * DAY)


def build(end_of_backfill: int) -> tuple[list[Series], dict[str, list[Series]]]:
    e = end_of_backfill
    start, last = e - 34 * DAY + 30, e + 10 * MIN - 30
    reset = [e - 3 * HOUR + 30]
    eu = [
        counter_series(
            "requests_total",
            {"region": "eu", "code": "200"},
            start,
            last,
            MIN,
            100,
            reset,
        ),
        counter_series(
            "requests_total",
            {"region": "eu", "code": "500"},
            start,
            last,
            MIN,
            1,
            reset,
        ),
    ]
    for s in eu:  # the outage: no samples for 10 minutes
        s.samples = [p for p in s.samples if not e - 40 * MIN <= p[0] < e - 30 * MIN]
    us = [
        counter_series(
            "requests_total", {"region": "us", "code": "200"}, start, last, MIN, 50
        ),
        counter_series(
            "requests_total",
            {"region": "us", "code": "500"},
            e - 2 * HOUR + 30,
            last,
            MIN,
            2,
            initial=3,
        ),
    ]
    rpc = histogram_series(
        "rpc_seconds",
        {},
        start,
        last,
        MIN,
        bounds=[0.3, 1, 2.5],
        per_step=[90, 8, 1, 1],
        le_format=lambda b: f"{b:g}",
    )
    by_name = {"eu": eu, "us": us, "rpc": rpc}
    return [*eu, *us, *rpc], by_name


def increase(series: list[Series], lo: float, hi: float) -> float:
    """Reset-aware increases of samples in (lo, hi] with a predecessor near enough."""
    total = 0.0
    for s in series:
        for (t0, v0), (t1, v1) in zip(s.samples, s.samples[1:], strict=False):
            if lo < t1 <= hi and t1 - t0 <= MAX_GAP:
                total += v1 - v0 if v1 >= v0 else v1
    return total


def known_buckets(series: list[Series], lo: int, hi: int) -> int:
    """Buckets in [lo, hi) whose end has a sample no more than MAX_GAP before it."""
    times = {t for s in series for t, _ in s.samples}
    return sum(
        any(
            end - MAX_GAP < t <= end
            for t in range(end - MAX_GAP + 30, end + 1, MIN)
            if t in times
        )
        for end in range(lo + MIN, hi + 1, MIN)
    )


def test_windows_after_backfill_and_ticks_are_exact(prometheus_factory):
    e = (int(time.time()) // MIN - 16) * MIN
    series, parts = build(e)
    server = prometheus_factory(backfill=series)
    requests = SLO(
        "requests",
        "svc",
        0.999,
        RatioSLI(total="requests_total", bad='requests_total{code="500"}'),
        group_by=("region",),
    )
    latency = SLO("rpc", "svc", 0.99, LatencySLI("rpc_seconds", threshold=1.0))
    history = History(Store(":memory:"))
    source = PrometheusSource([requests, latency], server.url, max_gap=MAX_GAP)

    # backfill: 30 + 3 days, one day a chunk, two queries a chunk and SLO
    reports = list(source.backfill(e))
    assert sum(r.requests for r in reports) == 2 * 2 * 33
    assert sum(r.failures for r in reports) == 0
    for r in reports:
        history.apply(r.increments)
    check(history, parts, e, e)
    eu5 = history.window('requests{region="eu"}', e, 5 * MIN)
    assert (eu5.bad, eu5.total, eu5.coverage) == (5, 505, 1.0)
    us5 = history.window('requests{region="us"}', e, 5 * MIN)
    assert (us5.bad, us5.total) == (10, 260)
    rpc = history.window("rpc", e, HOUR)
    assert (rpc.bad, rpc.total) == (2 * 60, 100 * 60)

    # ten further ticks, each pinned a minute later, two queries per SLO each
    for minute in range(1, 11):
        report = source.tick(e + minute * MIN)
        assert (report.requests, report.failures) == (4, 0)
        history.apply(report.increments)
    check(history, parts, e, e + 10 * MIN)


def check(history: History, parts: dict[str, list[Series]], e: int, at: int) -> None:
    for name, instance in (
        ("eu", 'requests{region="eu"}'),
        ("us", 'requests{region="us"}'),
    ):
        for span in SPANS:
            w = history.window(instance, at, span)
            bad = [s for s in parts[name] if s.labels["code"] == "500"]
            assert (w.bad, w.total) == (
                increase(bad, at - span, at),
                increase(parts[name], at - span, at),
            ), (instance, span)
            assert w.known_buckets == known_buckets(parts[name], at - span, at)
            # the new us error series, and eu's first sample after the outage, are
            # not counted, and the windows holding them say so
            first_uncounted = e - {"us": 2 * HOUR, "eu": 30 * MIN}[name]
            lower_bound = at - span <= first_uncounted
            assert bool(w.quality & Quality.LOWER_BOUND) == lower_bound, (
                instance,
                span,
            )
    rpc = parts["rpc"]
    count = [s for s in rpc if s.name == "rpc_seconds_count"]
    good = [s for s in rpc if s.labels.get("le") == "1"]
    for span in SPANS:
        w = history.window("rpc", at, span)
        total = increase(count, at - span, at)
        assert (w.bad, w.total, w.coverage) == (
            total - increase(good, at - span, at),
            total,
            1.0,
        )
