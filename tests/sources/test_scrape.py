import logging

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import (
    CONTENT_TYPE_LATEST as OPENMETRICS,
)
from prometheus_client.openmetrics.exposition import (
    generate_latest as generate_openmetrics,
)

from sentinel.history import History
from sentinel.model import SLO, LatencySLI, Quality, RatioSLI
from sentinel.sources.scrape import ScrapeSource, Target
from sentinel.store import Store
from tests.sources.conftest import Answer
from tests.sources.evaluate import alerts, named

T0 = 1_700_000_040 - 1_700_000_040 % 60


def ratio_slo(group_by=(), good=False):
    sli = (
        RatioSLI(total="http_requests_total", good='http_requests_total{code!~"5.."}')
        if good
        else RatioSLI(
            total="http_requests_total", bad='http_requests_total{code=~"5.."}'
        )
    )
    return SLO("api", "svc", 0.999, sli, group_by=tuple(group_by))


class App:
    """A process with prometheus_client counters; restart() starts from zero."""

    def __init__(self, openmetrics=False):
        self.openmetrics = openmetrics
        self.restart()

    def restart(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "", ["code", "region"], registry=self.registry
        )
        self.latency = Histogram(
            "rpc_seconds", "", buckets=(0.1, 0.3, 1), registry=self.registry
        )

    def answer(self, path):
        if self.openmetrics:
            return Answer(generate_openmetrics(self.registry), content_type=OPENMETRICS)
        return Answer(generate_latest(self.registry))


def by_instance(report):
    return {i.instance: i for i in report.increments}


@pytest.mark.parametrize("openmetrics", [False, True])
def test_counts_requests_served_and_errors(fake_server, openmetrics):
    app = App(openmetrics)
    fake_server.respond = app.answer
    app.requests.labels("200", "eu").inc(5)
    source = ScrapeSource([ratio_slo()], [fake_server.url + "/metrics"])

    first = by_instance(source.tick(T0 + 7))["api"]
    assert not first.known and "baseline" in first.reason

    app.requests.labels("200", "eu").inc(90)
    app.requests.labels("500", "eu").inc(10)  # born since the last scrape (C08)
    report = source.tick(T0 + 60)
    inc = by_instance(report)["api"]
    assert (inc.known, inc.bad, inc.total, inc.start, inc.end) == (
        True,
        10,
        100,
        T0,
        T0 + 60,
    )
    assert report.requests == 1 and report.failures == 0 and report.samples > 0
    [health] = report.targets
    assert health.up and health.last_error is None and health.last_duration >= 0


def test_c07_restarted_pod_counts_per_series_before_the_sum(fake_server):
    pods = {"a": App(), "b": App()}
    fake_server.respond = lambda path: pods[path.strip("/")].answer(path)
    pods["a"].requests.labels("200", "eu").inc(10000 - 400)
    pods["a"].requests.labels("500", "eu").inc(400)
    pods["b"].requests.labels("200", "eu").inc(5000 - 5)
    pods["b"].requests.labels("500", "eu").inc(5)
    source = ScrapeSource(
        [ratio_slo()], [fake_server.url + "/a", fake_server.url + "/b"]
    )
    source.tick(T0)
    pods["a"].requests.labels("200", "eu").inc(600)
    pods["b"].restart()
    pods["b"].requests.labels("200", "eu").inc(550)
    inc = by_instance(source.tick(T0 + 60))["api"]
    # pod b's error series vanished with the restart: no errors from it
    assert (inc.known, inc.bad, inc.total) == (True, 0, 1150)


def test_reset_to_a_lower_value_counts_the_new_value(fake_server):
    app = App()
    fake_server.respond = app.answer
    app.requests.labels("200", "eu").inc(1000)
    app.requests.labels("500", "eu").inc(50)
    source = ScrapeSource([ratio_slo()], [fake_server.url])
    source.tick(T0)
    app.restart()
    app.requests.labels("200", "eu").inc(30)
    app.requests.labels("500", "eu").inc(3)
    inc = by_instance(source.tick(T0 + 60))["api"]
    assert (inc.bad, inc.total) == (3, 33)


def test_group_by_keeps_label_sets_apart_and_good_selector(fake_server):
    app = App()
    fake_server.respond = app.answer
    for region in ("eu", "us"):
        app.requests.labels("200", region).inc(1)
        app.requests.labels("500", region).inc(1)
    source = ScrapeSource([ratio_slo(["region"], good=True)], [fake_server.url])
    source.tick(T0)
    app.requests.labels("200", "eu").inc(99)
    app.requests.labels("500", "eu").inc(1)
    app.requests.labels("200", "us").inc(10)
    got = by_instance(source.tick(T0 + 60))
    assert {k: (v.bad, v.total) for k, v in got.items()} == {
        'api{region="eu"}': (1, 100),
        'api{region="us"}': (0, 10),
    }
    assert got['api{region="us"}'].group_labels == {"region": "us"}


