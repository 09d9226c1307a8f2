import logging
import time

import pytest

from sentinel.history import History
from sentinel.model import SLO, LatencySLI, Quality, RatioSLI
from sentinel.sources.prometheus import (
    BUDGET_SPENT,
    BasicAuth,
    BearerAuth,
    PrometheusSource,
    Secret,
)
from sentinel.store import Store
from tests.sources.conftest import Answer
from tests.sources.evaluate import alerts, named
from tests.sources.fakeprom import FakePrometheus

T0 = 1_700_000_000 - 1_700_000_000 % 3600
BAD = RatioSLI(total="requests_total", bad='requests_total{code="500"}')


def slo(sli=BAD, group_by=()):
    return SLO("api", "svc", 0.999, sli, group_by=tuple(group_by))


@pytest.fixture
def prom(fake_server):
    fake = FakePrometheus()
    fake_server.respond = fake
    fake.url = fake_server.url
    return fake


def source(prom, slos=None, **kw):
    kw.setdefault("retries", 0)
    return PrometheusSource(slos or [slo()], prom.url, **kw)


def minutes(start, values, offset=5):
    return [(start + 60 * i + offset, v) for i, v in enumerate(values)]


def known(report):
    return {
        (i.instance, i.start): (i.bad, i.total) for i in report.increments if i.known
    }


def test_c07_reset_is_handled_per_series_before_the_sum(prom):
    prom.add(
        "requests_total", {"pod": "a", "code": "200"}, minutes(T0 - 60, [9600, 10200])
    )
    prom.add(
        "requests_total", {"pod": "a", "code": "500"}, minutes(T0 - 60, [400, 400])
    )
    prom.add(
        "requests_total", {"pod": "b", "code": "200"}, minutes(T0 - 60, [4995, 550])
    )
    prom.add("requests_total", {"pod": "b", "code": "500"}, minutes(T0 - 60, [5, 0]))
    report = source(prom).tick(T0 + 60)
    assert known(report) == {("api", T0): (0, 1150)}


def test_c08_new_error_series_is_a_marked_lower_bound(prom):
    prom.add(
        "requests_total",
        {"code": "200"},
        minutes(T0, [5000 + 200 * i for i in range(6)], 0),
    )
    prom.add("requests_total", {"code": "500"}, minutes(T0 + 180, [3, 3, 3], 0))
    history = History(Store(":memory:"))
    src = source(prom)
    for report in src.backfill(T0 + 300, resume={"api": T0}):
        history.apply(report.increments)
    w = history.window("api", T0 + 300, 300)
    # Prometheus' increase() would say 0 with no warning; the true value is 3.
    assert (w.bad, w.total, w.coverage) == (0, 1000, 1.0)
    assert w.quality & Quality.LOWER_BOUND


@pytest.mark.parametrize("le", ["1", "1.0"])
def test_c10_c11_latency_bucket_matched_as_a_number(prom, le):
    for bound, n in (("0.3", 960), (le, 998), ("+Inf", 1000)):
        prom.add("rpc_seconds_bucket", {"le": bound}, minutes(T0 - 60, [0, n]))
    prom.add("rpc_seconds_count", {}, minutes(T0 - 60, [0, 1000]))
    src = source(prom, [slo(LatencySLI("rpc_seconds", threshold=1))])
    report = src.tick(T0 + 60)
    assert known(report) == {("api", T0): (2, 1000)}
    assert 'le=~"0*1(\\\\.0*)?"' in prom.queries[1][0]


def test_c12_good_above_total_is_clamped(prom):
    sli = RatioSLI(total="requests_total", good="ok_total")
    prom.add("requests_total", {}, minutes(T0 - 60, [0, 68008]))
    prom.add("ok_total", {}, minutes(T0 - 60, [0, 68560]))
    [inc] = source(prom, [slo(sli)]).tick(T0 + 60).increments
    assert (inc.known, inc.bad, inc.total) == (True, 0, 68008)
    assert inc.quality & Quality.CLAMPED


