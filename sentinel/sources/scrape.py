"""The embedded source: Sentinel scrapes Prometheus-format ``/metrics`` itself.

Each tick scrapes every target once (Prometheus text format or OpenMetrics, chosen by
the response's ``Content-Type``), keeps the last value of every series per target, and
works out each series' increase since the target's previous scrape before summing
anything (C07):

- a value below the previous one is a counter reset: the increase is the new value;
  so is a ``_created`` timestamp that moved forward;
- a series absent from the previous scrape is new, and counts from zero (C08): the
  scraper saw the scrape before and knows the series was not there. When the series
  carries a ``_created`` time older than the previous scrape it is not new (it was
  hidden, not born) and its first value is not counted, marked a lower bound;
- the first scrape of a target, or the first after a failed one, is a baseline for
  that target's own series: the increase across a gap is not attributed (C17);
- an SLO instance fed by several targets is counted from those that answered when
  some are down or in their baseline, and the bucket is marked
  :attr:`Quality.PARTIAL` (a sample of the traffic: the ratio still holds, so burn
  rates and pages keep working, and a data alert says the count is incomplete). Only
  when no target feeding it answered is the bucket unknown, never zero. Which
  instances a down target feeds is what its last successful scrape showed; a target
  that never answered may feed any, so every instance is marked partial;
- a non-finite value (``NaN``, ``+Inf``) or a sum that overflows makes the instance
  unknown for the bucket, marked :attr:`Quality.NAN`.

SLO selectors are matched onto the scraped series with :mod:`.selector`; every sample
also carries the labels of its target (``instance`` = host:port, plus any configured,
e.g. ``job``). Targets are scraped one after the other; keep the scrape timeout well
under the tick interval.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from sentinel.errors import SourceError
from sentinel.model import SLO, LatencySLI, Quality, instance_id
from sentinel.sources.base import (
    GroupSums,
    Increment,
    MisfitLog,
    TargetHealth,
    TickReport,
    counter_delta,
    group_key,
    le_matches,
    missing_good_message,
    to_increment,
)
from sentinel.sources.selector import Selector, parse_selector

log = logging.getLogger(__name__)

ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.9,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
_SUFFIXES = ("_total", "_bucket", "_count", "_sum")

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Target:
    """One endpoint to scrape, with labels added to all its series."""

    url: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _TargetState:
    target: Target
    values: dict[SeriesKey, float] | None = None  # last successful scrape
    created: dict[SeriesKey, float] = field(default_factory=dict)
    previous_created: dict[SeriesKey, float] = field(default_factory=dict)
    scraped_at: float | None = None  # tick time of the last successful scrape
    health: TargetHealth | None = None
    # (slo, group key) of the instances its total series fed at its last success
    feeds: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)


@dataclass(frozen=True)
class _Reading:
    """One SLO's selectors, compiled."""

    slo: SLO
    total: Selector
    other: Selector
    other_is_good: bool
    threshold: float | None = None  # latency: the bucket bound


def _readings(slo: SLO) -> _Reading:
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        base = parse_selector(sli.histogram)
        if base.name is None:
            raise SourceError(f"SLO {slo.name}: histogram needs a metric name")
        return _Reading(
            slo,
            base.with_name(base.name + "_count"),
            base.with_name(base.name + "_bucket"),
            True,
            sli.threshold,
        )
    other = sli.bad if sli.bad is not None else sli.good
    if other is None:
        raise SourceError(f"SLO {slo.name}: needs a bad or good selector")
    return _Reading(
        slo, parse_selector(sli.total), parse_selector(other), sli.bad is None
    )


