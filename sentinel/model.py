"""Sentinel's domain model: durations, SLOs, SLI kinds, alerting tiers and windows.

Plain data with no I/O. The on-disk configuration (``config.py``) is parsed, mapped onto
these classes and validated; everything downstream (sources, history, evaluator, rules)
speaks in these terms.

Vocabulary, after the Google SRE Workbook:

- *objective* ``o``: the fraction of events that must be good, e.g. ``0.999``.
- *error budget* ``b = 1 - o``: the fraction that may be bad over the *period*.
- *burn rate* over a window: ``(bad / total) / b``. A burn rate of 1 spends the budget
  exactly over the period.
- *tier*: a pair of windows (long, short) and a burn-rate *factor*; it alerts when both
  windows burn faster than the factor. The factor is derived from the fraction of the
  budget the tier allows to be consumed over its long window:
  ``factor = fraction * period / long``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

_DURATION_RE = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float) -> float:
    """Parse a Prometheus-style duration (``90s``, ``5m``, ``1h30m``, ``30d``, ``4w``).

    Numbers are taken as seconds. Raises ``ValueError`` with the bad text.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"negative duration: {text!r}")
        return float(text)
    s = str(text).strip()
    pos = 0
    total = 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(
            f"not a duration: {text!r} (expected e.g. 30s, 5m, 1h, 30d, 4w)"
        )
    return total


def format_duration(seconds: float) -> str:
    """Render seconds as a Prometheus-style duration in days at most: 3600 -> ``1h``."""
    if seconds <= 0:
        return "0s"
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    rest = int(seconds)
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = int(_UNIT_SECONDS[unit])
        if rest >= size:
            n, rest = divmod(rest, size)
            parts.append(f"{n}{unit}")
    return "".join(parts)


@dataclass(frozen=True)
class TierSpec:
    """One multiwindow, multi-burn-rate alerting tier, period-independent.

    ``fraction`` is the share of the error budget that may be consumed over ``long``
    before the tier alerts.
    """

    name: str
    fraction: float
    long: float
    short: float
    severity: str
    min_events: int | None = None  # overrides the SLO's guard for this tier

    def factor(self, period: float) -> float:
        """Burn-rate threshold for an SLO whose rolling period is ``period`` seconds."""
        return self.fraction * period / self.long

    def reachable(self, objective: float, period: float) -> bool:
        """Whether any burn rate at ``objective`` can exceed this tier's factor.

        Comparisons are strict and the highest burn rate is ``1 / (1 - objective)``,
        so the tier can fire only when ``objective > 1 - 1 / factor``.
        """
        return max_burn_rate(objective) > self.factor(period)


# The tier table of the Google SRE Workbook, "Alerting on SLOs", section 6
# ("Multiwindow, Multi-Burn-Rate Alerts"), table 5-8: for a 30-day period these give
# the factors 14.4, 6, 3 and 1. The short window is 1/12 of the long one.
DEFAULT_TIERS: tuple[TierSpec, ...] = (
    TierSpec("page-1h", 0.02, 3600, 300, "page"),
    TierSpec("page-6h", 0.05, 6 * 3600, 1800, "page"),
    TierSpec("ticket-1d", 0.10, 86400, 2 * 3600, "ticket"),
    TierSpec("ticket-3d", 0.10, 3 * 86400, 6 * 3600, "ticket"),
)


@dataclass(frozen=True)
class RatioSLI:
    """Events counted by counters: ``bad`` (or ``good``) events over ``total`` events.

    Selectors are PromQL series selectors (``metric{label="v"}``). Exactly one of
    ``good`` and ``bad`` is set.
    """

    total: str
    good: str | None = None
    bad: str | None = None
    kind: Literal["ratio"] = "ratio"


@dataclass(frozen=True)
class LatencySLI:
    """Events counted by a histogram: good are those at or under ``threshold`` seconds.

    ``histogram`` is the base metric name (without ``_bucket``/``_count``) with an
    optional label matcher set, e.g. ``http_request_duration_seconds{job="api"}``.
    ``threshold`` must equal one of the histogram's bucket bounds, compared as numbers.
    """

    histogram: str
    threshold: float
    buckets: tuple[float, ...] = ()  # the histogram's known bounds, when configured
    kind: Literal["latency"] = "latency"


SLI = RatioSLI | LatencySLI