def test_c12_bad_events_without_a_total_are_a_data_fault(prom):
    prom.add("requests_total", {"code": "500"}, minutes(T0 - 60, [0, 12]))
    sli = RatioSLI(total="requests_total{code='200'}", bad='requests_total{code="500"}')
    [inc] = source(prom, [slo(sli)]).tick(T0 + 60).increments
    assert not inc.known and inc.quality & Quality.BAD_WITHOUT_TOTAL


def test_c01_missing_error_series_is_zero_errors(prom):
    prom.add("requests_total", {"code": "200"}, minutes(T0 - 60, [0, 600]))
    assert known(source(prom).tick(T0 + 60)) == {("api", T0): (0, 600)}


def test_c01_quiet_bucket_is_known_zero(prom):
    prom.add("requests_total", {"code": "200"}, minutes(T0 - 60, [7, 7]))
    assert known(source(prom).tick(T0 + 60)) == {("api", T0): (0, 0)}


def test_c17_scrape_gap_is_unknown_and_its_increase_not_attributed(prom):
    values = [100 * i for i in range(20)]
    samples = [s for s in minutes(T0, values) if not T0 + 600 <= s[0] < T0 + 960]
    prom.add("requests_total", {"code": "500"}, samples)
    history = History(Store(":memory:"))
    src = source(prom)
    for report in src.backfill(T0 + 1200, resume={"api": T0}):
        history.apply(report.increments)
    buckets = history.buckets("api", T0, T0 + 1200)
    # The last sample before the gap covers max_gap (2 buckets) after it.
    assert [b.known for b in buckets] == [True] * 11 + [False] * 5 + [True] * 4
    assert all(b.reason == "no samples" for b in buckets[11:16])
    # The bucket after the gap counts nothing of the gap (no spike), and says so.
    assert [b.total for b in buckets[16:]] == [0, 100, 100, 100]
    assert buckets[16].quality == Quality.LOWER_BOUND
    w5 = history.window("api", T0 + 900, 300)
    assert (w5.coverage, w5.total) == (
        0.2,
        0,
    )  # the covered bucket after the last sample


def test_group_by_keeps_label_sets_apart(prom):
    for region, n in (("eu", 100), ("us", 10)):
        prom.add(
            "requests_total",
            {"region": region, "code": "200"},
            minutes(T0 - 60, [0, n]),
        )
    prom.add(
        "requests_total", {"region": "eu", "code": "500"}, minutes(T0 - 60, [1, 4])
    )
    report = source(prom, [slo(group_by=["region"])]).tick(T0 + 60)
    assert known(report) == {
        ('api{region="eu"}', T0): (3, 103),
        ('api{region="us"}', T0): (0, 10),
    }


def test_a_tick_costs_two_queries_per_slo_pinned_to_one_aligned_time(prom):
    prom.add("requests_total", {"code": "200"}, minutes(T0 - 600, [0] * 12))
    other = SLO("web", "svc", 0.99, BAD)
    src = source(prom, [slo(), other], query_delay=15)
    report = src.tick(T0 + 80)  # 15 s delay, aligned down: T0 + 60
    assert report.requests == 4 and report.failures == 0
    assert {at for _, at in prom.queries} == {T0 + 60}
    report = src.tick(T0 + 140)
    assert report.requests == 4 and {at for _, at in prom.queries[4:]} == {T0 + 120}
    assert all(expr.endswith("[180s]") for expr, _ in prom.queries)


def test_prometheus_down_gives_unknown_with_reason_and_a_log_line(caplog):
    src = PrometheusSource([slo()], "http://127.0.0.1:9", retries=0, timeout=1)
    with caplog.at_level(logging.WARNING, "sentinel.sources.prometheus"):
        report = src.tick(T0 + 60)
    [inc] = report.increments
    assert not inc.known and "ConnectionError" in inc.reason
    assert report.failures == 1 and "read failed, buckets unknown" in caplog.text


