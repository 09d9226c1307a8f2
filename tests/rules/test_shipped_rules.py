"""The shipped rule packs, fed the evaluator's facts directly, with exact numbers."""

from __future__ import annotations

from typing import Any

import pytest

from sentinel.model import DEFAULT_TIERS, SLO, RatioSLI, TierSpec

from .world import MAINTENANCE, SHIPPED, Series, World

SLI = RatioSLI(total="requests_total", bad="errors_total")
DAY = 1440  # minutes


def slo(objective: float = 0.999, **kw: Any) -> SLO:
    return SLO(name="checkout", service="shop", objective=objective, sli=SLI, **kw)


def quiet_world(s: SLO | None = None, **kw: object) -> World:
    """Every window healthy: 1000 requests a minute, none bad."""
    world = World(s or slo(), **kw)  # type: ignore[arg-type]
    for seconds in world.slo.windows():
        minutes = seconds / 60
        world.set(_name(seconds), 0, 1000 * minutes)
    return world


def _name(seconds: float) -> str:
    from sentinel.model import format_duration

    return format_duration(seconds)


# -- burn rates and no data ------------------------------------------------------------


def test_burn_rate_of_a_window_with_traffic() -> None:
    world = quiet_world()
    world.set("1h", 30, 10_000)

    burn = world.one("burn", window="1h")
    assert burn["ratio"] == pytest.approx(0.003)
    assert burn["rate"] == pytest.approx(3.0)


def test_C01_empty_bucket_is_no_data_and_the_window_sums_counts() -> None:
    # Three 5-minute buckets (1, 1000), (0, 0), (2, 1000); a tier over 15m/5m.
    tier = TierSpec("page-15m", 0.001, 900, 300, "page")
    world = quiet_world(slo(tiers=(tier,)))

    world.set("5m", 0, 0)  # the middle bucket alone
    world.set("15m", 3, 2000)

    assert world.facts("burn", window="5m") == []
    assert world.one("burn", window="15m")["rate"] == pytest.approx(1.5)
    hold = world.one("hold", window="5m")
    assert hold["state"] == "no_data"
    assert dict(hold["labels"]) == {
        "slo": "checkout",
        "service": "shop",
        "tier": "page-15m",
        "severity": "page",
    }


def test_C01_no_errors_is_healthy_not_no_data() -> None:
    world = quiet_world()
    world.set("5m", 0, 600)

    assert world.one("burn", window="5m")["rate"] == 0
    assert world.facts("hold") == []


def test_C02_every_window_guards_on_its_own_total() -> None:
    world = quiet_world()
    world.set("1h", 0, 0)  # no data: a clamp would give burn 1000
    world.set("5m", 0, 3)

    assert world.facts("burn", window="1h") == []
    assert world.one("burn", window="5m")["rate"] == 0
    assert world.alerts("SLOBurnRateHigh") == []


def test_C11_latency_sli_at_the_1s_bound() -> None:
    # le=1.0 holds 998 of 1000 requests: 2 slower than the threshold
    from sentinel.model import LatencySLI

    sli = LatencySLI("http_request_duration_seconds", 1.0, (0.1, 0.25, 0.5, 1.0))
    world = quiet_world(SLO("api", "api", 0.99, sli))
    world.set("1h", 2, 1000)

    burn = world.one("burn", window="1h")
    assert burn["ratio"] == pytest.approx(0.002)  # SLI 99.8%
    assert burn["rate"] == pytest.approx(0.2)


# -- the page and what it says ---------------------------------------------------------


