"""Property: the page fires exactly when the Workbook condition and the guard hold."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sentinel.model import SLO, RatioSLI

from .world import World

SLO_999 = SLO("api", "api", 0.999, RatioSLI(total="t", bad="b"))
WORLD = World(SLO_999)


def counts(max_total: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.integers(0, max_total).flatmap(
        lambda total: st.tuples(st.integers(0, total), st.just(total))
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long=counts(100_000), short=counts(10_000))
@example(long=(1440, 100_000), short=(144, 10_000))  # exactly 14.4: no page
@example(long=(1441, 100_000), short=(145, 10_000))
@example(long=(19, 19), short=(1, 1))  # burn 1000 but under the guard
def test_page_1h_fires_iff_both_windows_burn_and_the_guard_holds(
    long: tuple[int, int], short: tuple[int, int]
) -> None:
    (long_bad, long_total), (short_bad, short_total) = long, short
    WORLD.set("1h", long_bad, long_total)
    WORLD.set("5m", short_bad, short_total)

    def burns(bad: int, total: int) -> bool:
        # exact rational comparison: bad / total / 0.001 > 14.4
        return total > 0 and bad * 1000 * 10 > 144 * total

    expected = (
        burns(long_bad, long_total)
        and burns(short_bad, short_total)
        and long_bad >= SLO_999.min_events
    )
    assert ("page-1h" in WORLD.firing_tiers()) == expected
    held = {
        h["window"] for h in WORLD.facts("hold") if h["labels"]["tier"] == "page-1h"
    }
    assert held == {w for w, t in (("1h", long_total), ("5m", short_total)) if t == 0}