class ScrapeSource:
    """Scrapes ``targets`` each tick and turns their counters into SLO increments.

    ``targets`` are URLs or :class:`Target`. ``timeout`` bounds each scrape (seconds);
    ``interval`` is the tick interval the daemon schedules, reported with the health.
    """

    def __init__(
        self,
        slos: Sequence[SLO],
        targets: Sequence[str | Target],
        *,
        resolution: int = 60,
        interval: float = 60.0,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.readings = [_readings(slo) for slo in slos]
        self.resolution = resolution
        self.interval = interval
        self.timeout = timeout
        self.session = session or requests.Session()
        self.clock = clock
        self._targets = [
            _TargetState(t if isinstance(t, Target) else Target(t)) for t in targets
        ]
        self._misfits = MisfitLog(log)

    # -- the tick -------------------------------------------------------------------

    def tick(self, now: float) -> TickReport:
        """Scrape every target once and return one bucket of increments ending ``now``.

        ``now`` is aligned down to the resolution; the increments cover
        ``[now - interval, now)`` (several buckets when the interval is longer).
        """
        now = math.floor(now / self.resolution) * self.resolution
        report = TickReport(now)
        # Keyed by (target index, series): two targets may expose the same series.
        deltas: dict[tuple[int, SeriesKey], tuple[float, Quality]] = {}
        # Targets whose increases are not known this tick, with the reason: down,
        # or answering for the first time since start or a failure (a baseline).
        unknown_targets: dict[int, str] = {}
        current: dict[tuple[int, SeriesKey], float] = {}
        for index, state in enumerate(self._targets):
            values = self._scrape(state, now, report)
            if values is None:
                error = state.health.last_error if state.health else None
                unknown_targets[index] = f"target {state.target.url} down: {error}"
                continue
            if state.values is None or state.scraped_at is None:
                unknown_targets[index] = (
                    f"target {state.target.url}: first scrape since start or a"
                    " failure (baseline)"
                )
            else:
                deltas.update(
                    ((index, k), d) for k, d in self._deltas(state, values).items()
                )
            current.update(((index, k), v) for k, v in values.items())
            state.values = values
            state.scraped_at = now
        start = now - max(self.interval, self.resolution)
        for reading in self.readings:
            increments = self._increments(
                reading, start, now, current, deltas, unknown_targets
            )
            self._check_misfit(reading, increments, current)
            report.increments.extend(increments)
        report.targets = [s.health for s in self._targets if s.health is not None]
        return report

    def _scrape(
        self, state: _TargetState, now: float, report: TickReport
    ) -> dict[SeriesKey, float] | None:
        url = state.target.url
        began = self.clock()
        report.requests += 1
        try:
            response = self.session.get(
                url, headers={"Accept": ACCEPT}, timeout=self.timeout
            )
            response.raise_for_status()
            values, created = _parse(response, _target_labels(state.target))
        except (requests.RequestException, ValueError) as exc:
            elapsed = self.clock() - began
            error = _describe(exc)
            report.failures += 1
            report.latency += elapsed
            report.errors.append(f"{url}: {error}")
            log.warning("scrape of %s failed after %.3fs: %s", url, elapsed, error)
            state.health = TargetHealth(url, False, now, elapsed, error)
            state.values = None  # the next success is a baseline
            return None
        elapsed = self.clock() - began
        report.latency += elapsed
        report.samples += len(values)
        state.health = TargetHealth(url, True, now, elapsed, None, len(values))
        log.debug("scraped %s: %d series in %.3fs", url, len(values), elapsed)
        state.previous_created, state.created = state.created, created
        return values

    def _deltas(
        self, state: _TargetState, values: dict[SeriesKey, float]
    ) -> dict[SeriesKey, tuple[float, Quality]]:
        assert state.values is not None and state.scraped_at is not None
        previous_created = state.previous_created
        out: dict[SeriesKey, tuple[float, Quality]] = {}
        for key, value in values.items():
            if not math.isfinite(value):
                out[key] = (value, Quality.NAN)
                continue
            before = state.values.get(key)
            created = state.created.get(_created_key(key))
            if before is not None and not math.isfinite(before):
                # No number to count from: the increase is unknown, not the value.
                out[key] = (0.0, Quality.LOWER_BOUND)
                continue
            if before is None:
                if created is not None and created <= state.scraped_at:
                    out[key] = (0.0, Quality.LOWER_BOUND)  # hidden, not new
                else:
                    out[key] = (value, Quality.NONE)  # born since the last scrape
                continue
            was = previous_created.get(_created_key(key))
            if created is not None and was is not None and created > was:
                out[key] = (value, Quality.NONE)  # restarted, maybe to a higher value
            else:
                out[key] = (counter_delta(before, value), Quality.NONE)
        return out

    # -- from series to SLO instances -----------------------------------------------

    def _increments(
        self,
        reading: _Reading,
        start: float,
        end: float,
        current: dict[tuple[int, SeriesKey], float],
        deltas: dict[tuple[int, SeriesKey], tuple[float, Quality]],
        unknown_targets: dict[int, str],
    ) -> list[Increment]:
        slo = reading.slo
        groups: dict[tuple[str, ...], GroupSums] = {}
        labels_of: dict[tuple[str, ...], dict[str, str]] = {}
        # Per instance: why a target feeding it is not counted, and whether a target
        # that answered gave it a total series.
        missing: dict[tuple[str, ...], str] = {}
        answered: set[tuple[str, ...]] = set()
        for key in current:
            index = key[0]
            name, pairs = key[1]
            labels = dict(pairs)
            is_total = reading.total.matches(name, labels)
            is_other = reading.other.matches(name, labels) and (
                reading.threshold is None
                or le_matches(labels.get("le", ""), reading.threshold)
            )
            if not (is_total or is_other):
                continue
            gk = group_key(labels, slo.group_by)
            labels_of.setdefault(gk, dict(zip(slo.group_by, gk, strict=True)))
            sums = groups.setdefault(gk, GroupSums())
            if key not in deltas:  # the target's baseline: its increase is unknown
                missing.setdefault(gk, unknown_targets.get(index, "baseline scrape"))
                continue
            delta, quality = deltas[key]
            sums.quality |= quality
            if not math.isfinite(delta):
                sums.unknown = (
                    f"NaN sample in {name}"
                    if math.isnan(delta)
                    else f"non-finite increase in {name}"
                )
                continue
            if is_total:
                sums.total += delta
                sums.total_series += 1
                answered.add(gk)
            if is_other:
                sums.other += delta
                sums.other_series += 1

        # Instances fed by a target that is down: what it fed at its last success,
        # or, when it never answered, any instance.
        anywhere: str | None = None
        for index, reason in unknown_targets.items():
            state = self._targets[index]
            if state.health is not None and state.health.up:
                continue  # a baseline, handled by its series above
            if state.scraped_at is None:
                anywhere = anywhere or reason
                continue
            for slo_name, gk in state.feeds:
                if slo_name == slo.name:
                    labels_of.setdefault(gk, dict(zip(slo.group_by, gk, strict=True)))
                    groups.setdefault(gk, GroupSums())
                    missing.setdefault(gk, reason)
        if not groups and not slo.group_by:
            labels_of[()] = {}
            groups[()] = GroupSums()
        for gk, sums in groups.items():
            not_counted = missing.get(gk, anywhere)
            if not_counted is not None:
                if gk in answered:
                    sums.quality |= Quality.PARTIAL
                elif not sums.unknown:
                    sums.unknown = not_counted
            if not sums.unknown and not (
                math.isfinite(sums.total) and math.isfinite(sums.other)
            ):
                sums.unknown = f"non-finite sum of the series of {slo.name}"
                sums.quality |= Quality.NAN

        self._remember_feeds(reading)
        out = []
        for gk, sums in groups.items():
            labels = labels_of[gk]
            out.append(
                to_increment(
                    slo.name,
                    instance_id(slo.name, labels),
                    labels,
                    start,
                    end,
                    sums,
                    other_is_good=reading.other_is_good,
                )
            )
        return out

    def _check_misfit(
        self,
        reading: _Reading,
        increments: list[Increment],
        current: dict[tuple[int, SeriesKey], float],
    ) -> None:
        """Log once when the SLI has traffic but its good series are missing."""
        missing = self._misfits.missing(increments)
        name = reading.slo.name
        if missing is False:
            self._misfits.clear(name)
        if not missing:
            return
        found = None
        if reading.threshold is not None:
            found = [
                dict(pairs).get("le", "")
                for _, (series, pairs) in current
                if reading.other.matches(series, dict(pairs))
            ]
        self._misfits.report(name, missing_good_message(reading.slo, found))

    def _remember_feeds(self, reading: _Reading) -> None:
        slo = reading.slo
        for state in self._targets:
            if state.values is None or not (state.health and state.health.up):
                continue  # down: keep what it fed before
            feeds = {f for f in state.feeds if f[0] != slo.name}
            for name, pairs in state.values:
                if reading.total.matches(name, dict(pairs)):
                    feeds.add((slo.name, group_key(dict(pairs), slo.group_by)))
            state.feeds = feeds

    def adopt(self, other: ScrapeSource) -> None:
        """Take over ``other``'s last values of the targets both scrape.

        A reload that changes only the SLOs keeps counting from the last scrape
        instead of starting each target again from a baseline (a lost interval).
        """
        for i, state in enumerate(self._targets):
            for old in other._targets:
                if old.target == state.target:
                    self._targets[i] = old

    def health(self) -> list[TargetHealth]:
        """The health of every target after the last tick."""
        return [
            s.health or TargetHealth(s.target.url, False, last_error="not scraped yet")
            for s in self._targets
        ]

    def close(self) -> None:
        self.session.close()


def _target_labels(target: Target) -> dict[str, str]:
    labels = {"instance": urlsplit(target.url).netloc}
    labels.update(target.labels)
    return labels


def _parse(
    response: requests.Response, extra: Mapping[str, str]
) -> tuple[dict[SeriesKey, float], dict[SeriesKey, float]]:
    """Samples by series, and ``_created`` times by series (without ``le``)."""
    content_type = response.headers.get("Content-Type", "")
    text = response.text
    if content_type.startswith("application/openmetrics-text"):
        families = parse_openmetrics(text)
    else:
        families = parse_text(text)
    values: dict[SeriesKey, float] = {}
    created: dict[SeriesKey, float] = {}
    for family in families:
        for sample in family.samples:
            labels = {**sample.labels, **extra}
            if sample.name.endswith("_created"):
                base = sample.name[: -len("_created")]
                labels.pop("le", None)
                created[(base, tuple(sorted(labels.items())))] = sample.value
                continue
            values[(sample.name, tuple(sorted(labels.items())))] = float(sample.value)
    return values, created


def _created_key(key: SeriesKey) -> SeriesKey:
    name, pairs = key
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name, tuple(p for p in pairs if p[0] != "le")


def _describe(exc: Exception) -> str:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or reset"
    return f"{type(exc).__name__}: {exc}"
