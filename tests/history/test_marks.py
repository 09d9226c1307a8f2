"""Quality marks and reasons of windows: the flags exact, the reasons a bounded sample,
and the cost of a window independent of how many marked buckets it holds."""

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.history import History
from sentinel.model import SLO, Quality, RatioSLI
from sentinel.store import Store

T0 = 1_700_000_000 - 1_700_000_000 % 3600  # an hour boundary
DAY = 86400
SAMPLE = 64  # newest buckets with a reason looked at per window
FLAGS = [
    Quality.NONE,
    Quality.CLAMPED,
    Quality.LOWER_BOUND,
    Quality.CLAMPED | Quality.WARNINGS,
]


class CountingDict(dict):
    """A dict that counts reads by key: the marks a window looks at."""

    reads = 0

    def __getitem__(self, key):
        CountingDict.reads += 1
        return super().__getitem__(key)


def expected(marks, lo, hi):
    """Flags OR-ed over the marks in ``[lo, hi)``; reasons newest first, up to five
    distinct, from the newest ``SAMPLE`` marks with a reason."""
    inside = sorted(k for k in marks if lo <= k < hi)
    quality = Quality.NONE
    for k in inside:
        quality |= marks[k][0]
    reasons: dict[str, None] = {}
    for k in [k for k in inside if marks[k][1] is not None][::-1][:SAMPLE]:
        reasons[marks[k][1]] = None
        if len(reasons) == 5:
            break
    return quality, tuple(reasons)


