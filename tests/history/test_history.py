import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.errors import StoreError
from sentinel.history import History, retention_for
from sentinel.model import SLO, Quality, RatioSLI
from sentinel.sources.base import Increment
from sentinel.store import Store

T0 = 1_700_000_000 - 1_700_000_000 % 3600  # an hour boundary


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "h.db")
    yield s
    s.close()


def fill(history, instance, rows):
    with history.batch():
        for i, (bad, total) in enumerate(rows):
            history.record(instance, T0 + 60 * i, bad, total)


def test_window_is_a_difference_of_prefix_sums(store):
    h = History(store)
    fill(h, "api", [(i % 3, 100) for i in range(120)])
    now = T0 + 120 * 60
    w = h.window("api", now, 3600)
    assert (w.bad, w.total) == (sum(i % 3 for i in range(60, 120)), 6000)
    assert w.coverage == 1.0
    assert (w.start, w.end) == (now - 3600, now)
    w5 = h.window("api", now + 59, 300)  # now is aligned down
    assert (w5.bad, w5.total, w5.buckets) == (
        sum(i % 3 for i in range(115, 120)),
        500,
        5,
    )


def test_c01_quiet_bucket_is_known_and_windows_sum_counts():
    h = History(Store(":memory:"), resolution=300)
    for i, (bad, total) in enumerate([(1, 1000), (0, 0), (2, 1000)]):
        h.record("checkout", T0 + 300 * i, bad, total)
    middle = h.window("checkout", T0 + 600, 300)
    assert (middle.total, middle.coverage, middle.ratio) == (0, 1.0, None)
    w15 = h.window("checkout", T0 + 900, 900)
    assert w15.ratio == pytest.approx(3 / 2000)


def test_unknown_buckets_lower_coverage_and_are_not_zero(store):
    h = History(store)
    fill(h, "api", [(1, 10)] * 5)
    h.record_unknown("api", T0 + 300, T0 + 600, "prometheus: HTTP 500")
    w = h.window("api", T0 + 600, 600)
    assert (w.bad, w.total, w.known_buckets, w.buckets) == (5, 50, 5, 10)
    assert w.coverage == 0.5
    assert w.reasons == ("prometheus: HTTP 500",)
    only_gap = h.window("api", T0 + 600, 300)
    assert (only_gap.coverage, only_gap.ratio) == (0.0, None)


def test_unknown_never_replaces_known_but_known_replaces_unknown(store):
    h = History(store)
    h.record("api", T0, 1, 10)
    h.record_unknown("api", T0, T0 + 120, "timeout")
    w = h.window("api", T0 + 120, 120)
    assert (w.bad, w.total, w.known_buckets) == (1, 10, 1)
    h.record("api", T0 + 60, 2, 20)
    w = h.window("api", T0 + 120, 120)
    assert (w.bad, w.total, w.known_buckets, w.reasons) == (3, 30, 2, ())
    assert [b.known for b in h.buckets("api", T0, T0 + 120)] == [True, True]


def test_c14_window_longer_than_the_data():
    h = History(Store(":memory:"), resolution=3600)
    now = T0 + 30 * 86400
    for i in range(48):  # the service started two days ago
        h.record("api", now - 48 * 3600 + i * 3600, 300 / 48, 1e6 / 48)
    w = h.window("api", now, 30 * 86400)
    assert w.bad == pytest.approx(300) and w.total == pytest.approx(1e6)
    assert w.coverage == pytest.approx(2 / 30)
    assert w.partial and not math.isnan(w.ratio)


def test_writes_out_of_order_and_before_the_first_bucket(store):
    h = History(store)
    h.record("api", T0 + 600, 5, 50)
    h.record("api", T0, 1, 10)  # before the first bucket
    h.record("api", T0 + 300, 2, 20)  # in the gap
    h.record("api", T0 + 600, 6, 60)  # replaces
    w = h.window("api", T0 + 660, 660)
    assert (w.bad, w.total, w.known_buckets) == (9, 90, 3)
    assert h.first_bucket("api") == T0
    assert h.last_bucket("api") == T0 + 600


def test_quality_marks_reach_the_windows_that_hold_them(store):
    h = History(store)
    fill(h, "api", [(0, 10)] * 10)
    h.record("api", T0 + 120, 0, 10, Quality.CLAMPED)
    assert h.window("api", T0 + 600, 600).quality == Quality.CLAMPED
    assert h.window("api", T0 + 600, 300).quality == Quality.NONE
    h.record("api", T0 + 120, 0, 10)
    assert h.window("api", T0 + 600, 600).quality == Quality.NONE