def test_c10_c11_latency_reads_the_threshold_bucket_and_count(fake_server):
    app = App()
    fake_server.respond = app.answer
    slo = SLO("rpc", "svc", 0.99, LatencySLI("rpc_seconds", threshold=1))
    source = ScrapeSource([slo], [fake_server.url])
    source.tick(T0)
    for _ in range(998):
        app.latency.observe(0.5)
    app.latency.observe(2)
    app.latency.observe(3)
    inc = by_instance(source.tick(T0 + 60))["rpc"]  # le="1.0" in the exposition
    assert (inc.known, inc.bad, inc.total) == (True, 2, 1000)


def test_history_is_fed_and_windows_add_up(fake_server, tmp_path):
    app = App()
    fake_server.respond = app.answer
    history = History(Store(tmp_path / "h.db"))
    source = ScrapeSource([ratio_slo()], [fake_server.url])
    app.requests.labels("200", "eu").inc(1)
    app.requests.labels("500", "eu").inc(0)
    for minute in range(6):
        history.apply(source.tick(T0 + 60 * minute).increments)
        app.requests.labels("200", "eu").inc(100)
        app.requests.labels("500", "eu").inc(minute)
    w = history.window("api", T0 + 300, 300)
    assert (w.bad, w.total, w.known_buckets) == (10, 510, 5)
    w6 = history.window("api", T0 + 300, 360)
    assert w6.known_buckets == 5 and w6.reasons  # the baseline bucket is unknown


def test_c17_target_down_is_unknown_then_a_baseline(fake_server, caplog):
    app = App()
    up = {"ok": True}

    def respond(path):
        return app.answer(path) if up["ok"] else Answer("oops", status=503)

    fake_server.respond = respond
    app.requests.labels("200", "eu").inc(1)
    source = ScrapeSource([ratio_slo()], [Target(fake_server.url, {"job": "api"})])
    source.tick(T0)
    app.requests.labels("200", "eu").inc(10)
    assert by_instance(source.tick(T0 + 60))["api"].total == 10

    up["ok"] = False
    with caplog.at_level(logging.WARNING, "sentinel.sources.scrape"):
        report = source.tick(T0 + 120)
    inc = by_instance(report)["api"]
    assert not inc.known and "down: HTTP 503" in inc.reason
    assert report.failures == 1 and not report.targets[0].up
    assert report.targets[0].last_error == "HTTP 503"
    assert "scrape of" in caplog.text and "HTTP 503" in caplog.text

    up["ok"] = True
    app.requests.labels("200", "eu").inc(500)  # across the gap: not attributed
    assert not by_instance(source.tick(T0 + 180))["api"].known
    app.requests.labels("200", "eu").inc(7)
    assert by_instance(source.tick(T0 + 240))["api"].total == 7


def test_timeout_and_refused_connection_are_unknown(fake_server):
    fake_server.respond = lambda path: Answer("http_requests_total 1\n", delay=1.0)
    source = ScrapeSource([ratio_slo()], [fake_server.url], timeout=0.2)
    report = source.tick(T0)
    assert report.targets[0].last_error == "timeout"
    assert not report.increments[0].known

    closed = ScrapeSource([ratio_slo()], ["http://127.0.0.1:9/metrics"], timeout=1)
    report = closed.tick(T0)
    assert not report.targets[0].up and not report.increments[0].known
    assert "connection" in report.targets[0].last_error


def test_malformed_exposition_is_a_failed_scrape(fake_server):
    fake_server.respond = lambda path: Answer(
        "# EOF missing\nhttp_requests_total{", content_type=OPENMETRICS
    )
    source = ScrapeSource([ratio_slo()], [fake_server.url])
    report = source.tick(T0)
    assert report.failures == 1 and not report.increments[0].known
    assert "ValueError" in report.targets[0].last_error


def test_nan_counter_makes_the_bucket_unknown(fake_server):
    values = {"v": "1"}
    fake_server.respond = lambda path: Answer(
        'http_requests_total{code="200"} 5\n'
        f'http_requests_total{{code="500"}} {values["v"]}\n'
    )
    source = ScrapeSource([ratio_slo()], [fake_server.url])
    source.tick(T0)
    values["v"] = "NaN"
    inc = by_instance(source.tick(T0 + 60))["api"]
    assert not inc.known and "NaN" in inc.reason and inc.quality & Quality.NAN


