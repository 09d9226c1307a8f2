"""One evaluation: windows from the history become facts, rules run, alerts come out.

This is the one place where SLO data becomes facts (the contract is in
``rules/README.md``). Each tick, at a pinned time ``now``:

1. *windows*: every window of every SLO instance, by prefix sums over the history;
2. *facts*: ``slo`` and ``tier`` facts are asserted once per instance; ``sli`` facts
   are modified in place, and only when their numbers changed, so the network
   re-derives what depends on them and nothing else;
3. *rules*: the engine runs its agenda to quiescence;
4. *alerts*: ``alert`` facts become :class:`~sentinel.alerts.AlertCandidate` objects
   with their runbook link, timing and explanation; ``hold`` facts name the alerts
   whose data is missing, which the lifecycle keeps as they are.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentinel.alerts import AlertCandidate
from sentinel.config import Maintenance
from sentinel.history import History, WindowCounts
from sentinel.metrics import ExportedMetric, Sample
from sentinel.model import SLO, Quality, format_duration, slo_fact, tier_facts
from sentinel.rete import Engine, Fact
from sentinel.rete.dsl import MetricSpec

log = logging.getLogger(__name__)

_GROUP_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Instance:
    """One SLO instance: an SLO and the values of its ``group_by`` labels."""

    id: str
    slo: SLO
    group: dict[str, str]
    static: list[Fact] = field(default_factory=list)
    sli: dict[str, Fact] = field(default_factory=dict)
    windows: dict[str, WindowCounts] = field(default_factory=dict)


def parse_group(instance: str, slo_name: str) -> dict[str, str]:
    """The ``group_by`` label values encoded in an instance id (its inverse)."""
    inner = instance[len(slo_name) + 1 : -1]
    return {k: _UNESCAPE_RE.sub(_unescape, v) for k, v in _GROUP_RE.findall(inner)}


_UNESCAPE_RE = re.compile(r"\\(.)", re.S)


def _unescape(m: re.Match[str]) -> str:
    return "\n" if m.group(1) == "n" else m.group(1)


def sli_attributes(slo_id: str, seconds: float, w: WindowCounts) -> dict[str, Any]:
    """The ``sli`` fact of one window (state and quality as in rules/README.md)."""
    quality = "ok"
    if w.quality & Quality.BAD_WITHOUT_TOTAL:
        quality = "missing_total"
    elif w.quality & Quality.MISSING_GOOD:
        quality = "missing_good"
    elif w.quality & Quality.CLAMPED:
        quality = "clamped"
    elif w.quality & Quality.PARTIAL:
        quality = "partial"
    if w.known_buckets == 0:
        state = "unknown"
    elif quality in ("missing_total", "missing_good"):
        state = "incomplete"
    elif w.total <= 0:
        state = "no_data"
    else:
        state = "ok"
    return {
        "slo": slo_id,
        "window": format_duration(seconds),
        "seconds": seconds,
        "bad": min(max(w.bad, 0.0), max(w.total, 0.0)),
        "total": max(w.total, 0.0),
        "coverage": round(w.coverage, 6),
        "state": state,
        "quality": quality,
        # C08: a series of unknown age was not counted from zero; bad may be low.
        "lower_bound": bool(w.quality & Quality.LOWER_BOUND),
    }


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.4g}"


def describe(name: str, annotations: Mapping[str, Any]) -> str:
    """A one-line account of the numbers an alert carries, for humans."""
    parts = [
        f"{key.replace('_', ' ')} {_number(value)}"
        for key, value in annotations.items()
        if key not in ("summary", "description")
    ]
    return f"{name}: " + ", ".join(parts) if parts else name


class _Why:
    """An alert fact's explanation, rendered only when the alert book asks for it."""

    __slots__ = ("engine", "fact")

    def __init__(self, engine: Engine, fact: Fact) -> None:
        self.engine = engine
        self.fact = fact

    def text(self) -> str:
        return self.engine.explain(self.fact).text()


