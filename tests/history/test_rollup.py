"""Roll-up of old buckets: exact sums over coarse buckets, in memory and on disk."""

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.history import _MIGRATIONS, History
from sentinel.model import Quality
from sentinel.store import Store

T0 = 1_700_000_000 - 1_700_000_000 % 3600  # an hour boundary
DAY = 86400


def edge(index: int, rolled: int | None, step: int) -> int:
    """Where a window edge lands: before the boundary, the next coarse boundary."""
    if rolled is not None and index < rolled:
        return -(-index // step) * step
    return index


@settings(max_examples=80, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(
                st.just("w"),
                st.integers(0, 60),
                st.integers(0, 9),
                st.integers(0, 9),
                st.booleans(),
                st.sampled_from([Quality.NONE, Quality.CLAMPED]),
            ),
            st.tuples(st.just("r"), st.integers(0, 70)),
        ),
        max_size=50,
    ),
    checks=st.lists(st.tuples(st.integers(0, 70), st.integers(1, 70)), max_size=8),
)
def test_windows_match_a_naive_sum_across_rollups(ops, checks):
    # 60 s buckets, merged five at a time once older than ten minutes.
    store = Store(":memory:")
    h = History(store, coarse=300, fine_span=600)
    model: dict[int, tuple[int, int, bool, Quality]] = {}
    rolled: int | None = None
    for op in ops:
        if op[0] == "w":
            _, index, bad, total, known, quality = op
            if rolled is not None and index < rolled:
                h.record("i", T0 + index * 60, bad, total)  # dropped: rolled up
                continue
            if known:
                h.record("i", T0 + index * 60, bad, total, quality)
                model[index] = (bad, total, True, quality)
            else:
                h.record_unknown("i", T0 + index * 60, T0 + index * 60 + 60, "r")
                if not model.get(index, (0, 0, False, 0))[2]:
                    model[index] = (0, 0, False, Quality.NONE)
        else:
            h.roll_up(T0 + op[1] * 60)
            until = (op[1] - 10) // 5 * 5
            rolled = until if rolled is None else max(rolled, until)
    again = History(store, coarse=300, fine_span=600)
    bulk = History(store, coarse=300, fine_span=600)
    bulk.load_all()
    for now_index, span in checks:
        lo = edge(now_index - span, rolled, 5)
        hi = edge(now_index, rolled, 5)
        inside = [model[i] for i in range(lo, hi) if i in model]
        expect = (
            sum(b for b, _, k, _ in inside if k),
            sum(t for _, t, k, _ in inside if k),
            sum(k for _, _, k, _ in inside),
            hi - lo,
            any(q for *_, q in inside),
        )
        for history in (h, again, bulk):
            w = history.window("i", T0 + now_index * 60, span * 60)
            got = (w.bad, w.total, w.known_buckets, w.buckets, bool(w.quality))
            assert got == expect, (history is h, history is again)
            assert (w.start, w.end) == (T0 + lo * 60, T0 + hi * 60)