@settings(max_examples=80, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(
                st.just("w"),
                st.integers(0, 60),
                st.booleans(),
                st.sampled_from(FLAGS),
                st.sampled_from(["a", "b", "c"]),
            ),
            st.tuples(st.sampled_from("rp"), st.integers(0, 70)),
            st.tuples(st.just("c"), st.integers(0, 70), st.integers(1, 70)),
        ),
        max_size=80,
    ),
    checks=st.lists(st.tuples(st.integers(0, 70), st.integers(1, 70)), max_size=8),
)
def test_window_quality_and_reasons_match_a_naive_scan(ops, checks):
    # 60 s buckets, merged five at a time once older than ten minutes; a prune
    # ("p") drops those older than half an hour first.
    store = Store(":memory:")
    h = History(store, coarse=300, fine_span=600, retention=1800)
    marks: dict[int, tuple[Quality, str | None]] = {}
    known: set[int] = set()
    rolled = -(2**31)  # nothing rolled up yet

    def check(histories, now_index, span):
        lo, hi = now_index - span, now_index
        if lo < rolled:
            lo = -(-lo // 5) * 5
        if hi < rolled:
            hi = -(-hi // 5) * 5
        want = expected(marks, lo, hi)
        for history in histories:
            w = history.window("i", T0 + now_index * 60, span * 60)
            assert (w.quality, w.reasons) == want, history is h

    for op in ops:
        if op[0] == "c":
            check([h], op[1], op[2])
        elif op[0] == "w":
            _, index, is_known, quality, reason = op
            start = T0 + index * 60
            if is_known:
                h.record("i", start, 1, 1, quality)
            else:
                h.record_unknown("i", start, start + 60, reason, quality)
            if index < rolled or (index in known and not is_known):
                continue
            if is_known:
                known.add(index)
                marks.pop(index, None)
                if quality:
                    marks[index] = (quality, None)
            else:
                marks[index] = (quality, reason)
        else:
            if op[0] == "p":
                h.prune(T0 + op[1] * 60)
                for k in [k for k in marks if k < op[1] - 30]:
                    del marks[k]
            else:
                h.roll_up(T0 + op[1] * 60)
            until = (op[1] - 10) // 5 * 5
            for k in sorted(k for k in marks if rolled <= k < until):
                q, reason = marks.pop(k)
                key = k // 5 * 5
                old_q, old_reason = marks.get(key, (Quality.NONE, None))
                marks[key] = (old_q | q, reason if old_reason is None else old_reason)
            rolled = max(rolled, until)
    again = History(store, coarse=300, fine_span=600)
    for now_index, span in checks:
        check([h, again], now_index, span)


def test_a_window_reads_a_bounded_number_of_marks():
    # A month of a new service backfilled from before it existed: 40,000 unknown
    # buckets, each with a reason, and one known bucket in 100 marked CLAMPED.
    h = History(Store(":memory:"), coarse=None)
    n = 40_000
    now = T0 + n * 60
    with h.batch():
        for i in range(n):
            start = T0 + i * 60
            if i % 100 == 50:
                h.record("api", start, 0, 1, Quality.CLAMPED)
            else:
                h.record_unknown("api", start, start + 60, f"no data {i // 10_000}")
    spans = SLO("api", "svc", 0.999, RatioSLI(total="t", bad="b")).windows()
    marks = h._series_for("api").marks
    marks.values = CountingDict(marks.values)

    CountingDict.reads = 0
    first = h.windows("api", now, spans)
    assert CountingDict.reads <= n + len(spans) * SAMPLE  # the flag counts, once

    CountingDict.reads = 0
    again = h.windows("api", now, spans)
    assert again == first
    # Each window reads at most the marks of its reason sample, however many marks
    # it holds (the 30-day one holds all 40,000).
    assert CountingDict.reads <= len(spans) * SAMPLE
    month = first[30 * DAY]
    assert month.known_buckets == n // 100
    assert month.quality == Quality.CLAMPED
    assert month.reasons == ("no data 3",)  # a sample: the newest reason only
    assert first[300].quality == Quality.NONE

    # A new mark at the end costs one more read to bring the counts up to date.
    h.record("api", now, 0, 1, Quality.LOWER_BOUND)
    CountingDict.reads = 0
    later = h.windows("api", now + 60, spans)
    assert CountingDict.reads <= 1 + len(spans) * SAMPLE
    assert later[300].quality == Quality.LOWER_BOUND
    assert later[30 * DAY].quality == Quality.CLAMPED | Quality.LOWER_BOUND


def test_reasons_are_newest_first_and_at_most_five():
    h = History(Store(":memory:"))
    with h.batch():
        for i, reason in enumerate("abcdefg"):
            h.record_unknown("api", T0 + i * 60, T0 + i * 60 + 60, reason)
        h.record("api", T0 + 420, 1, 1)
    assert h.window("api", T0 + 480, 480).reasons == ("g", "f", "e", "d", "c")
    assert h.window("api", T0 + 480, 60).reasons == ()
    h.record("api", T0 + 360, 1, 1)  # the newest unknown bucket becomes known
    assert h.window("api", T0 + 480, 480).reasons == ("f", "e", "d", "c", "b")


def test_flags_follow_rewrites_and_prunes_after_a_read():
    h = History(Store(":memory:"), coarse=None, retention=600)
    with h.batch():
        for i in range(20):
            h.record("api", T0 + i * 60, 0, 1, Quality.CLAMPED if i < 12 else FLAGS[2])
    assert h.window("api", T0 + 1200, 1200).quality == FLAGS[1] | FLAGS[2]
    h.record("api", T0 + 15 * 60, 0, 1, FLAGS[3])  # other flags, same bucket
    assert h.window("api", T0 + 960, 60).quality == FLAGS[3]
    assert h.window("api", T0 + 1200, 480).quality == FLAGS[2] | FLAGS[3]
    h.prune(T0 + 1200)  # drops the buckets before T0 + 600, with their marks
    assert h.window("api", T0 + 1200, 600).quality == FLAGS[1] | FLAGS[2] | FLAGS[3]
    assert h.window("api", T0 + 720, 120).quality == FLAGS[1]
    assert h.window("api", T0 + 1200, 480).quality == FLAGS[2] | FLAGS[3]
    assert h.window("api", T0 + 1200, 420).quality == FLAGS[2] | FLAGS[3]
    assert h.window("api", T0 + 1200, 240).quality == FLAGS[2]