def test_c12_bad_events_without_any_total_series(fake_server):
    body = {"text": 'errors_total{code="500"} 1\n'}
    fake_server.respond = lambda path: Answer(body["text"])
    slo = SLO("api", "svc", 0.999, RatioSLI(total="requests_total", bad="errors_total"))
    source = ScrapeSource([slo], [fake_server.url])
    source.tick(T0)
    body["text"] = 'errors_total{code="500"} 13\n'
    inc = by_instance(source.tick(T0 + 60))["api"]
    assert not inc.known and inc.quality & Quality.BAD_WITHOUT_TOTAL


def test_c01_absent_error_series_means_no_errors(fake_server):
    body = {"n": 0}
    fake_server.respond = lambda path: Answer(f"requests_total {body['n']}\n")
    slo = SLO("api", "svc", 0.999, RatioSLI(total="requests_total", bad="errors_total"))
    source = ScrapeSource([slo], [fake_server.url])
    source.tick(T0)
    body["n"] = 600
    inc = by_instance(source.tick(T0 + 60))["api"]
    assert (inc.known, inc.bad, inc.total) == (True, 0, 600)


def test_c12_good_above_total_is_clamped_and_marked(fake_server):
    body = {"good": 0, "total": 0}
    fake_server.respond = lambda path: Answer(
        f"ok_total {body['good']}\nrequests_total {body['total']}\n"
    )
    slo = SLO("api", "svc", 0.999, RatioSLI(total="requests_total", good="ok_total"))
    source = ScrapeSource([slo], [fake_server.url])
    source.tick(T0)
    body.update(good=68560, total=68008)
    inc = by_instance(source.tick(T0 + 60))["api"]
    assert (inc.known, inc.bad, inc.total) == (True, 0, 68008)
    assert inc.quality & Quality.CLAMPED


def test_c08_created_time_tells_new_from_hidden(fake_server):
    lines = {"text": ""}
    fake_server.respond = lambda path: Answer(
        lines["text"] + "# EOF\n", content_type=OPENMETRICS
    )
    head = "# TYPE requests counter\nrequests_total 5000\nrequests_created 100\n"
    slo = SLO("api", "svc", 0.999, RatioSLI(total="requests_total", bad="errors_total"))
    source = ScrapeSource([slo], [fake_server.url])
    lines["text"] = head
    source.tick(T0)
    errors = (
        "# TYPE errors counter\n"
        'errors_total{{code="500"}} 3\n'
        'errors_created{{code="500"}} {}\n'
    )
    lines["text"] = head.replace("5000", "5200") + errors.format(T0 + 30)
    inc = by_instance(source.tick(T0 + 60))["api"]
    assert (inc.bad, inc.total, inc.quality) == (3, 200, Quality.NONE)

    # a series created long ago that the previous scrape did not show: not counted
    source = ScrapeSource([slo], [fake_server.url])
    lines["text"] = head
    source.tick(T0)
    lines["text"] = head.replace("5000", "5200") + errors.format(50)
    inc = by_instance(source.tick(T0 + 60))["api"]
    assert (inc.bad, inc.total) == (0, 200) and inc.quality & Quality.LOWER_BOUND


# -- targets that do not answer -----------------------------------------------------


def two_pods(fake_server, down=()):
    """Pods a and b behind one fake server; a pod in ``down`` answers 500."""
    pods = {"a": App(), "b": App()}

    def respond(path):
        pod = path.strip("/")
        return Answer("oops", status=500) if pod in down else pods[pod].answer(path)

    fake_server.respond = respond
    return pods, [fake_server.url + "/a", fake_server.url + "/b"]


