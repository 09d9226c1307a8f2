"""A non-finite increment costs its own bucket, never the rest of the tick."""

from __future__ import annotations

import math

import pytest

from sentinel.history import History
from sentinel.model import Quality
from sentinel.sources.base import Increment
from sentinel.store import Store

T0 = 1_800_000_000


@pytest.mark.parametrize(
    ("bad", "total"),
    [(0.0, math.inf), (math.nan, 10.0), (1.7e308 * 10, 1.0), (-1.0, 10.0)],
)
def test_apply_records_a_non_finite_increment_as_unknown_and_keeps_the_others(
    bad: float, total: float
) -> None:
    history = History(Store(":memory:"))
    written = history.apply(
        [
            Increment("api", "api", {}, T0, T0 + 60, bad=bad, total=total),
            Increment("web", "web", {}, T0, T0 + 60, bad=2, total=100),
        ]
    )
    assert written == 2
    w = history.window("web", T0 + 60, 60)
    assert (w.bad, w.total, w.known_buckets) == (2, 100, 1)
    [bucket] = history.buckets("api", T0, T0 + 60)
    assert not bucket.known and (bucket.bad, bucket.total) == (0, 0)
    assert bucket.reason is not None and "increment" in bucket.reason
    if not (math.isfinite(bad) and math.isfinite(total)):
        assert "non-finite" in bucket.reason and bucket.quality & Quality.NAN
    api = history.window("api", T0 + 60, 60)
    assert api.known_buckets == 0 and api.reasons == (bucket.reason,)


def test_a_non_finite_re_read_does_not_replace_a_known_bucket() -> None:
    history = History(Store(":memory:"))
    history.apply([Increment("api", "api", {}, T0, T0 + 60, bad=1, total=50)])
    history.apply([Increment("api", "api", {}, T0, T0 + 60, total=math.inf)])
    w = history.window("api", T0 + 60, 60)
    assert (w.bad, w.total, w.known_buckets) == (1, 50, 1)
