"""Config loading: a good fixture, one field changed per case, the exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.config import (
    AlertmanagerNotifierConfig,
    BearerAuth,
    ConfigErrors,
    PrometheusSourceConfig,
    ScrapeSourceConfig,
    load_config,
    load_tier_table,
)
from sentinel.model import DEFAULT_TIERS, LatencySLI, RatioSLI

GOOD = Path(__file__).with_name("good.yaml")


def write(tmp_path: Path, text: str, name: str = "sentinel.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def changed(old: str, new: str) -> str:
    text = GOOD.read_text()
    assert text.count(old) == 1, old
    return text.replace(old, new)


def errors_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    return [str(e).replace(str(path), "sentinel.yaml") for e in info.value.errors]


def warnings_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    return [
        str(w).replace(str(path), "sentinel.yaml") for w in load_config(path).warnings
    ]


def test_good_fixture_maps_onto_the_model() -> None:
    config = load_config(GOOD)

    assert config.warnings == ()
    assert config.global_.interval == 60
    assert config.global_.external_url == "https://sentinel.example.com"
    prom, local = config.sources
    assert isinstance(prom, PrometheusSourceConfig)
    assert prom.auth == BearerAuth(token_env="PROM_TOKEN")
    assert (prom.timeout, prom.retries, prom.default) == (15, 3, True)
    assert isinstance(local, ScrapeSourceConfig)
    assert local.interval == 30
    assert local.targets[0].labels == {"job": "checkout"}
    am = config.notifiers[1]
    assert isinstance(am, AlertmanagerNotifierConfig)
    assert am.urls == ("http://am-0:9093", "http://am-1:9093")

    availability, latency = config.slos
    assert availability.objective == 0.999
    assert availability.period == 30 * 86400
    assert availability.source == "prom"  # the default source
    assert availability.group_by == ("region",)
    assert availability.tiers == DEFAULT_TIERS
    assert (availability.pending_for, availability.keep_firing_for) == (120, 600)
    assert availability.min_events == 20
    assert isinstance(availability.sli, RatioSLI)
    assert availability.sli.bad == 'http_requests_total{job="checkout",code=~"5.."}'

    assert latency.source == "local"
    assert latency.sli == LatencySLI(
        'http_request_duration_seconds{job="checkout"}',
        0.3,
        (0.1, 0.3, 1.0, float("inf")),
    )
    fast, slow = latency.tiers
    assert (fast.fraction, fast.long, fast.short, fast.min_events) == (
        0.02,
        3600,
        300,
        10,
    )
    assert latency.tier_min_events(fast) == 10
    assert latency.tier_min_events(slow) == 5
    assert config.origins["checkout-latency"].line == 40


def test_the_tier_table_file_is_the_workbook_table() -> None:
    tiers = load_tier_table()

    assert tiers == DEFAULT_TIERS
    for period, factors in {
        30: [14.4, 6, 3, 1],
        28: [13.44, 5.6, 2.8, 0.933],
        7: [3.36, 1.4, 0.7, 0.233],
    }.items():
        got = [t.factor(period * 86400) for t in tiers]
        assert got == pytest.approx(factors, abs=5e-4)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "objective: 99.9",
            "objective: 100",
            "sentinel.yaml:30: slos[0].objective: must be a percentage between 0 and "
            "100, exclusive, got 100",
            id="objective-100",
        ),
        pytest.param(
            "objective: 99.9",
            "objective: high",
            "sentinel.yaml:30: slos[0].objective: must be a percentage between 0 and "
            "100, exclusive, got 'high'",
            id="objective-text",
        ),
        pytest.param(
            "objective: 99.9",
            "objectve: 99.9",
            "sentinel.yaml:30: slos[0].objectve: unknown key; "
            "did you mean 'objective'?",
            id="unknown-key",
        ),
        pytest.param(
            "period: 30d",
            "period: 36h",
            "sentinel.yaml:43: slos[1].period: must be a whole number of days, such "
            "as 7d, 28d, 30d or 4w, got '36h'",
            id="period-not-days",
        ),
        pytest.param(
            "period: 30d",
            "period: 30 days",
            "sentinel.yaml:43: slos[1].period: must be a duration such as 30s, 5m, "
            "1h, 30d or 4w, got '30 days'",
            id="period-not-duration",
        ),
        pytest.param(
            "source: local",
            "source: locale",
            "sentinel.yaml:44: slos[1].source: names no configured source; did you "
            "mean 'local'?, got 'locale'",
            id="unknown-source",
        ),
        pytest.param(
            "threshold: 300ms",
            "threshold: 0.2",
            "sentinel.yaml:50: slos[1].sli.latency.threshold: SLO 'checkout-latency': "
            "threshold 0.2s is not one of the histogram's bucket bounds [0.1, 0.3, 1, "
            "+Inf], got 0.2",
            id="C11-threshold-off-bounds",
        ),
        pytest.param(
            "histogram: http_request_duration_seconds{",
            "histogram: http_request_duration_seconds_bucket{",
            "sentinel.yaml:49: slos[1].sli.latency.histogram: must be the histogram's "
            "base name, without '_bucket', got "
            "'http_request_duration_seconds_bucket{job=\"checkout\"}'",
            id="histogram-suffix",
        ),
        pytest.param(
            "        bad: http_requests_total",
            "        good: http_requests_total{}\n        bad: http_requests_total",
            "sentinel.yaml:35: slos[0].sli.ratio: must set exactly one of good, bad",
            id="ratio-good-and-bad",
        ),
        pytest.param(
            "short: 5m, severity: page",
            "short: 2h, severity: page",
            "sentinel.yaml:54: slos[1].alerting.tiers[0].short: must be shorter than "
            "the long window (1h), got '2h'",
            id="tier-short-not-shorter",
        ),
        pytest.param(
            "fraction: 2%",
            "fraction: 120%",
            "sentinel.yaml:54: slos[1].alerting.tiers[0].fraction: must be a fraction "
            "in (0, 1] such as 0.02 or \"2%\", got '120%'",
            id="tier-fraction",
        ),
        pytest.param(
            "long: 3d, short: 6h",
            "long: 31d, short: 6h",
            "sentinel.yaml:55: slos[1].alerting.tiers[1].long: tier 'slow': "
            "long window 31d is longer than the period 30d",
            id="tier-longer-than-period",
        ),
        pytest.param(
            "interval: 30s",
            "interval: 5m",
            "sentinel.yaml:54: slos[1].alerting.tiers[0].short: SLO 'checkout-latency' "
            "tier 'fast': short window 5m is shorter than 10m (at least 1m and two "
            "scrape intervals of source 'local')",
            id="C05-window-under-two-scrapes",
        ),
        pytest.param(
            "min_events: 5",
            "min_events: -1",
            "sentinel.yaml:45: slos[1].min_events: must be a whole number >= 0, got -1",
            id="min-events",
        ),
        pytest.param(
            "runbook: slo-burn-rate-high",
            "runbook: Slo Runbook",
            "sentinel.yaml:46: slos[1].runbook: must be a runbook name "
            "(lowercase words joined by -) or an http(s) URL, got 'Slo Runbook'",
            id="runbook-name",
        ),
        pytest.param(
            "url: http://localhost:9090",
            "url: localhost:9090",
            "sentinel.yaml:9: sources[0].url: must be a URL starting with http:// or "
            "https://, got 'localhost:9090'",
            id="source-url",
        ),
        pytest.param(
            "type: scrape",
            "type: scraper",
            "sentinel.yaml:17: sources[1].type: must be one of prometheus, scrape, got "
            "'scraper'",
            id="source-type",
        ),
        pytest.param(
            "urls: [http://am-0:9093, http://am-1:9093]",
            "urls: [am-0:9093]",
            "sentinel.yaml:26: notifiers[1].urls[0]: must be a URL starting with "
            "http:// or https://, got 'am-0:9093'",
            id="alertmanager-url",
        ),
        pytest.param(
            "listen: 127.0.0.1:9099",
            "listen: 127.0.0.1:99999",
            "sentinel.yaml:4: global.listen: must be host:port with port 0-65535, got "
            "'127.0.0.1:99999'",
            id="listen",
        ),
        pytest.param(
            "version: sentinel/v1",
            "version: sentinel/v2",
            "sentinel.yaml:1: version: must be 'sentinel/v1', got 'sentinel/v2'",
            id="version",
        ),
        pytest.param(
            "    interval: 30s\n",
            "    interval: 30s\n    default: true\n",
            "sentinel.yaml:16: sources: 'local': only one source may be the default; "
            "'prom' already is",
            id="two-default-sources",
        ),
    ],
)
def test_one_changed_field_gives_one_exact_error(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert errors_of(tmp_path, changed(old, new)) == [expected]


def test_every_error_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = changed("objective: 99.9", "objective: 0").replace(
        "interval: 1m", "intervl: 1m"
    )

    assert errors_of(tmp_path, text) == [
        "sentinel.yaml:3: global.intervl: unknown key; did you mean 'interval'?",
        "sentinel.yaml:30: slos[0].objective: must be a percentage between 0 and 100, "
        "exclusive, got 0",
    ]


def test_the_error_keeps_field_line_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, changed("objective: 99.9", "objective: 100"))
    with pytest.raises(ConfigErrors) as info:
        load_config(path)

    error = info.value.errors[0]
    assert (error.file, error.line, error.field, error.value) == (
        str(path),
        30,
        "slos[0].objective",
        100,
    )


def test_latency_threshold_is_compared_to_bounds_as_numbers(tmp_path: Path) -> None:
    # C11: `1` matches a bound written 1.0
    text = changed("threshold: 300ms", "threshold: 1").replace(
        '[0.1, 0.3, 1, "+Inf"]', '[0.1, 0.3, "1.0", "+Inf"]'
    )
    slo = load_config(write(tmp_path, text)).slos[1]

    assert isinstance(slo.sli, LatencySLI)
    assert slo.sli.threshold == 1.0


def test_unreachable_tier_warns_naming_slo_and_tier(tmp_path: Path) -> None:
    # C04: at 90% the highest burn rate is 10, under the 14.4 of page-1h
    text = changed("objective: 99.9", "objective: 90")

    assert warnings_of(tmp_path, text) == [
        "sentinel.yaml:30: slos[0]: SLO 'checkout-availability' tier 'page-1h' can "
        "never fire: its burn-rate factor 14.4 is not below the highest burn rate "
        "possible at objective 90% (10); it needs an objective above 93.06%"
    ]


def test_other_period_warns_on_a_factor_below_one(tmp_path: Path) -> None:
    # C05: at 28 days the 3d tier's factor is 0.933
    text = changed("    objective: 99.9\n", "    objective: 99.9\n    period: 28d\n")

    assert warnings_of(tmp_path, text) == [
        "sentinel.yaml:30: slos[0]: SLO 'checkout-availability' tier 'ticket-3d': "
        "burn-rate factor 0.9333 is below 1 for period 28d, so it alerts while the "
        "budget would still last the period"
    ]


def test_retention_shorter_than_period_and_window_warns(tmp_path: Path) -> None:
    text = changed("  interval: 1m\n", "  interval: 1m\n  retention: 31d\n")

    assert warnings_of(tmp_path, text) == [
        "sentinel.yaml:29: slos[0]: SLO 'checkout-availability': history retention "
        "31d is shorter than its period plus longest window (33d)",
        "sentinel.yaml:41: slos[1]: SLO 'checkout-latency': history retention 31d is "
        "shorter than its period plus longest window (33d)",
    ]


def test_objective_as_percent_string_is_exact(tmp_path: Path) -> None:
    text = changed("objective: 99.9", 'objective: "99.95%"')

    assert load_config(write(tmp_path, text)).slos[0].objective == 0.9995


def test_sources_may_be_a_mapping_of_names(tmp_path: Path) -> None:
    text = """\