def test_one_target_down_counts_the_others_and_marks_the_bucket_partial(fake_server):
    down = set()
    pods, urls = two_pods(fake_server, down)
    source = ScrapeSource([ratio_slo()], urls)
    source.tick(T0)
    for pod in pods.values():
        pod.requests.labels("200", "eu").inc(100)
    inc = by_instance(source.tick(T0 + 60))["api"]
    assert (inc.known, inc.bad, inc.total, inc.quality) == (True, 0, 200, Quality.NONE)

    down.add("b")
    pods["a"].requests.labels("200", "eu").inc(50)
    pods["a"].requests.labels("500", "eu").inc(50)
    pods["b"].requests.labels("200", "eu").inc(100)
    inc = by_instance(source.tick(T0 + 120))["api"]
    assert (inc.known, inc.bad, inc.total) == (True, 50, 100)
    assert inc.quality == Quality.PARTIAL

    # b is back: a baseline for b's own series only; a is still counted.
    down.clear()
    pods["a"].requests.labels("500", "eu").inc(10)
    pods["b"].requests.labels("200", "eu").inc(1000)  # across b's gap: not counted
    inc = by_instance(source.tick(T0 + 180))["api"]
    assert (inc.known, inc.bad, inc.total, inc.quality) == (
        True,
        10,
        10,
        Quality.PARTIAL,
    )
    pods["b"].requests.labels("200", "eu").inc(90)
    inc = by_instance(source.tick(T0 + 240))["api"]
    assert (inc.known, inc.bad, inc.total, inc.quality) == (True, 0, 90, Quality.NONE)


def test_a_target_down_since_start_marks_every_instance_partial(fake_server):
    pods, urls = two_pods(fake_server, down={"b"})
    source = ScrapeSource([ratio_slo()], urls)
    source.tick(T0)
    pods["a"].requests.labels("500", "eu").inc(5)
    pods["a"].requests.labels("200", "eu").inc(5)
    inc = by_instance(source.tick(T0 + 60))["api"]
    assert (inc.known, inc.bad, inc.total) == (True, 5, 10)
    assert inc.quality == Quality.PARTIAL


def test_every_target_feeding_an_instance_down_or_in_baseline_is_unknown(fake_server):
    down = {"b"}
    pods, urls = two_pods(fake_server, down)
    pods["a"].requests.labels("200", "eu").inc(5)
    source = ScrapeSource([ratio_slo()], urls)
    first = by_instance(source.tick(T0))["api"]  # a's baseline, b down
    assert not first.known and "baseline" in first.reason
    down.add("a")
    pods["a"].requests.labels("200", "eu").inc(5)
    inc = by_instance(source.tick(T0 + 60))["api"]
    assert not inc.known and "down: HTTP 500" in inc.reason


def test_a_down_target_affects_only_the_instances_it_fed(fake_server):
    down = set()
    pods, urls = two_pods(fake_server, down)
    pods["a"].requests.labels("200", "eu").inc(1)
    pods["b"].requests.labels("200", "us").inc(1)
    source = ScrapeSource([ratio_slo(["region"])], urls)
    source.tick(T0)
    source.tick(T0 + 60)
    down.add("b")
    pods["a"].requests.labels("200", "eu").inc(7)
    got = by_instance(source.tick(T0 + 120))
    eu, us = got['api{region="eu"}'], got['api{region="us"}']
    assert (eu.known, eu.total, eu.quality) == (True, 7, Quality.NONE)
    assert not us.known and "down" in us.reason


def test_a_failing_target_does_not_hide_the_page_of_the_ones_that_answer(
    fake_server,
):
    down = set()
    pods, urls = two_pods(fake_server, down)
    slo = ratio_slo()
    history = History(Store(":memory:"))
    source = ScrapeSource([slo], urls)
    pods["b"].requests.labels("200", "eu").inc(1)
    history.apply(source.tick(T0).increments)
    down.add("b")
    for minute in range(1, 11):
        pods["a"].requests.labels("200", "eu").inc(50)
        pods["a"].requests.labels("500", "eu").inc(50)
        history.apply(source.tick(T0 + 60 * minute).increments)
    found = alerts([slo], history, T0 + 600)
    assert {a["tier"] for a in named(found, "SLOBurnRateHigh")} >= {"page-1h"}
    assert {a["quality"] for a in named(found, "SLODataIncomplete")} == {"partial"}


# -- values that are not numbers ----------------------------------------------------


@pytest.mark.parametrize("value", ["+Inf", "NaN"])
def test_non_finite_counter_is_unknown_for_its_slo_only(fake_server, tmp_path, value):
    body = {"errors": "1"}
    fake_server.respond = lambda path: Answer(
        f"requests_total 100\nerrors_total {body['errors']}\nweb_requests_total 100\n"
    )
    api = SLO("api", "svc", 0.999, RatioSLI(total="requests_total", bad="errors_total"))
    web = SLO("web", "svc", 0.999, RatioSLI(total="web_requests_total", bad="x_total"))
    history = History(Store(tmp_path / "h.db"))
    source = ScrapeSource([api, web], [fake_server.url])
    history.apply(source.tick(T0).increments)
    body["errors"] = value
    got = by_instance(source.tick(T0 + 60))
    assert not got["api"].known and got["api"].quality & Quality.NAN
    assert "errors_total" in got["api"].reason
    history.apply(got.values())
    assert history.window("web", T0 + 60, 60).known_buckets == 1
    # the next value counts from an unknown base: not counted, a lower bound
    body["errors"] = "7"
    inc = by_instance(source.tick(T0 + 120))["api"]
    assert (inc.known, inc.bad) == (True, 0) and inc.quality & Quality.LOWER_BOUND