def test_page_fires_with_the_numbers_that_made_it() -> None:
    world = quiet_world()
    world.set("1h", 900, 60_000)  # 1.5%, burn 15
    world.set("5m", 100, 5_000)  # 2%, burn 20

    (alert,) = world.alerts("SLOBurnRateHigh")
    assert alert["severity"] == "page"
    assert alert["runbook"] == "slo-burn-rate-high"
    assert dict(alert["labels"]) == {
        "slo": "checkout",
        "service": "shop",
        "tier": "page-1h",
        "severity": "page",
    }
    notes = alert["annotations"]
    assert notes["factor"] == pytest.approx(14.4)
    assert notes["long_burn_rate"] == pytest.approx(15.0)
    assert notes["short_burn_rate"] == pytest.approx(20.0)
    assert notes["long_error_ratio"] == pytest.approx(0.015)
    assert notes["long_bad_events"] == 900
    assert notes["long_total_events"] == 60_000
    # the 30d window still holds 0 bad of 43.2M: the quiet world's numbers
    assert notes["budget_remaining"] == pytest.approx(1.0)


def test_page_needs_both_windows() -> None:
    world = quiet_world()
    world.set("1h", 900, 60_000)  # burn 15
    world.set("5m", 50, 5_000)  # burn 10: the burn has stopped

    assert world.alerts("SLOBurnRateHigh") == []


def test_page_resolves_when_the_short_window_recovers() -> None:
    world = quiet_world()
    world.set("1h", 900, 60_000)
    world.set("5m", 100, 5_000)
    assert world.firing_tiers() == ["page-1h"]

    world.set("5m", 0, 5_000)

    assert world.firing_tiers() == []


def test_C15_one_error_at_night_does_not_page() -> None:
    world = quiet_world()
    world.set("1h", 1, 20)  # burn 50
    world.set("5m", 1, 1)  # burn 1000

    assert world.one("burn", window="5m")["rate"] == pytest.approx(1000)
    assert world.alerts("SLOBurnRateHigh") == []


def test_C15_twenty_errors_in_the_hour_still_page() -> None:
    world = quiet_world()
    world.set("1h", 20, 1_000)  # burn 20
    world.set("5m", 2, 2)

    assert world.firing_tiers() == ["page-1h"]


def test_C15_the_guard_is_per_tier() -> None:
    tiers = (
        TierSpec("page-1h", 0.02, 3600, 300, "page", min_events=1),
        *DEFAULT_TIERS[1:],
    )
    world = quiet_world(slo(tiers=tiers))
    world.set("1h", 1, 20)
    world.set("5m", 1, 1)

    assert world.firing_tiers() == ["page-1h"]


# -- C04, C05: factors from the period and the objective -------------------------------


@pytest.mark.parametrize(
    ("days", "factors"),
    [
        (30, [14.4, 6, 3, 1]),
        (28, [13.44, 5.6, 2.8, 0.9333]),
        (7, [3.36, 1.4, 0.7, 0.2333]),
    ],
)
def test_C05_tier_factors_follow_the_period(days: int, factors: list[float]) -> None:
    world = World(slo(period=days * 86400.0))

    got = [world.one("tier", name=t.name)["factor"] for t in DEFAULT_TIERS]
    assert got == pytest.approx(factors, abs=1e-4)


def test_C05_seven_day_page_fires_above_3_36_not_14_4() -> None:
    world = quiet_world(slo(period=7 * 86400.0))
    world.set("1h", 204, 60_000)  # 0.34%, burn 3.4
    world.set("5m", 17, 5_000)  # burn 3.4

    assert world.firing_tiers() == ["page-1h"]


# -- detection time --------------------------------------------------------------------


def detection_minutes(s: SLO, error_ratio: float, until: int) -> dict[str, int]:
    """First minute each tier fires after a step to ``error_ratio`` at minute 0."""
    history = 30 * DAY
    total = [1000.0] * (history + until)
    bad = [0.0] * history + [1000.0 * error_ratio] * until
    series = Series(bad, total, start=-history)
    world = World(s)
    first: dict[str, int] = {}
    for minute in range(1, until + 1):
        series.tick(world, minute)
        for tier in world.firing_tiers():
            first.setdefault(tier, minute)
    return first


def workbook_minutes(s: SLO, tier: TierSpec, error_ratio: float) -> float:
    """fraction x period x (1 - objective) / error ratio, in minutes."""
    return tier.fraction * s.period * s.budget / error_ratio / 60


