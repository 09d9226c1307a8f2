"""The daemon's own metrics, and the SLO values the rules export, for ``/metrics``.

Everything is recorded through :class:`DaemonMetrics`, a small object in domain words
over an injected :class:`~prometheus_client.CollectorRegistry`; tests build one on a
fresh registry and read the samples back. SLO values (burn rate per window, budget
remaining, ...) are not stored here: rule packs declare which derived facts become
which metric, and :class:`FactCollector` reads them from the last evaluation.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sentinel import __version__

# Evaluations should take milliseconds to a few seconds; sources can take longer.
_EVAL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_SOURCE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class DaemonMetrics:
    """Counters, gauges and histograms describing the daemon's own health."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.build_info = Info(
            "sentinel_build", "Sentinel version and Python runtime.", registry=registry
        )
        self.build_info.info(
            {"version": __version__, "python": platform.python_version()}
        )
        self.evaluations = Counter(
            "sentinel_evaluations",
            "Evaluations run, by outcome (ok, failed).",
            ["outcome"],
            registry=registry,
        )
        self.evaluation_duration = Histogram(
            "sentinel_evaluation_duration_seconds",
            "Wall time of one evaluation: read sources, update facts, run rules.",
            buckets=_EVAL_BUCKETS,
            registry=registry,
        )
        self.evaluation_lag = Gauge(
            "sentinel_evaluation_lag_seconds",
            "How late the last evaluation started after its scheduled time.",
            registry=registry,
        )
        self.last_evaluation = Gauge(
            "sentinel_last_evaluation_timestamp_seconds",
            "Unix time of the last successful evaluation.",
            registry=registry,
        )
        self.source_requests = Counter(
            "sentinel_source_requests",
            "Queries or scrapes made by SLI sources, by outcome (ok, failed).",
            ["source", "outcome"],
            registry=registry,
        )
        self.source_duration = Histogram(
            "sentinel_source_tick_duration_seconds",
            "Time a source took to read one evaluation's data.",
            ["source"],
            buckets=_SOURCE_BUCKETS,
            registry=registry,
        )
        self.source_samples = Counter(
            "sentinel_source_samples",
            "Samples read by SLI sources.",
            ["source"],
            registry=registry,
        )
        self.scrape_target_up = Gauge(
            "sentinel_scrape_target_up",
            "1 when the embedded scraper's last scrape of a target succeeded.",
            ["target"],
            registry=registry,
        )
        self.notifications = Counter(
            "sentinel_notifications",
            "Notification delivery attempts, by notifier and outcome (sent, failed).",
            ["notifier", "outcome"],
            registry=registry,
        )
        self.notification_queue = Gauge(
            "sentinel_notification_queue_length",
            "Notifications waiting in the outbox, by notifier.",
            ["notifier"],
            registry=registry,
        )
        self.ready = Gauge(
            "sentinel_ready",
            "1 once the history is backfilled and a first evaluation has run.",
            registry=registry,
        )
        self.config_reloads = Counter(
            "sentinel_config_reloads",
            "Configuration reloads, by outcome (ok, failed).",
            ["outcome"],
            registry=registry,
        )
        self.config_last_reload_success = Gauge(
            "sentinel_config_last_reload_successful",
            "1 when the last configuration reload succeeded.",
            registry=registry,
        )

    def evaluation(self, seconds: float, ok: bool, now: float, lag: float) -> None:
        self.evaluations.labels("ok" if ok else "failed").inc()
        self.evaluation_duration.observe(seconds)
        self.evaluation_lag.set(max(lag, 0.0))
        if ok:
            self.last_evaluation.set(now)

    def source_tick(
        self, source: str, requests: int, failures: int, samples: int, seconds: float
    ) -> None:
        self.source_requests.labels(source, "ok").inc(max(requests - failures, 0))
        self.source_requests.labels(source, "failed").inc(failures)
        self.source_samples.labels(source).inc(samples)
        self.source_duration.labels(source).observe(seconds)

    def notification(self, notifier: str, sent: bool) -> None:
        self.notifications.labels(notifier, "sent" if sent else "failed").inc()

    def reload(self, ok: bool) -> None:
        self.config_reloads.labels("ok" if ok else "failed").inc()
        self.config_last_reload_success.set(1 if ok else 0)


@dataclass(frozen=True)
class Sample:
    """One value of an exported SLO metric."""

    labels: dict[str, str]
    value: float


@dataclass
class ExportedMetric:
    """A gauge family built at scrape time from the facts of the last evaluation."""

    name: str
    help: str
    label_names: Sequence[str]
    samples: list[Sample] = field(default_factory=list)


class FactCollector(Collector):
    """Yields the SLO metrics the rule packs export, read at scrape time.

    ``read`` returns the families from the last completed evaluation; it must not block
    on a running one.
    """

    def __init__(self, read: Callable[[], Iterable[ExportedMetric]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        for metric in self._read():
            family = GaugeMetricFamily(
                metric.name, metric.help, labels=list(metric.label_names)
            )
            for sample in metric.samples:
                family.add_metric(
                    [sample.labels.get(n, "") for n in metric.label_names],
                    sample.value,
                )
            yield family


class EngineCollector(Collector):
    """Rule fires, facts in memory and matching time, read from the engine's stats."""

    def __init__(
        self,
        fires: Callable[[], dict[str, int]],
        facts: Callable[[], dict[str, int]],
        match_seconds: Callable[[], float],
    ) -> None:
        self._fires = fires
        self._facts = facts
        self._match_seconds = match_seconds

    def collect(self) -> Iterator[Metric]:
        fires = CounterMetricFamily(
            "sentinel_rule_fires", "Rule activations fired, by rule.", labels=["rule"]
        )
        for rule, n in sorted(self._fires().items()):
            fires.add_metric([rule], n)
        yield fires
        facts = GaugeMetricFamily(
            "sentinel_facts", "Facts in working memory, by type.", labels=["type"]
        )
        for kind, n in sorted(self._facts().items()):
            facts.add_metric([kind], n)
        yield facts
        yield CounterMetricFamily(
            "sentinel_rule_match_seconds",
            "Time the rule engine spent matching and firing.",
            value=self._match_seconds(),
        )