def test_slow_prometheus_times_out(fake_server):
    fake_server.respond = lambda path: Answer("{}", delay=1.0)
    src = PrometheusSource([slo()], fake_server.url, retries=0, timeout=0.2)
    [inc] = src.tick(T0 + 60).increments
    assert not inc.known and "timeout after 0.2s" in inc.reason


def test_500_is_retried_then_unknown(fake_server):
    fake_server.respond = lambda path: Answer(
        '{"status":"error","errorType":"internal","error":"boom"}', status=500
    )
    src = PrometheusSource([slo()], fake_server.url, retries=2, backoff=0.01)
    [inc] = src.tick(T0 + 60).increments
    assert not inc.known and "HTTP 500: boom" in inc.reason
    assert len(fake_server.requests) == 3


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "not JSON"),
        ('{"status":"success","data":{"resultType":"vector","result":[]}}', "matrix"),
        ('{"status":"error","errorType":"bad_data","error":"parse"}', "bad_data"),
    ],
)
def test_malformed_answers_are_unknown(fake_server, body, reason):
    fake_server.respond = lambda path: Answer(body, content_type="application/json")
    [inc] = PrometheusSource([slo()], fake_server.url, retries=0).tick(T0).increments
    assert not inc.known and reason in inc.reason


def test_empty_result_is_unknown_not_zero(prom):
    [inc] = source(prom).tick(T0 + 60).increments
    assert not inc.known and inc.reason == "no total series"


def test_nan_sample_makes_the_bucket_unknown(prom):
    prom.add("requests_total", {"code": "200"}, minutes(T0 - 60, [5, float("nan")]))
    [inc] = source(prom).tick(T0 + 60).increments
    assert not inc.known and inc.quality & Quality.NAN


def test_warnings_are_logged_and_marked(prom, caplog):
    prom.add("requests_total", {"code": "200"}, minutes(T0 - 60, [0, 5]))
    prom.warnings = ["partial response: store unavailable"]
    with caplog.at_level(logging.WARNING, "sentinel.sources.prometheus"):
        [inc] = source(prom).tick(T0 + 60).increments
    assert inc.known and inc.quality & Quality.WARNINGS
    assert "partial response: store unavailable" in caplog.text


def test_failed_tick_is_read_again_by_the_next(prom, fake_server):
    prom.add("requests_total", {"code": "200"}, minutes(T0 - 60, [0, 10, 20, 30]))
    src = source(prom)
    src.tick(T0 + 60)
    fake_server.respond = lambda path: Answer("down", status=502)
    assert not src.tick(T0 + 120).increments[0].known
    fake_server.respond = prom
    report = src.tick(T0 + 180)
    assert known(report) == {("api", T0 + 60): (0, 10), ("api", T0 + 120): (0, 10)}


def test_secrets_are_sent_and_never_shown(
    prom, fake_server, tmp_path, monkeypatch, caplog
):
    prom.add("requests_total", {"code": "200"}, minutes(T0 - 60, [0, 5]))
    monkeypatch.setenv("PROM_TOKEN", "s3cret-token")
    auth = BearerAuth(Secret(env="PROM_TOKEN"))
    with caplog.at_level(logging.DEBUG):
        source(prom, auth=auth).tick(T0 + 60)
    assert fake_server.headers[-1]["Authorization"] == "Bearer s3cret-token"
    assert "s3cret" not in caplog.text and "s3cret" not in repr(auth)
    (tmp_path / "pw").write_text("hunter2\n")
    source(prom, auth=BasicAuth("me", Secret(file=str(tmp_path / "pw")))).tick(T0 + 60)
    assert fake_server.headers[-1]["Authorization"] == "Basic bWU6aHVudGVyMg=="