version: sentinel/v1
sources:
  prom: {type: prometheus, url: "http://p:9090"}
slos:
  - {name: a, service: s, objective: 99, sli: {ratio: {total: t, bad: b}}}
"""
    config = load_config(write(tmp_path, text))

    assert [s.name for s in config.sources] == ["prom"]
    assert config.slos[0].source == "prom"


def test_folder_of_files_merges_and_keeps_names_unique(tmp_path: Path) -> None:
    write(tmp_path, GOOD.read_text(), "a.yaml")
    write(
        tmp_path,
        """\
version: sentinel/v1
slos:
  - name: checkout-latency
    service: other
    objective: 99
    sli: {ratio: {total: t, bad: b}}
  - name: search
    service: search
    objective: 99.5
    sli: {ratio: {total: t, bad: b}}
""",
        "b.yaml",
    )
    with pytest.raises(ConfigErrors) as info:
        load_config(tmp_path)

    assert [str(e).replace(f"{tmp_path}/", "") for e in info.value.errors] == [
        "b.yaml:3: slos[0].name: SLO name 'checkout-latency' already used at a.yaml:40"
    ]


def test_folder_merge_without_conflicts(tmp_path: Path) -> None:
    write(tmp_path, GOOD.read_text(), "a.yaml")
    write(
        tmp_path,
        "version: sentinel/v1\nslos:\n"
        "  - {name: search, service: s, objective: 99.5,\n"
        "     sli: {ratio: {total: t, bad: b}}}\n",
        "b.yml",
    )
    config = load_config(tmp_path)

    assert [s.name for s in config.slos] == [
        "checkout-availability",
        "checkout-latency",
        "search",
    ]
    assert config.origins["search"].file == str(tmp_path / "b.yml")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    assert errors_of(tmp_path, "version: sentinel/v1\nslos: [\n  - a: b\n") == [
        "sentinel.yaml:3: invalid YAML: expected the node content, but found '-'"
    ]


def test_missing_version_and_sources(tmp_path: Path) -> None:
    text = (
        "slos:\n  - {name: a, service: s, objective: 99,\n"
        "     sli: {ratio: {total: t, bad: b}}}\n"
    )

    assert errors_of(tmp_path, text) == [
        "sentinel.yaml:1: version: is required",
        "sentinel.yaml:2: sources: at least one source is required to read SLOs",
    ]


def test_runbook_url_joins_base_and_name(tmp_path: Path) -> None:
    text = changed(
        "  interval: 1m\n",
        "  interval: 1m\n  runbook_base_url: https://example.com/runbooks\n",
    )
    config = load_config(write(tmp_path, text))

    assert config.runbook_url("slo-data-missing") == (
        "https://example.com/runbooks/slo-data-missing.md"
    )
    assert config.runbook_url("https://wiki/x") == "https://wiki/x"


def test_inline_secret_is_refused_pointing_at_the_file_and_env_keys(
    tmp_path: Path,
) -> None:
    text = changed("bearer: {token_env: PROM_TOKEN}", "bearer: {token: s3cret}")

    assert errors_of(tmp_path, text) == [
        "sentinel.yaml:12: sources[0].auth.bearer.token: unknown key; did you mean "
        "'token_env'?",
        "sentinel.yaml:12: sources[0].auth.bearer: must set exactly one of "
        "token_file, token_env",
    ]


def test_optional_rule_pack_by_its_shipped_name(tmp_path: Path) -> None:
    text = changed(
        "  interval: 1m\n", "  interval: 1m\n  rules: [optional/maintenance.yaml]\n"
    )
    config = load_config(write(tmp_path, text))

    assert config.rule_files()[-1].parts[-3:] == (
        "rules",
        "optional",
        "maintenance.yaml",
    )


def test_rule_glob_matching_nothing(tmp_path: Path) -> None:
    text = changed("  interval: 1m\n", "  interval: 1m\n  rules: [rules.d/*.yaml]\n")

    assert errors_of(tmp_path, text) == [
        "sentinel.yaml:4: global.rules[0]: matches no file, got 'rules.d/*.yaml'"
    ]