@dataclass(frozen=True)
class SLO:
    """A service level objective as configured."""

    name: str
    service: str
    objective: float  # fraction, e.g. 0.999
    sli: SLI
    period: float = 30 * 86400.0
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    tiers: tuple[TierSpec, ...] = DEFAULT_TIERS
    min_events: int = 20  # bad events a tier's long window must hold to alert
    runbook: str | None = None
    source: str | None = None
    pending_for: float = 0.0  # the alerts' ``for``
    keep_firing_for: float = 0.0
    alerting_disabled: bool = False

    @property
    def budget(self) -> float:
        """``1 - objective``, rounded: 99.9% gives 0.001, not 0.0010000000000000009."""
        return round(1.0 - self.objective, 12)

    @property
    def trend_window(self) -> float:
        """The window whose burn rate projects the budget's time to exhaustion.

        The long window of the fastest tier (1h by default): long enough to smooth a
        single bad minute, short enough to say how fast the budget burns *now*.
        """
        if not self.tiers:
            return min(3600.0, self.period)
        return min(t.long for t in self.tiers)

    def tier_min_events(self, tier: TierSpec) -> int:
        """The minimum-events guard of ``tier``: its own, else the SLO's."""
        return self.min_events if tier.min_events is None else tier.min_events

    def windows(self) -> tuple[float, ...]:
        """Every window the tiers and the budget need, shortest first."""
        return alert_windows(self.tiers, self.period)


def alert_windows(tiers: Iterable[TierSpec], period: float) -> tuple[float, ...]:
    """The distinct windows of ``tiers`` plus the period, sorted."""
    spans = {period}
    for t in tiers:
        spans.add(t.long)
        spans.add(t.short)
    return tuple(sorted(spans))


def max_burn_rate(objective: float) -> float:
    """The highest burn rate an SLO can show: every event bad."""
    return 1.0 / (1.0 - objective)


def instance_id(slo_name: str, group: Mapping[str, str]) -> str:
    """Identity of one SLO instance: ``checkout`` or ``checkout{region="eu"}``."""
    if not group:
        return slo_name
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(group.items()))
    return f"{slo_name}{{{inner}}}"


def _escape(value: str) -> str:
    """Label value escaping as in the Prometheus text format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Quality(enum.IntFlag):
    """Data-quality marks a source or the history attaches to a bucket of increments.

    A mark never changes what a count means; it says how far the count can be trusted,
    so that rules can raise a data alert instead of a burn-rate page.
    """

    NONE = 0
    #: good > total for the same read: clamped to bad 0 (case C12).
    CLAMPED = 1
    #: bad events were seen with no total series next to them (case C12).
    BAD_WITHOUT_TOTAL = 2
    #: a series of unknown age appeared; its first value was not counted (case C08).
    LOWER_BOUND = 4
    #: one increment spanning several buckets was spread evenly over them.
    INTERPOLATED = 8
    #: the read came back with warnings (e.g. a partial response from a federation).
    WARNINGS = 16
    #: a sample was NaN; the increments it touched are unknown.
    NAN = 32
    #: a good-based SLI had traffic but no good series at all (e.g. a latency
    #: threshold that is no bucket bound): bad events cannot be known (C11, C12).
    MISSING_GOOD = 64
    #: counted from part of the series only (a scrape target down): a sample of the
    #: traffic, good enough for a ratio, not a full count.
    PARTIAL = 128


# Fact types the rules may read without any rule making them: the evaluator asserts
# slo, tier and sli; users or policies assert maintenance and silenced.
HOST_FACT_TYPES: tuple[str, ...] = ("slo", "tier", "sli", "maintenance", "silenced")


def slo_fact(slo: SLO, group: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Attributes of the ``slo`` fact of one SLO instance (see rules/README.md)."""
    return {
        "id": instance_id(slo.name, group or {}),
        "name": slo.name,
        "service": slo.service,
        "objective": slo.objective,
        "budget": slo.budget,
        "period": slo.period,
        "period_window": format_duration(slo.period),
        "trend_window": format_duration(slo.trend_window),
        "min_events": slo.min_events,
    }


def tier_facts(
    slo: SLO, group: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Attributes of the ``tier`` facts of one SLO instance, one per tier.

    None when the SLO's alerting is disabled: the shipped rules alert only on SLOs
    that have tiers, and still derive burn rates and the budget for the metrics.
    """
    if slo.alerting_disabled:
        return []
    slo_id = instance_id(slo.name, group or {})
    return [
        {
            "slo": slo_id,
            "name": t.name,
            "long": format_duration(t.long),
            "short": format_duration(t.short),
            "long_s": t.long,
            "short_s": t.short,
            "factor": t.factor(slo.period),
            "fraction": t.fraction,
            "severity": t.severity,
            "min_events": slo.tier_min_events(t),
        }
        for t in slo.tiers
    ]
