"""Wiring: configuration -> sources, network, scheduler, server; signals and reload.

A :class:`Daemon` owns what outlives a configuration (the SQLite store with the
history, the alert book and the outbox, the metrics registry, the HTTP server) and a
:class:`Runtime` holding what one configuration builds (SLOs, sources, the rule engine,
the evaluator, the notifiers). A reload builds a new runtime from the new files and
swaps it in between evaluations; a configuration with errors is refused and the old
runtime keeps running.

Start-up: load and check the configuration (refusing to start on errors), open the
store, backfill the history from Prometheus sources, run a first evaluation, then
evaluate every ``interval`` on an APScheduler job (one at a time; late runs coalesced
and logged). A second job retries notification delivery between evaluations.
"""

from __future__ import annotations

import gc
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import requests
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry

from sentinel import config as cfg
from sentinel.alerts import Alert, AlertBook
from sentinel.errors import ConfigError, SentinelError
from sentinel.evaluator import Evaluator
from sentinel.history import History, retention_for
from sentinel.metrics import (
    DaemonMetrics,
    EngineCollector,
    ExportedMetric,
    FactCollector,
    Sample,
)
from sentinel.model import HOST_FACT_TYPES, SLO
from sentinel.notify import (
    LogNotifier,
    Notifier,
    Outbox,
    SlackNotifier,
    WebhookNotifier,
    alertmanager_cluster,
)
from sentinel.rete import Engine, Rule
from sentinel.rete.dsl import MetricSpec, load_rules
from sentinel.server import HTTPServer
from sentinel.sources.base import Source
from sentinel.sources.prometheus import BasicAuth, BearerAuth, PrometheusSource, Secret
from sentinel.sources.scrape import ScrapeSource, Target
from sentinel.store import Store

log = logging.getLogger(__name__)

DELIVERY_INTERVAL = 5.0  # seconds between outbox passes outside evaluations
PRUNE_INTERVAL = 3600.0
BACKFILL_GIVE_UP = 3  # failed chunks in a row before a source's backfill is dropped
STOP_TIMEOUT = 20.0  # under the 30 s systemd gives before SIGKILL


@dataclass
class Runtime:
    """Everything one configuration builds."""

    config: cfg.Config
    rules: list[Rule]
    metric_specs: list[MetricSpec]
    sources: dict[str, Source]
    notifiers: list[Notifier]
    engine: Engine = field(init=False)
    evaluator: Evaluator | None = None

    def close(self, keep: Collection[str] = ()) -> None:
        for name, source in self.sources.items():
            if name not in keep:
                source.close()

    def source_key(self, name: str) -> tuple[object, tuple[SLO, ...]]:
        """What a source is built from: its settings and the SLOs it reads."""
        slos = tuple(s for s in self.config.slos if s.source == name)
        return self.config.source(name), slos


def _keep_unchanged_sources(old: Runtime, new: Runtime) -> set[str]:
    """Carry over sources whose settings and SLOs did not change, with their state
    (a scraper's last values), so a reload costs no baseline scrape."""
    kept = set()
    for name, source in new.sources.items():
        if name not in old.sources:
            continue
        if old.source_key(name) == new.source_key(name):
            source.close()
            new.sources[name] = old.sources[name]
            kept.add(name)
        elif (
            isinstance(source, ScrapeSource)
            and isinstance(previous := old.sources[name], ScrapeSource)
            and old.config.source(name) == new.config.source(name)
        ):
            # same targets, other SLOs: the last values carry over, no baseline
            source.adopt(previous)
    return kept


def load_rule_files(files: Sequence[Path]) -> tuple[list[Rule], list[MetricSpec]]:
    """Every rule and metric declaration of ``files``, in order."""
    ruleset = load_rules(files, known_types=HOST_FACT_TYPES)
    return list(ruleset.rules), list(ruleset.metrics)


def _auth(
    a: cfg.BasicAuth | cfg.BearerAuth | None,
) -> BasicAuth | BearerAuth | None:
    if isinstance(a, cfg.BasicAuth):
        return BasicAuth(a.username, Secret(file=a.password_file, env=a.password_env))
    if isinstance(a, cfg.BearerAuth):
        return BearerAuth(Secret(file=a.token_file, env=a.token_env))
    return None