class _Keep(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill_templates(
    annotations: Mapping[str, str], labels: Mapping[str, str]
) -> dict[str, str]:
    """Fill ``{name}`` in annotation texts from the labels and other annotations.

    A name that is neither stays as written; a malformed template is left as is.
    """
    values = _Keep({**labels, **annotations})
    out = {}
    for key, text in annotations.items():
        try:
            out[key] = text.format_map(values) if "{" in text else text
        except (ValueError, IndexError, AttributeError):
            out[key] = text
    return out


class Evaluator:
    """Keeps the network's facts in step with the history and collects alerts."""

    def __init__(
        self,
        slos: Sequence[SLO],
        history: History,
        engine: Engine,
        *,
        metrics: Sequence[MetricSpec] = (),
        runbook_url: Any = None,
        maintenance: Sequence[Maintenance] = (),
    ) -> None:
        self.slos = {s.name: s for s in slos}
        self.history = history
        self.engine = engine
        self.metric_specs = list(metrics)
        self.runbook_url = runbook_url or (lambda name: name)
        self.instances: dict[str, Instance] = {}
        self.maintenance = list(maintenance)
        self._maintenance: dict[tuple[str, float, str], Fact] = {}
        self._exported: list[ExportedMetric] | None = None
        self.candidates: list[AlertCandidate] = []
        self.held: list[AlertCandidate] = []
        self.now: float | None = None

    # -- instances -------------------------------------------------------------------

    def _discover(self) -> None:
        """Every instance the config and the history know of; facts for new ones."""
        known = self.history.instances()
        for slo in self.slos.values():
            if not slo.group_by:
                self._ensure(slo.name, slo, {})
                continue
            prefix = slo.name + "{"
            for instance in known:
                if instance.startswith(prefix):
                    self._ensure(instance, slo, parse_group(instance, slo.name))

    def _ensure(self, instance: str, slo: SLO, group: dict[str, str]) -> None:
        if instance in self.instances:
            return
        inst = Instance(instance, slo, group)
        inst.static.append(self.engine.assert_fact("slo", **slo_fact(slo, group)))
        for tier in tier_facts(slo, group):
            inst.static.append(self.engine.assert_fact("tier", **tier))
        self.instances[instance] = inst
        log.debug("evaluator: new SLO instance %s", instance)

    def forget(self) -> None:
        """Retract every fact this evaluator asserted (before a reload)."""
        for inst in self.instances.values():
            for f in (*inst.static, *inst.sli.values()):
                self.engine.retract(f)
        self.instances.clear()

    # -- one tick --------------------------------------------------------------------

    def update_facts(self, now: float) -> int:
        """Bring every ``sli`` fact up to ``now``; returns how many changed."""
        self._discover()
        changed = 0
        for inst in self.instances.values():
            spans = inst.slo.windows()
            counts = self.history.windows(inst.id, now, spans)
            for seconds in spans:
                attrs = sli_attributes(inst.id, seconds, counts[seconds])
                name = attrs["window"]
                inst.windows[name] = counts[seconds]
                old = inst.sli.get(name)
                if old is None:
                    inst.sli[name] = self.engine.assert_fact("sli", **attrs)
                    changed += 1
                elif any(old[k] != v for k, v in attrs.items()):
                    inst.sli[name] = self.engine.modify(old, **attrs)
                    changed += 1
        return changed

    def update_maintenance(self, now: float) -> None:
        """Assert the maintenance windows open at ``now``; retract ended ones."""
        due = {
            (m.slo, m.until, m.reason): m
            for m in self.maintenance
            if m.starts <= now < m.until
        }
        for key in list(self._maintenance):
            if key not in due:
                self.engine.retract(self._maintenance.pop(key))
        for key, m in due.items():
            if key not in self._maintenance:
                self._maintenance[key] = self.engine.assert_fact(
                    "maintenance", slo=m.slo, until=m.until, reason=m.reason
                )

    def evaluate(self, now: float) -> list[AlertCandidate]:
        """Update facts, run the rules and return this tick's alert candidates."""
        self.now = now
        self.update_maintenance(now)
        changed = self.update_facts(now)
        fired = self.engine.run()
        log.debug("evaluator: %d sli facts changed, %d rules fired", changed, fired)
        self.candidates = [self._candidate(f) for f in self.engine.facts("alert")]
        self.held = [self._held(f) for f in self.engine.facts("hold")]
        self._exported = None  # built on the next scrape, see exported()
        return [*self.candidates, *self.held]

    # -- alerts ----------------------------------------------------------------------

    def _slo_of(self, labels: Mapping[str, Any]) -> SLO | None:
        inst = self.instances.get(str(labels.get("slo", "")))
        return inst.slo if inst else None

    def _candidate(self, fact: Fact) -> AlertCandidate:
        labels = {k: str(v) for k, v in dict(fact["labels"]).items()}
        raw = dict(fact.get("annotations") or {})
        annotations = fill_templates({k: _number(v) for k, v in raw.items()}, labels)
        annotations.setdefault("description", describe(fact["name"], raw))
        slo = self._slo_of(labels)
        runbook = fact.get("runbook") or (slo.runbook if slo else None)
        if slo is not None and slo.runbook:
            runbook = slo.runbook
        return AlertCandidate(
            name=str(fact["name"]),
            labels=labels,
            severity=str(fact.get("severity") or labels.get("severity", "")),
            annotations=annotations,
            runbook_url=self.runbook_url(runbook) if runbook else None,
            for_s=slo.pending_for if slo else 0.0,
            keep_firing_for_s=slo.keep_firing_for if slo else 0.0,
            explanation=_Why(self.engine, fact),
        )

    def _held(self, fact: Fact) -> AlertCandidate:
        labels = {k: str(v) for k, v in dict(fact["labels"]).items()}
        return AlertCandidate(
            name=str(fact["name"]),
            labels=labels,
            severity=labels.get("severity", ""),
            held=True,
        )

    # -- views -----------------------------------------------------------------------

    def exported(self) -> list[ExportedMetric]:
        """The rule packs' metrics from the last evaluation, built once per tick.

        The caller keeps evaluations out while this runs (the daemon's lock).
        """
        if self._exported is None:
            self._exported = self._export()
        return self._exported

    def _export(self) -> list[ExportedMetric]:
        out = []
        facts: dict[str, list[Fact]] = {}
        for spec in self.metric_specs:
            metric = ExportedMetric(spec.name, spec.help, spec.labels)
            if spec.fact not in facts:
                facts[spec.fact] = self.engine.facts(spec.fact)
            for f in facts[spec.fact]:
                value = f.get(spec.value)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                labels = {name: str(f.get(name, "")) for name in spec.labels}
                metric.samples.append(Sample(labels, float(value)))
            out.append(metric)
        return out

    def slo_views(self) -> list[dict[str, Any]]:
        """Each instance with its windows, burn rates and budget, for the API."""
        burns: dict[tuple[str, str], Fact] = {
            (f["slo"], f["window"]): f for f in self.engine.facts("burn")
        }
        budgets = {f["slo"]: f for f in self.engine.facts("budget")}
        views = []
        for inst in self.instances.values():
            windows = {}
            for name, f in inst.sli.items():
                burn = burns.get((inst.id, name))
                windows[name] = {
                    "bad": f["bad"],
                    "total": f["total"],
                    "coverage": f["coverage"],
                    "state": f["state"],
                    "quality": f["quality"],
                    "lower_bound": f["lower_bound"],
                    "error_ratio": burn["ratio"] if burn else None,
                    "burn_rate": burn["rate"] if burn else None,
                }
            budget = budgets.get(inst.id)
            views.append(
                {
                    "id": inst.id,
                    "name": inst.slo.name,
                    "service": inst.slo.service,
                    "group": inst.group,
                    "objective": inst.slo.objective,
                    "period": format_duration(inst.slo.period),
                    "windows": windows,
                    "budget": budget.as_dict() if budget else None,
                    "evaluated_at": self.now,
                }
            )
        return views