@pytest.mark.parametrize(
    ("error_ratio", "workbook", "fires"),
    [
        # burn 10: page-1h's 14.4 is out of reach
        (
            0.01,
            {"page-1h": 86.4, "page-6h": 216, "ticket-1d": 432, "ticket-3d": 432},
            {"page-6h": 217, "ticket-1d": 433, "ticket-3d": 433},
        ),
        # burn 50: every tier, fastest first
        (
            0.05,
            {"page-1h": 17.28, "page-6h": 43.2, "ticket-1d": 86.4, "ticket-3d": 86.4},
            {"page-1h": 18, "page-6h": 44, "ticket-1d": 87, "ticket-3d": 87},
        ),
    ],
)
def test_detection_time_matches_the_workbook_at_99_9(
    error_ratio: float, workbook: dict[str, float], fires: dict[str, int]
) -> None:
    s = slo()
    expected = {t.name: workbook_minutes(s, t, error_ratio) for t in DEFAULT_TIERS}
    assert expected == pytest.approx(workbook)

    first = detection_minutes(s, error_ratio, until=max(fires.values()) + 2)

    # each tier fires at the first evaluation strictly after the Workbook's time,
    # never before; a tier whose time exceeds its long window never fires
    assert first == fires


def test_C04_total_outage_at_90_pages_through_the_6h_tier() -> None:
    s = slo(0.9)  # highest burn rate 10: page-1h (14.4) can never fire
    first = detection_minutes(s, 1.0, until=220)

    assert workbook_minutes(s, DEFAULT_TIERS[1], 1.0) == pytest.approx(216)
    assert first["page-6h"] == 217
    assert "page-1h" not in first


# -- budget ----------------------------------------------------------------------------


def test_C14_partial_window_budget() -> None:
    world = quiet_world()
    world.set("30d", 300, 1_000_000, coverage=2 / 30)

    budget = world.one("budget")
    assert budget["remaining"] == pytest.approx(0.7)
    assert budget["consumed"] == pytest.approx(0.3)
    assert budget["coverage"] == pytest.approx(0.0667, abs=1e-4)
    assert budget["partial"] is True


def test_time_to_exhaustion_uses_the_trend_window() -> None:
    world = quiet_world()
    world.set("30d", 300, 1_000_000)  # 70% left
    world.set("1h", 120, 60_000)  # burn 2

    exhaustion = world.one("budget_exhaustion")
    assert exhaustion["window"] == "1h"
    assert exhaustion["seconds"] == pytest.approx(0.7 * 30 * 86400 / 2)


def test_budget_exhausted_alert() -> None:
    world = quiet_world()
    world.set("30d", 1_200, 1_000_000)

    (alert,) = world.alerts("SLOErrorBudgetExhausted")
    assert alert["severity"] == "ticket"
    assert alert["runbook"] == "slo-error-budget-exhausted"
    assert dict(alert["labels"]) == {"slo": "checkout", "service": "shop"}
    assert alert["annotations"]["budget_remaining"] == pytest.approx(-0.2)
    assert alert["annotations"]["error_ratio"] == pytest.approx(0.0012)


def test_budget_exhausted_waits_for_a_tenth_of_the_period_and_enough_events() -> None:
    world = quiet_world()
    world.set("30d", 50, 1_000, coverage=0.001)  # minutes after a start
    assert world.one("budget")["remaining"] < 0
    assert world.alerts("SLOErrorBudgetExhausted") == []

    world.set("30d", 10, 1_000, coverage=0.5)  # half a period, 10 bad events
    assert world.alerts("SLOErrorBudgetExhausted") == []

    world.set("30d", 20, 1_000, coverage=0.1)
    assert len(world.alerts("SLOErrorBudgetExhausted")) == 1


# -- data quality ----------------------------------------------------------------------


