"""Counter arithmetic shared by the sources, pinned to the cases it must get right."""

import math

from sentinel.model import Quality
from sentinel.sources.base import (
    GroupSums,
    bucket_of,
    counter_delta,
    le_matches,
    series_increase,
    to_increment,
)


def inc(samples, start=0, end=600, new_from_zero=False):
    return series_increase(
        samples,
        start=start,
        end=end,
        resolution=60,
        max_gap=120,
        new_from_zero=new_from_zero,
    )


def test_sample_on_a_boundary_belongs_to_the_bucket_that_ends_there():
    assert (
        bucket_of(60, 60) == 0 and bucket_of(60.001, 60) == 60 and bucket_of(1, 60) == 0
    )


def test_c07_reset_counts_the_new_value():
    assert counter_delta(5000, 550) == 550 and counter_delta(10000, 10600) == 600
    got = inc([(0, 5000), (60, 550), (120, 600)], start=-60, end=120)
    assert got.increases == {0: 550, 60: 50}


def test_c08_first_value_is_a_lower_bound_unless_known_new():
    samples = [(180, 3), (240, 3), (300, 3)]
    assert inc(samples).increases == {} and inc(samples).lower_bound == {120}
    assert inc(samples, new_from_zero=True).increases == {120: 3}


def test_c17_gap_is_not_attributed_and_buckets_inside_are_not_covered():
    got = inc([(30, 0), (90, 10), (450, 100), (510, 110)])
    assert got.increases == {60: 10, 480: 10}
    assert got.covered == {0, 60, 120, 420, 480, 540}
    assert got.lower_bound == {420}


def test_nan_sample_marks_its_bucket():
    got = inc([(30, 1), (90, math.nan), (150, 3)])
    assert got.nan == {60} and got.increases == {}


def test_c11_bounds_compare_as_numbers():
    assert le_matches("1", 1.0) and le_matches("1.0", 1) and le_matches("1e0", 1)
    assert not le_matches("0.25", 0.2) and not le_matches("+Inf", 1)


def test_c12_and_c01_rules():
    def make(**kw):
        return to_increment("s", "s", {}, 0, 60, GroupSums(**kw), other_is_good=False)

    assert make(total=600, total_series=1).bad == 0  # C01: no error series
    fault = make(other=12, other_series=1)
    assert not fault.known and fault.quality & Quality.BAD_WITHOUT_TOTAL
    good = to_increment(
        "s",
        "s",
        {},
        0,
        60,
        GroupSums(total=68008, other=68560, total_series=1, other_series=1),
        other_is_good=True,
    )
    assert (good.bad, good.quality) == (0, Quality.CLAMPED)
    missing_good = to_increment(
        "s", "s", {}, 0, 60, GroupSums(total=10, total_series=1), other_is_good=True
    )
    assert not missing_good.known


def test_infinite_sample_and_overflowing_increase_are_marked_non_finite():
    got = inc([(30, 1), (90, math.inf), (150, 3)])
    assert got.nonfinite == {60} and got.nan == set() and got.increases == {}
    got = inc([(30, 0), (90, 1.7e308), (100, 0), (110, 1.7e308)])
    assert got.nonfinite == {60}