def test_apply_spreads_a_multi_bucket_increment_and_records_unknowns(store):
    h = History(store)
    h.apply(
        [
            Increment("api", "api", {}, T0, T0 + 180, bad=3, total=30),
            Increment("api", "api", {}, T0 + 180, T0 + 240, known=False, reason="x"),
        ]
    )
    buckets = h.buckets("api", T0, T0 + 240)
    assert [(b.bad, b.total, b.known) for b in buckets] == [
        (1, 10, True),
        (1, 10, True),
        (1, 10, True),
        (0, 0, False),
    ]
    assert all(b.quality == Quality.INTERPOLATED for b in buckets[:3])
    assert buckets[3].reason == "x"


def test_survives_a_restart(tmp_path):
    path = tmp_path / "h.db"
    h = History(Store(path))
    fill(h, "api", [(1, 10)] * 30)
    h.record_unknown("api", T0 + 1800, T0 + 1860, "down")
    h.record('web{region="eu"}', T0, 2, 2, Quality.LOWER_BOUND)
    h.store.close()

    again = History(Store(path))
    assert again.instances() == ["api", 'web{region="eu"}']
    w = again.window("api", T0 + 1860, 1860)
    assert (w.bad, w.total, w.known_buckets, w.reasons) == (30, 300, 30, ("down",))
    assert again.window('web{region="eu"}', T0 + 60, 60).quality == Quality.LOWER_BOUND
    assert again.last_bucket("api") == T0 + 1740


def test_other_resolution_is_refused(tmp_path):
    History(Store(tmp_path / "h.db"), resolution=60).store.close()
    with pytest.raises(StoreError, match="resolution of 60 s, not 300 s"):
        History(Store(tmp_path / "h.db"), resolution=300)


def test_prune_keeps_the_retention(store):
    h = History(store, retention=3600)
    fill(h, "api", [(1, 1)] * 180)
    now = T0 + 180 * 60
    deleted = h.prune(now)
    assert deleted == 120
    assert h.window("api", now, 3600).total == 60
    assert h.window("api", now, 7200).known_buckets == 60
    assert len(h.buckets("api", 0, now)) == 60
    reopened = History(store)
    assert reopened.first_bucket("api") == now - 3600


def test_rolled_back_batch_leaves_memory_and_disk_alone(store):
    h = History(store)
    h.record("api", T0, 1, 1)
    with pytest.raises(RuntimeError), h.batch():
        h.record("api", T0 + 60, 5, 5)
        h.record("new", T0, 1, 1)
        raise RuntimeError("crash between writes")
    assert h.window("api", T0 + 120, 120).total == 1
    assert h.instances() == ["api"]
    h.record("new", T0, 1, 1)
    assert History(store).window("new", T0 + 60, 60).total == 1


def test_rejects_bad_values(store):
    h = History(store)
    with pytest.raises(ValueError, match="not aligned"):
        h.record("api", T0 + 1, 0, 0)
    with pytest.raises(ValueError, match="finite"):
        h.record("api", T0, float("nan"), 1)


def test_retention_is_period_plus_longest_alert_window():
    slo = SLO("api", "svc", 0.999, RatioSLI(total="t", bad="b"))
    assert retention_for([slo]) == 30 * 86400 + 3 * 86400 + 60


@settings(max_examples=60, deadline=None)
@given(
    writes=st.lists(
        st.tuples(
            st.integers(0, 40),
            st.integers(0, 50),
            st.integers(0, 50),
            st.booleans(),
        ),
        max_size=40,
    ),
    now_index=st.integers(0, 45),
    span=st.integers(1, 50),
)
def test_windows_match_a_naive_sum(writes, now_index, span):
    h = History(Store(":memory:"))
    model: dict[int, tuple[int, int, bool]] = {}
    for index, bad, total, known in writes:
        start = T0 + index * 60
        if known:
            h.record("i", start, bad, total)
            model[index] = (bad, total, True)
        else:
            h.record_unknown("i", start, start + 60, "r")
            if not model.get(index, (0, 0, False))[2]:
                model[index] = (0, 0, False)
    w = h.window("i", T0 + now_index * 60, span * 60)
    inside = [model[i] for i in range(now_index - span, now_index) if i in model]
    assert w.bad == sum(b for b, _, k in inside if k)
    assert w.total == sum(t for _, t, k in inside if k)
    assert w.known_buckets == sum(k for _, _, k in inside)