def test_C17_scrape_gap_holds_the_page_and_raises_data_missing() -> None:
    world = quiet_world()
    world.set("1h", 3_000, 60_000)
    world.set("5m", 5_000, 5_000)
    assert world.firing_tiers() == ["page-1h"]

    world.set("5m", 0, 0, coverage=0.0)  # 12:00-12:05 without samples

    assert world.firing_tiers() == []
    hold = world.one("hold", window="5m")
    assert hold["name"] == "SLOBurnRateHigh"
    assert dict(hold["labels"])["tier"] == "page-1h"
    (missing,) = world.alerts("SLODataMissing")
    assert dict(missing["labels"]) == {
        "slo": "checkout",
        "service": "shop",
        "window": "5m",
    }

    world.set("5m", 1_000, 1_000)  # samples again, still failing

    assert world.firing_tiers() == ["page-1h"]
    assert world.facts("hold") == []
    assert world.alerts("SLODataMissing") == []


def test_fresh_start_without_history_raises_no_data_alert() -> None:
    world = World(slo())  # every window: no samples yet

    assert world.alerts() == []
    assert len(world.facts("hold")) == 8  # 4 tiers x (long, short)


def test_C12_missing_total_is_incomplete_and_never_pages() -> None:
    world = quiet_world()
    world.set("1h", 900, 60_000)
    world.set("5m", 12, 12, state="incomplete", quality="missing_total")

    assert world.facts("burn", window="5m") == []
    assert world.alerts("SLOBurnRateHigh") == []
    (alert,) = world.alerts("SLODataIncomplete")
    assert dict(alert["labels"])["quality"] == "missing_total"


def test_C12_clamped_counts_give_burn_0_and_a_data_alert() -> None:
    world = quiet_world()
    world.set("5m", 0, 68_008, quality="clamped")

    assert world.one("burn", window="5m")["rate"] == 0
    (alert,) = world.alerts("SLODataIncomplete")
    assert dict(alert["labels"])["quality"] == "clamped"


# -- maintenance -----------------------------------------------------------------------


def test_maintenance_silences_burn_alerts_and_shows_it() -> None:
    world = quiet_world(files=[*SHIPPED, MAINTENANCE])
    world.set("1h", 900, 60_000)
    world.set("5m", 100, 5_000)
    world.set("30d", 50_000, 43_200_000)  # over budget
    assert world.firing_tiers() == ["page-1h"]

    maintenance = world.engine.assert_fact(
        "maintenance", slo="checkout", until=1_900_000_000, reason="db migration"
    )
    world.engine.run()

    assert world.firing_tiers() == []
    silenced = world.one("silenced")
    assert (silenced["until"], silenced["reason"]) == (1_900_000_000, "db migration")
    assert len(world.alerts("SLOErrorBudgetExhausted")) == 1  # never muted

    world.engine.retract(maintenance)
    world.engine.run()

    assert world.firing_tiers() == ["page-1h"]
    assert world.facts("silenced") == []


def test_maintenance_by_slo_name_covers_every_instance() -> None:
    from sentinel.model import slo_fact

    world = quiet_world(files=[*SHIPPED, MAINTENANCE])
    eu = slo_fact(world.slo, {"region": "eu"})
    world.engine.assert_fact("slo", eu)
    world.engine.assert_fact(
        "maintenance", slo="checkout", until=1_900_000_000, reason="region move"
    )
    world.engine.run()

    assert sorted(f["slo"] for f in world.facts("silenced")) == [
        "checkout",
        'checkout{region="eu"}',
    ]


def test_alerting_disabled_keeps_the_numbers_and_drops_the_alerts() -> None:
    world = quiet_world(slo(alerting_disabled=True))
    world.set("1h", 900, 60_000)
    world.set("5m", 100, 5_000)
    world.set("30d", 50_000, 43_200_000)

    assert world.one("burn", window="1h")["rate"] == pytest.approx(15)
    assert world.one("budget")["remaining"] == pytest.approx(1 - 50_000 / 43_200)
    assert world.alerts() == []
