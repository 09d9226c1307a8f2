"""Feed the shipped rule packs the evaluator's facts, and read what they derive.

:class:`World` holds one SLO instance in an engine loaded with the rule files;
:class:`Series` is a synthetic per-minute history from which window counts are taken
the way the history does it (sums over whole minutes), to simulate ticks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any

from sentinel.model import SLO, format_duration, slo_fact, tier_facts
from sentinel.rete import Engine, Fact, load_rules

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p for p in (ROOT / "rules").glob("*.yaml") if p.name != "tiers.yaml")
MAINTENANCE = ROOT / "rules" / "optional" / "maintenance.yaml"


KNOWN_TYPES = ("slo", "tier", "sli", "maintenance", "silenced")


def engine(files: Iterable[Path] = SHIPPED) -> Engine:
    return Engine(load_rules(list(files), known_types=KNOWN_TYPES))


class World:
    """One SLO instance: its ``slo`` and ``tier`` facts, and an ``sli`` per window."""

    def __init__(self, slo: SLO, files: Iterable[Path] = SHIPPED) -> None:
        self.slo = slo
        self.engine = engine(files)
        self.id = slo.name
        self.engine.assert_fact("slo", slo_fact(slo))
        for attrs in tier_facts(slo):
            self.engine.assert_fact("tier", attrs)
        self.sli: dict[str, Fact] = {}
        for seconds in slo.windows():
            self.set(format_duration(seconds), 0, 0, coverage=0.0)

    def set(
        self,
        window: str,
        bad: float,
        total: float,
        coverage: float = 1.0,
        state: str | None = None,
        quality: str = "ok",
    ) -> None:
        """Assert or modify the ``sli`` fact of ``window``, then run the rules."""
        attrs: dict[str, Any] = {
            "slo": self.id,
            "window": window,
            "seconds": _seconds(window),
            "bad": bad,
            "total": total,
            "coverage": coverage,
            "state": state or ("ok" if total > 0 else "no_data"),
            "quality": quality,
        }
        old = self.sli.get(window)
        if old is None:
            self.sli[window] = self.engine.assert_fact("sli", attrs)
        else:
            self.sli[window] = self.engine.modify(old, **attrs)
        self.engine.run()

    def facts(self, type: str, **match: Any) -> list[Fact]:
        return [
            f
            for f in self.engine.facts(type)
            if all(f.get(k) == v for k, v in match.items())
        ]

    def one(self, type: str, **match: Any) -> Fact:
        found = self.facts(type, **match)
        assert len(found) == 1, (type, match, found)
        return found[0]

    def alerts(self, name: str | None = None) -> list[Fact]:
        return [a for a in self.facts("alert") if name is None or a["name"] == name]

    def firing_tiers(self) -> list[str]:
        return sorted(a["labels"]["tier"] for a in self.alerts("SLOBurnRateHigh"))


def _seconds(window: str) -> float:
    from sentinel.model import parse_duration

    return parse_duration(window)


class Series:
    """Per-minute (bad, total) events; minute ``m`` covers ``(60 m, 60 (m + 1)]``.

    Minutes before ``start`` hold no data at all, which is how a window longer than
    the history reads (coverage under 1).
    """

    def __init__(self, bad: Sequence[float], total: Sequence[float], start: int = 0):
        self.start = start
        self._bad = [0.0, *accumulate(bad)]
        self._total = [0.0, *accumulate(total)]

    def window(self, end: int, minutes: int) -> tuple[float, float, float]:
        """(bad, total, coverage) of the ``minutes`` ending with minute ``end``."""
        hi = end - self.start
        lo = max(hi - minutes, 0)
        hi = max(min(hi, len(self._bad) - 1), 0)
        covered = max(hi - lo, 0)
        bad = self._bad[hi] - self._bad[lo]
        total = self._total[hi] - self._total[lo]
        return bad, total, covered / minutes

    def tick(self, world: World, end: int) -> None:
        """Set every window of ``world`` as the evaluator would at minute ``end``."""
        for seconds in world.slo.windows():
            bad, total, coverage = self.window(end, int(seconds // 60))
            world.set(format_duration(seconds), bad, total, coverage)