def test_series_whose_sum_overflows_are_unknown_not_an_error(fake_server, tmp_path):
    body = {"v": 0.0}
    fake_server.respond = lambda path: Answer(
        f'requests_total{{pod="a"}} {body["v"]!r}\n'
        f'requests_total{{pod="b"}} {body["v"]!r}\n'
        "web_requests_total 100\n"
    )
    api = SLO("api", "svc", 0.999, RatioSLI(total="requests_total", bad="e_total"))
    web = SLO("web", "svc", 0.999, RatioSLI(total="web_requests_total", bad="x_total"))
    history = History(Store(tmp_path / "h.db"))
    source = ScrapeSource([api, web], [fake_server.url])
    history.apply(source.tick(T0).increments)
    body["v"] = 1.7e308
    got = by_instance(source.tick(T0 + 60))
    assert not got["api"].known and got["api"].quality & Quality.NAN
    assert "non-finite" in got["api"].reason
    history.apply(got.values())
    assert history.window("web", T0 + 60, 60).known_buckets == 1


# -- an SLI whose good series are missing -------------------------------------------


def misfit_errors(caplog):
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name == "sentinel.sources.scrape"
    ]


def test_latency_threshold_off_the_bounds_is_logged_once_with_the_bounds_found(
    fake_server, caplog
):
    app = App()
    fake_server.respond = app.answer
    slo = SLO("rpc", "svc", 0.99, LatencySLI("rpc_seconds", threshold=0.2))
    source = ScrapeSource([slo], [fake_server.url])
    with caplog.at_level(logging.ERROR, "sentinel.sources.scrape"):
        source.tick(T0)
        for minute in range(1, 4):
            app.latency.observe(0.05)
            inc = by_instance(source.tick(T0 + 60 * minute))["rpc"]
            assert not inc.known and inc.quality & Quality.MISSING_GOOD
    assert misfit_errors(caplog) == [
        "SLO rpc: threshold 0.2 is not a bucket bound of rpc_seconds;"
        " bounds found: 0.1, 0.3, 1, +Inf"
    ]

    # the histogram changes its bounds: logged again, once
    caplog.clear()
    app.registry = CollectorRegistry()
    app.latency = Histogram(
        "rpc_seconds", "", buckets=(0.25, 0.5), registry=app.registry
    )
    with caplog.at_level(logging.ERROR, "sentinel.sources.scrape"):
        for minute in range(4, 7):
            app.latency.observe(0.05)
            source.tick(T0 + 60 * minute)
    assert misfit_errors(caplog) == [
        "SLO rpc: threshold 0.2 is not a bucket bound of rpc_seconds;"
        " bounds found: 0.25, 0.5, +Inf"
    ]


def test_good_selector_matching_nothing_is_logged_once(fake_server, caplog):
    body = {"n": 0}
    fake_server.respond = lambda path: Answer(f"requests_total {body['n']}\n")
    sli = RatioSLI(total="requests_total", good='requests_total{code="200"}')
    source = ScrapeSource([SLO("api", "svc", 0.999, sli)], [fake_server.url])
    with caplog.at_level(logging.ERROR, "sentinel.sources.scrape"):
        for minute in range(4):
            body["n"] += 100
            source.tick(T0 + 60 * minute)
    [message] = misfit_errors(caplog)
    assert message.startswith('SLO api: good selector requests_total{code="200"}')
    assert "matches no series" in message


def test_latency_threshold_off_the_bounds_raises_a_missing_good_data_alert(
    fake_server,
):
    app = App()
    fake_server.respond = app.answer
    slo = SLO("rpc", "svc", 0.99, LatencySLI("rpc_seconds", threshold=0.2))
    history = History(Store(":memory:"))
    source = ScrapeSource([slo], [fake_server.url])
    for minute in range(6):
        for _ in range(10):
            app.latency.observe(0.5)
        history.apply(source.tick(T0 + 60 * minute).increments)
    found = alerts([slo], history, T0 + 300)
    assert named(found, "SLOBurnRateHigh") == []
    assert {a["quality"] for a in named(found, "SLODataIncomplete")} == {"missing_good"}
