"""Feed a history to the evaluator loaded with the shipped rule packs."""

from __future__ import annotations

from collections.abc import Sequence

from sentinel.config import shipped_rule_files
from sentinel.daemon import load_rule_files
from sentinel.evaluator import Evaluator
from sentinel.history import History
from sentinel.model import SLO
from sentinel.rete import Engine, Fact


def alerts(slos: Sequence[SLO], history: History, now: float) -> list[Fact]:
    """The ``alert`` facts the shipped rules derive from ``history`` at ``now``."""
    rules, _ = load_rule_files(shipped_rule_files())
    engine = Engine(rules)
    Evaluator(slos, history, engine).evaluate(now)
    return list(engine.facts("alert"))


def named(found: Sequence[Fact], name: str) -> list[dict[str, str]]:
    """The labels of the alerts called ``name``."""
    return [dict(a["labels"]) for a in found if a["name"] == name]