def test_a_day_of_fine_buckets_then_15_minute_ones(tmp_path):
    path = tmp_path / "h.db"
    h = History(Store(path), retention=33 * DAY)
    now = T0 + 3 * DAY
    with h.batch():
        for i in range(3 * DAY // 60):
            h.record("api", T0 + 60 * i, i % 2, 10)
    h.record_unknown("api", T0 + 600, T0 + 660, "timeout")
    h.record("api", T0 + 1200, 0, 10, Quality.CLAMPED)
    before = {s: h.window("api", now + 30, s) for s in (300, 3600, DAY, 2 * DAY)}

    merged = h.roll_up(now)
    assert merged == 2 * DAY // 60  # the unknown write did not replace a known one
    rows = h.store.query("SELECT COUNT(*) FROM history_bucket")[0][0]
    assert rows == 2 * DAY // 900 + DAY // 60

    # Windows of up to a day are untouched, and longer ones that start on a
    # 15-minute boundary are exact too.
    for span, w in before.items():
        assert h.window("api", now + 30, span) == w
    w = h.window("api", now, 3 * DAY - 60)  # starts a minute past T0
    assert w.start == T0 + 900 and w.buckets == (3 * DAY - 900) // 60
    assert w.known_buckets == w.buckets and w.coverage == 1.0
    assert w.total == 10 * w.buckets
    assert w.quality == Quality.CLAMPED  # the 15-minute bucket holding the mark
    assert h.first_bucket("api") == T0
    assert h.last_bucket("api") == now - 60

    h.store.close()
    again = History(Store(path), retention=33 * DAY)
    assert again.window("api", now, 3 * DAY - 60) == w
    assert again.window("api", now, 3 * DAY).reasons == ()
    assert [b.start for b in again.buckets("api", T0, T0 + 1800)] == [T0, T0 + 900]
    assert again.buckets("api", T0, T0 + 1800)[1].quality == Quality.CLAMPED


def test_rolled_up_history_is_final():
    h = History(Store(":memory:"), coarse=300, fine_span=600)
    h.record("api", T0, 1, 10)
    h.roll_up(T0 + 1200)  # rolls up everything before T0 + 600
    h.record("api", T0, 5, 50)  # too old: dropped, not added
    h.record_unknown("api", T0, T0 + 60, "late")
    w = h.window("api", T0 + 600, 600)
    assert (w.bad, w.total, w.known_buckets, w.reasons) == (1, 10, 1, ())
    assert h.last_bucket("api") == T0 + 240  # the last minute of its coarse bucket
    h.record("api", T0 + 600, 2, 20)  # after the boundary: as usual
    assert h.window("api", T0 + 660, 660).total == 30


def test_no_rollup_when_coarse_is_not_coarser():
    h = History(Store(":memory:"), resolution=3600)
    h.record("api", T0, 1, 1)
    assert h.roll_up(T0 + 10 * DAY) == 0
    assert h.coarse is None
    off = History(Store(":memory:"), coarse=None)
    off.record("api", T0, 1, 1)
    assert off.roll_up(T0 + 10 * DAY) == 0


def test_prune_rolls_up_and_drops_whole_coarse_buckets():
    h = History(Store(":memory:"), retention=2 * DAY)
    with h.batch():
        for i in range(4 * DAY // 60):
            h.record("api", T0 + 60 * i, 0, 1)
    now = T0 + 4 * DAY
    h.prune(now)
    assert h.first_bucket("api") == now - 2 * DAY
    w = h.window("api", now, 2 * DAY)
    assert (w.total, w.coverage) == (2 * DAY // 60, 1.0)
    assert History(h.store, retention=2 * DAY).window("api", now, 2 * DAY) == w


def test_a_database_of_the_first_schema_is_migrated(tmp_path):
    path = tmp_path / "h.db"
    store = Store(path)
    store.migrate("history", _MIGRATIONS[:1])
    with store.transaction() as conn:
        conn.execute("INSERT INTO history_instance (id, name) VALUES (1, 'api')")
        conn.execute(
            "INSERT INTO history_bucket VALUES (1, ?, 1, 10, 0, 2, 'down')", (T0,)
        )
        conn.execute(
            "INSERT INTO history_bucket VALUES (1, ?, 1, 10, 1, 0, NULL)", (T0 + 60,)
        )
    store.close()
    h = History(Store(path))
    assert h.store.version("history") == len(_MIGRATIONS)
    w = h.window("api", T0 + 120, 120)
    assert (w.total, w.known_buckets, w.reasons) == (20, 1, ("down",))


def test_load_all_matches_loading_on_first_use(tmp_path):
    h = History(Store(tmp_path / "h.db"), coarse=300, fine_span=600)
    with h.batch():
        for n, name in enumerate(["a", "b", 'c{x="1"}']):
            for i in range(0, 40, n + 1):  # gaps in b and c
                h.record(name, T0 + 60 * i, i % 3, 5, Quality(i % 2))
    h.record_unknown("b", T0 + 60 * 41, T0 + 60 * 43, "gone")
    h.roll_up(T0 + 60 * 30)
    lazy = History(h.store, coarse=300, fine_span=600)
    bulk = History(h.store, coarse=300, fine_span=600)
    bulk.load_all()
    for name in h.instances():
        for span in (60, 300, 900, 1800, 2700):
            for now in (T0 + 60 * 44, T0 + 60 * 23):
                assert lazy.window(name, now, span) == h.window(name, now, span)
                assert bulk.window(name, now, span) == h.window(name, now, span)