def build_sources(
    config: cfg.Config, resolution: int, session: Callable[[], requests.Session]
) -> dict[str, Source]:
    """One source per configured source that at least one SLO reads from."""
    out: dict[str, Source] = {}
    for sc in config.sources:
        slos = [s for s in config.slos if s.source == sc.name]
        if not slos:
            continue
        if isinstance(sc, cfg.PrometheusSourceConfig):
            verify: bool | str = not sc.tls.insecure_skip_verify
            if sc.tls.ca_file and verify:
                verify = sc.tls.ca_file
            out[sc.name] = PrometheusSource(
                slos,
                sc.url,
                resolution=resolution,
                auth=_auth(sc.auth),
                verify=verify,
                timeout=sc.timeout,
                retries=sc.retries,
                max_gap=max(2 * sc.scrape_interval, 2 * resolution),
                # a hanging server must not hold the tick past the next one
                tick_budget=max(0.8 * config.global_.interval, 10.0),
                session=session(),
            )
        else:
            out[sc.name] = ScrapeSource(
                slos,
                [Target(t.url, dict(t.labels)) for t in sc.targets],
                resolution=resolution,
                interval=sc.interval,
                timeout=sc.timeout,
                session=session(),
            )
    return out


def build_notifiers(
    config: cfg.Config, session: Callable[[], requests.Session]
) -> list[Notifier]:
    """Notifiers from the configuration; the log notifier when none is configured."""
    g = config.global_
    external = g.external_url or f"http://{g.listen}"
    out: list[Notifier] = []
    for n in config.notifiers:
        if isinstance(n, cfg.AlertmanagerNotifierConfig):
            out.extend(
                alertmanager_cluster(
                    n.urls,
                    interval_s=g.interval,
                    external_url=external,
                    name=n.name,
                    session=session(),
                    timeout=n.timeout,
                )
            )
        elif isinstance(n, cfg.WebhookNotifierConfig):
            out.append(
                WebhookNotifier(
                    n.url,
                    name=n.name,
                    headers=dict(n.headers),
                    external_url=external,
                    session=session(),
                    timeout=n.timeout,
                )
            )
        elif isinstance(n, cfg.SlackNotifierConfig):
            out.append(
                SlackNotifier(
                    n.webhook_url,
                    webhook_url_file=n.webhook_url_file,
                    name=n.name,
                    external_url=external,
                    session=session(),
                    timeout=n.timeout,
                )
            )
        else:
            out.append(LogNotifier(name=n.name))
    if not out:
        out.append(LogNotifier())
    return out


def _resolution(config: cfg.Config) -> int:
    return int(config.global_.resolution)