def test_backfill_resumes_from_the_history(prom):
    prom.add("requests_total", {"code": "200"}, minutes(T0, list(range(0, 6000, 10))))
    history = History(Store(":memory:"))
    src = source(prom, chunk=3600)
    reports = list(src.backfill(T0 + 7200, resume={"api": T0}))
    assert len(reports) == 2 and sum(r.requests for r in reports) == 4
    for r in reports:
        history.apply(r.increments)
    assert history.window("api", T0 + 7200, 7200).total == 10 * 119
    again = source(prom, chunk=3600)
    resumed = list(
        again.backfill(T0 + 7200 + 600, resume={"api": history.resume_point("api")})
    )
    assert len(resumed) == 1 and resumed[0].increments[0].start == T0 + 7200


# -- values that are not numbers ----------------------------------------------------


WEB = SLO("web", "svc", 0.999, RatioSLI(total="web_total", bad="web_errors_total"))


def test_infinite_counter_is_unknown_for_its_slo_and_the_other_is_recorded(prom):
    prom.add("requests_total", {"code": "200"}, minutes(T0 - 60, [0, float("inf")]))
    prom.add("web_total", {}, minutes(T0 - 60, [0, 40]))
    history = History(Store(":memory:"))
    report = source(prom, [slo(), WEB]).tick(T0 + 60)
    got = {i.slo: i for i in report.increments}
    assert not got["api"].known and got["api"].quality & Quality.NAN
    assert got["api"].reason == 'non-finite increase in requests_total{code="200"}'
    history.apply(report.increments)
    w = history.window("web", T0 + 60, 60)
    assert (w.total, w.known_buckets) == (40, 1)
    assert history.window("api", T0 + 60, 60).known_buckets == 0


def test_series_whose_sum_overflows_are_unknown_not_an_error(prom):
    for pod in ("a", "b"):
        prom.add("requests_total", {"pod": pod}, minutes(T0 - 60, [0, 1.7e308]))
    prom.add("web_total", {}, minutes(T0 - 60, [0, 40]))
    history = History(Store(":memory:"))
    report = source(prom, [slo(), WEB]).tick(T0 + 60)
    got = {i.slo: i for i in report.increments}
    assert not got["api"].known and got["api"].quality & Quality.NAN
    assert "non-finite" in got["api"].reason
    history.apply(report.increments)
    assert history.window("web", T0 + 60, 60).total == 40


# -- an SLI whose good series are missing -------------------------------------------


def misfit_errors(caplog):
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name == "sentinel.sources.prometheus"
    ]


LATENCY = SLO(
    "checkout-latency",
    "shop",
    0.99,
    LatencySLI("http_request_duration_seconds", threshold=0.2),
)


def add_histogram(prom, bounds, minutes_=5):
    counts = [100 * i for i in range(minutes_ + 1)]
    for le in bounds:
        prom.add(
            "http_request_duration_seconds_bucket",
            {"le": le},
            minutes(T0 - 60, counts),
        )
    prom.add("http_request_duration_seconds_count", {}, minutes(T0 - 60, counts))


def test_latency_threshold_off_the_bounds_is_logged_once_with_the_bounds_found(
    prom, caplog
):
    add_histogram(prom, ["0.1", "0.25", "0.5", "1.0", "+Inf"])
    src = source(prom, [LATENCY])
    with caplog.at_level(logging.ERROR, "sentinel.sources.prometheus"):
        for minute in range(1, 4):
            [inc] = src.tick(T0 + 60 * minute).increments
            assert not inc.known and inc.quality & Quality.MISSING_GOOD
    assert misfit_errors(caplog) == [
        "SLO checkout-latency: threshold 0.2 is not a bucket bound of"
        " http_request_duration_seconds; bounds found: 0.1, 0.25, 0.5, 1, +Inf"
    ]


