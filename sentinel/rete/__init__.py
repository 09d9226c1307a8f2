"""Sentinel's production system: a Rete network with truth maintenance.

Knows nothing of SLOs. Python face::

    from sentinel.rete import Engine, Pattern, Test, Not, V, rule

    @rule(Pattern("sli", slo=V("slo"), ratio=V("r")), Test("$r > 0.01"))
    def hot(ctx, slo, r):
        ctx.derive("hot", slo=slo)

    engine = Engine([hot])
    engine.assert_fact("sli", slo="api", ratio=0.02)
    engine.run()

YAML face: :func:`load_rules` / :func:`load_rules_text` give a :class:`RuleSet`
to pass to :class:`Engine`.
"""

from .agenda import Activation
from .dsl import MetricSpec, RuleSet, load_rules, load_rules_text
from .errors import (
    PatternError,
    ReteError,
    RuleError,
    RuleSyntaxError,
    RunLimitError,
    UnboundVariableError,
    UnknownFunctionError,
    UnknownKeyError,
    VersionError,
)
from .explain import Explanation, Support
from .expr import Expression, parse
from .facts import Fact, FrozenMap
from .network import Context, Engine, EngineStats, alert_fact
from .rules import Exists, Expr, Not, Pattern, Rule, Test, V, rule

__all__ = [
    "Activation",
    "Context",
    "Engine",
    "EngineStats",
    "Exists",
    "Explanation",
    "Expr",
    "Expression",
    "Fact",
    "FrozenMap",
    "MetricSpec",
    "Not",
    "Pattern",
    "PatternError",
    "ReteError",
    "Rule",
    "RuleError",
    "RuleSet",
    "RuleSyntaxError",
    "RunLimitError",
    "Support",
    "Test",
    "UnboundVariableError",
    "UnknownFunctionError",
    "UnknownKeyError",
    "V",
    "VersionError",
    "alert_fact",
    "load_rules",
    "load_rules_text",
    "parse",
    "rule",
]