class Daemon:
    """The long-lived service. ``clock`` and ``session`` are injectable for tests."""

    def __init__(
        self,
        config_path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
        session: Callable[[], requests.Session] = requests.Session,
        listen: str | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.clock = clock
        self.session = session
        self.registry = registry or CollectorRegistry()
        self.metrics = DaemonMetrics(self.registry)
        self._listen = listen
        self._eval_lock = threading.Lock()
        self._stop = threading.Event()
        self._reload_requested = threading.Event()
        self._ready = False
        self._last_prune = 0.0
        self._scheduled_at: float | None = None
        self._scraped: dict[str, float] = {}
        self.scheduler: BackgroundScheduler | None = None
        self.server: HTTPServer | None = None
        self.store: Store | None = None

        config = self._load_config()
        self.runtime = self._build(config)
        self.resolution = _resolution(config)
        self._open_state(config)
        self.registry.register(FactCollector(self._exported))
        self.registry.register(
            EngineCollector(
                lambda: dict(self.runtime.engine.stats.fires),
                lambda: dict(self.runtime.engine.stats.facts),
                lambda: self.runtime.engine.stats.match_seconds,
            )
        )

    # -- building --------------------------------------------------------------------

    def _load_config(self) -> cfg.Config:
        config = cfg.load_config(self.config_path)
        for warning in config.warnings:
            log.warning("config: %s", warning)
        return config

    def _build(self, config: cfg.Config) -> Runtime:
        """A runtime for ``config``; raises on bad rule files, touching no state."""
        rules, specs = load_rule_files(config.rule_files())
        resolution = _resolution(config)
        return Runtime(
            config,
            rules,
            specs,
            build_sources(config, resolution, self.session),
            build_notifiers(config, self.session),
        )

    def _open_state(self, config: cfg.Config) -> None:
        state = Path(config.global_.state_dir)
        self.store = Store(state / "sentinel.db")
        retention = config.global_.retention or retention_for(
            config.slos, self.resolution
        )
        self.history = History(
            self.store, resolution=self.resolution, retention=retention
        )
        self._attach(self.runtime)

    def _attach(self, runtime: Runtime) -> None:
        """Point the outbox, the alert book and a new evaluator at ``runtime``."""
        assert self.store is not None
        self.outbox = Outbox(self.store, runtime.notifiers, metrics=self.metrics)
        self.book = AlertBook(self.store, sink=self.outbox)
        self._new_network(runtime)

    def _new_network(self, runtime: Runtime) -> None:
        """A fresh engine and evaluator for ``runtime``'s rules; history is kept."""
        runtime.engine = Engine(runtime.rules)
        runtime.evaluator = Evaluator(
            runtime.config.slos,
            self.history,
            runtime.engine,
            metrics=runtime.metric_specs,
            runbook_url=runtime.config.runbook_url,
            maintenance=runtime.config.maintenance,
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Daemon:
        """Serve HTTP, backfill, evaluate once, then schedule evaluations."""
        g = self.runtime.config.global_
        host, _, port = (self._listen or g.listen).rpartition(":")
        self.server = HTTPServer(self, self.registry, host or "127.0.0.1", int(port))
        self.server.start()
        # Loading the history and building the network allocate millions of objects
        # that live as long as the process: collecting while they pile up costs more
        # than the load itself, and afterwards they need not be walked again.
        gc.disable()
        try:
            self.backfill()
            if not self._stop.is_set():
                self.evaluate()
        finally:
            gc.enable()
            gc.freeze()
        if self._stop.is_set():
            return self
        self._ready = True
        self.metrics.ready.set(1)
        self.metrics.config_last_reload_success.set(1)  # the config it started with
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.scheduler.add_listener(
            self._on_job_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_SUBMITTED
        )
        self.scheduler.add_job(
            self.evaluate,
            IntervalTrigger(seconds=g.interval),
            id="evaluate",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(g.interval)),
        )
        scrape_intervals = [
            s.interval
            for s in self.runtime.sources.values()
            if isinstance(s, ScrapeSource)
        ]
        if scrape_intervals:
            self.scheduler.add_job(
                self.scrape,
                IntervalTrigger(seconds=min(scrape_intervals)),
                id="scrape",
                max_instances=1,
                coalesce=True,
            )
        self.scheduler.add_job(
            self.deliver,
            IntervalTrigger(seconds=min(DELIVERY_INTERVAL, g.interval)),
            id="deliver",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.start()
        log.info(
            "sentinel started: %d SLOs, %d rules, evaluating every %gs",
            len(self.runtime.config.slos),
            len(self.runtime.rules),
            g.interval,
        )
        return self

    def _on_job_event(self, event: JobEvent) -> None:
        if isinstance(event, JobSubmissionEvent):
            if event.job_id == "evaluate" and event.scheduled_run_times:
                self._scheduled_at = event.scheduled_run_times[-1].timestamp()
        elif event.code == EVENT_JOB_MISSED:
            log.warning(
                "job %s missed its run at %s: the previous one was still running",
                event.job_id,
                event.scheduled_run_time,
            )

    def handle_signals(self) -> Daemon:
        """SIGTERM and SIGINT stop, SIGHUP reloads; call before :meth:`start` so a
        signal during the backfill is handled too (from the main thread only)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)
        return self

    def run_forever(self) -> int:
        """Block until SIGTERM or SIGINT; SIGHUP reloads. Returns the exit code."""
        self.handle_signals()
        while not self._stop.wait(0.5):
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                self.reload()
        self.stop()
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload_requested.set()
        else:
            log.info("received %s, stopping", signal.Signals(signum).name)
            self._stop.set()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Finish the running evaluation, deliver what is due, close everything.

        Bounded by ``timeout``: an evaluation stuck on a hanging source is left to
        die with the process. Nothing is lost that way: state and the outbox are
        committed transactions, and what is queued is sent after the next start.
        """
        deadline = time.monotonic() + timeout
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()
            closer = threading.Thread(target=self.scheduler.shutdown, daemon=True)
            closer.start()
            closer.join(timeout)
        if not self._eval_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            log.error(
                "an evaluation did not finish within %gs; stopping without it "
                "(queued notifications stay in the outbox)",
                timeout,
            )
            if self.server is not None:
                self.server.stop()
            return
        try:
            try:
                self.outbox.deliver_due(self.clock())
            except SentinelError as exc:
                log.warning("final delivery failed: %s", exc)
            if self.server is not None:
                self.server.stop()
            self.runtime.close()
            if self.store is not None:
                self.store.close()
                self.store = None
        finally:
            self._eval_lock.release()
        log.info("sentinel stopped")

    # -- work ------------------------------------------------------------------------

    def backfill(self) -> None:
        """Fill the history from Prometheus sources, resuming from what is stored."""
        now = self.clock()
        for name, source in self.runtime.sources.items():
            if not isinstance(source, PrometheusSource):
                continue
            resume = {}
            for slo in self.runtime.config.slos:
                point = self.history.resume_point(slo.name)
                if point is not None:
                    resume[slo.name] = float(point)
            failed = 0
            for report in source.backfill(now, resume):
                self.history.apply(report.increments)
                self._record_source(name, report)
                failed = failed + 1 if report.failures else 0
                if self._stop.is_set():
                    log.warning("backfill from source %s stopped", name)
                    return
                if failed >= BACKFILL_GIVE_UP:
                    # Evaluate with what there is; ticks catch up on recent data.
                    log.warning(
                        "backfill from source %s abandoned after %d failed chunks; "
                        "its history starts with the first successful tick",
                        name,
                        failed,
                    )
                    break
            else:
                log.info("backfill from source %s done", name)

    def evaluate(self) -> None:
        """One evaluation; failures are logged and counted, never raised."""
        with self._eval_lock:
            if self.store is None:
                return
            started = time.monotonic()
            now = self.clock()
            lag = now - self._scheduled_at if self._scheduled_at else 0.0
            ok = True
            try:
                self._evaluate(now)
            except Exception:
                ok = False
                log.exception("evaluation at %.0f failed", now)
                # Working memory may be half updated: start the next tick from a
                # network rebuilt from the history rather than from a broken one.
                self._new_network(self.runtime)
            self.metrics.evaluation(time.monotonic() - started, ok, now, lag)

    def _evaluate(self, now: float) -> None:
        runtime = self.runtime
        assert runtime.evaluator is not None

        # pull SLIs: Prometheus at this pinned time, scrapers if their slot is due
        for name, source in runtime.sources.items():
            if isinstance(source, PrometheusSource):
                self._tick(name, source, now)
        self._scrape_due(now)

        # run the rules
        candidates = runtime.evaluator.evaluate(now)

        # alert lifecycle, then notifications; a silenced SLO's alerts hold their
        # state: an incident that goes on under maintenance is not told resolved
        held = {f["slo"] for f in runtime.engine.facts("silenced")}
        transitions = self.book.update(now, candidates, held_slos=held)
        for t in transitions:
            log.info(
                "alert %s %s: %s -> %s",
                t.alert.name,
                dict(t.alert.labels),
                t.previous.value,
                t.current.value,
            )
        self.deliver(now)

        if now - self._last_prune >= PRUNE_INTERVAL:
            self.history.prune(now)
            self.outbox.purge(now)
            self._last_prune = now

    def scrape(self) -> None:
        """The scrape job: every scrape source whose slot has come."""
        with self._eval_lock:
            if self.store is None:
                return
            try:
                self._scrape_due(self.clock())
            except Exception:
                log.exception("scrape failed")

    def _scrape_due(self, now: float) -> None:
        # Scrapes happen on a grid of their interval, at most once a slot: two scrapes
        # ending in one history bucket would overwrite each other's counts.
        for name, source in self.runtime.sources.items():
            if not isinstance(source, ScrapeSource):
                continue
            slot = math.floor(now / source.interval) * source.interval
            if self._scraped.get(name) != slot:
                self._scraped[name] = slot
                self._tick(name, source, slot)

    def _tick(self, name: str, source: Source, now: float) -> None:
        report = source.tick(now)
        self.history.apply(report.increments)
        self._record_source(name, report)

    def _record_source(self, name: str, report: Any) -> None:
        self.metrics.source_tick(
            name, report.requests, report.failures, report.samples, report.latency
        )
        for target in report.targets:
            self.metrics.scrape_target_up.labels(target.url).set(1 if target.up else 0)
        for error in report.errors:
            log.warning("source %s: %s", name, error)

    def deliver(self, now: float | None = None) -> None:
        """Send what the outbox holds that is due."""
        try:
            self.outbox.deliver_due(self.clock() if now is None else now)
        except SentinelError as exc:
            log.warning("delivery pass failed: %s", exc)
        for target, n in self.outbox.queue_lengths().items():
            self.metrics.notification_queue.labels(target).set(n)

    # -- reload ----------------------------------------------------------------------

    def reload(self) -> tuple[bool, str]:
        """Re-read configuration and rules; keep state; refuse a broken config."""
        try:
            config = self._load_config()
            if _resolution(config) != self.resolution:
                raise ConfigError(
                    "cannot change while running (the history is stored at "
                    f"{self.resolution}s); restart with a new state_dir",
                    field="global.resolution",
                    value=_resolution(config),
                )
            runtime = self._build(config)
        except (SentinelError, OSError) as exc:
            self.metrics.reload(False)
            log.error("reload refused, keeping the running configuration: %s", exc)
            return False, f"reload refused: {exc}"
        with self._eval_lock:
            old = self.runtime
            kept = _keep_unchanged_sources(old, runtime)
            self.runtime = runtime
            self._attach(runtime)
            old.close(keep=kept)
        self.metrics.reload(True)
        log.info("configuration reloaded from %s", self.config_path)
        # The new network starts empty: evaluate now rather than a tick later.
        self.evaluate()
        return True, "configuration reloaded"

    # -- views (the HTTP interface) --------------------------------------------------

    def is_ready(self) -> bool:
        return self._ready

    def slos(self) -> list[dict[str, Any]]:
        with self._eval_lock:
            evaluator = self.runtime.evaluator
            views = evaluator.slo_views() if evaluator else []
        firing = self.book.alerts()
        for view in views:
            view["alerts"] = [
                _alert_view(a) for a in firing if a.labels.get("slo") == view["id"]
            ]
        return views

    def alerts(self) -> list[dict[str, Any]]:
        return [_alert_view(a) for a in self.book.alerts()]

    def _exported(self) -> list[ExportedMetric]:
        # Facts change during an evaluation: read them between two.
        with self._eval_lock:
            evaluator = self.runtime.evaluator
            exported = evaluator.exported() if evaluator else []
            return [*exported, self._objectives(), self._alert_states()]

    def _objectives(self) -> ExportedMetric:
        objective = ExportedMetric(
            "sentinel_slo_objective", "The SLO's objective, as a fraction.", ["slo"]
        )
        evaluator = self.runtime.evaluator
        for inst in evaluator.instances.values() if evaluator else ():
            objective.samples.append(Sample({"slo": inst.id}, inst.slo.objective))
        return objective

    def _alert_states(self) -> ExportedMetric:
        states = ExportedMetric(
            "sentinel_alert_state",
            "1 for each active alert, by name and state (pending, firing).",
            ["alertname", "slo", "severity", "tier", "state"],
        )
        for a in self.book.alerts():
            if a.state.value in ("pending", "firing"):
                labels = {k: a.labels.get(k, "") for k in ("slo", "severity", "tier")}
                states.samples.append(
                    Sample({"alertname": a.name, **labels, "state": a.state.value}, 1)
                )
        return states


def _alert_view(a: Alert) -> dict[str, Any]:
    return {
        "fingerprint": a.fingerprint,
        "name": a.name,
        "state": a.state.value,
        "held": a.held,
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "runbook_url": a.runbook_url,
        "active_since": a.active_since,
        "fired_at": a.fired_at,
        "resolved_at": a.resolved_at,
        "explanation": a.explanation,
    }