def test_good_selector_matching_nothing_is_logged_once(prom, caplog):
    prom.add("requests_total", {"code": "200"}, minutes(T0 - 60, [0, 10, 20, 30]))
    sli = RatioSLI(total="requests_total", good='requests_total{code="2xx"}')
    src = source(prom, [slo(sli)])
    with caplog.at_level(logging.ERROR, "sentinel.sources.prometheus"):
        for minute in range(1, 4):
            [inc] = src.tick(T0 + 60 * minute).increments
            assert inc.quality & Quality.MISSING_GOOD
    [message] = misfit_errors(caplog)
    assert message.startswith('SLO api: good selector requests_total{code="2xx"}')
    assert "matches no series" in message


def test_latency_threshold_off_the_bounds_raises_a_missing_good_data_alert(prom):
    add_histogram(prom, ["0.1", "0.25", "+Inf"], minutes_=10)
    history = History(Store(":memory:"))
    src = source(prom, [LATENCY])
    for minute in range(1, 11):
        history.apply(src.tick(T0 + 60 * minute).increments)
    found = alerts([LATENCY], history, T0 + 600)
    assert named(found, "SLOBurnRateHigh") == []
    assert {a["quality"] for a in named(found, "SLODataIncomplete")} == {"missing_good"}


# -- a hanging server ---------------------------------------------------------------


def test_read_timeout_is_not_retried(fake_server):
    fake_server.respond = lambda path: Answer("{}", delay=2.0)
    src = PrometheusSource([slo()], fake_server.url, retries=2, timeout=0.3)
    began = time.monotonic()
    [inc] = src.tick(T0 + 60).increments
    assert not inc.known and "timeout after 0.3s" in inc.reason
    assert len(fake_server.requests) == 1
    assert time.monotonic() - began < 1.5


def test_tick_stops_reading_when_its_time_budget_is_spent(prom, fake_server, caplog):
    prom.add("requests_total", {"code": "200"}, minutes(T0 - 60, [0, 10, 20, 30]))
    slos = [SLO(f"s{i}", "svc", 0.999, BAD) for i in range(5)]
    src = source(prom, slos, timeout=0.3, tick_budget=0.75)
    src.tick(T0 + 60)
    fake_server.respond = lambda path: Answer("{}", delay=2.0)
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, "sentinel.sources.prometheus"):
        report = src.tick(T0 + 120)
    assert time.monotonic() - began < 0.75 + 0.5
    got = {i.slo: i for i in report.increments}
    assert sorted(got) == [s.name for s in slos]
    assert not any(i.known for i in got.values())
    assert got["s4"].reason == BUDGET_SPENT
    assert report.requests < len(slos)
    assert any(BUDGET_SPENT in e for e in report.errors)
    assert BUDGET_SPENT in caplog.text

    # the next tick reads every SLO again, the missed bucket included
    fake_server.respond = prom
    report = src.tick(T0 + 180)
    assert known(report) == {
        (s.name, t): (0, 10) for s in slos for t in (T0 + 60, T0 + 120)
    }


def test_tick_budget_can_be_given_per_tick(fake_server):
    fake_server.respond = lambda path: Answer("{}", delay=2.0)
    slos = [SLO(f"s{i}", "svc", 0.999, BAD) for i in range(3)]
    src = PrometheusSource(slos, fake_server.url, retries=0, timeout=5)
    began = time.monotonic()
    report = src.tick(T0 + 60, tick_budget=0.3)
    assert time.monotonic() - began < 1.0
    assert not any(i.known for i in report.increments)
    assert {i.reason for i in report.increments if i.slo != "s0"} == {BUDGET_SPENT}


def test_each_backfill_chunk_has_the_time_budget(fake_server):
    fake_server.respond = lambda path: Answer("{}", delay=2.0)
    src = PrometheusSource(
        [slo()], fake_server.url, retries=0, timeout=5, chunk=3600, tick_budget=0.3
    )
    began = time.monotonic()
    reports = list(src.backfill(T0 + 7200, resume={"api": T0}))
    assert len(reports) == 2 and time.monotonic() - began < 1.5
    assert all(not i.known for r in reports for i in r.increments)
