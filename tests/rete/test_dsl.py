"""The YAML rule language: every construct, and the exact text of each error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sentinel.rete import (
    Engine,
    Fact,
    FrozenMap,
    MetricSpec,
    PatternError,
    RuleError,
    RuleSyntaxError,
    UnboundVariableError,
    UnknownFunctionError,
    UnknownKeyError,
    VersionError,
    load_rules,
    load_rules_text,
)

DESIGN_EXAMPLE = """\
version: sentinel/rules/v1
metrics:
  - {name: sentinel_slo_burn_rate, help: Burn rate, fact: burn, value: rate,
     labels: [slo, window]}
rules:
  - name: burn-rate
    when:
      - slo: {name: $slo, objective: $objective}
      - sli: {slo: $slo, window: $window, bad: $bad, total: $total}
      - test: $total > 0
    then:
      - derive:
          burn: {slo: $slo, window: $window, rate: $bad / $total / (1 - $objective)}
  - name: fast-burn-page
    salience: 10
    description: Both windows burn faster than the tier allows.
    when:
      - tier: {name: $tier, long: $long, short: $short, factor: $factor}
      - burn: {slo: $slo, window: $long, rate: $long_rate}
      - burn: {slo: $slo, window: $short, rate: $short_rate}
      - test: $long_rate > $factor and $short_rate > $factor
      - not: {maintenance: {slo: $slo}}
    then:
      - alert: {name: SLOBurnRateHigh, severity: page, runbook: slo-burn-rate,
                labels: {slo: $slo, tier: $tier},
                annotations: {long_rate: "round($long_rate, 1)"}}
"""


def design_engine() -> Engine:
    engine = Engine(load_rules_text(DESIGN_EXAMPLE, "burn.yaml"))
    engine.assert_fact("slo", name="api", objective=0.999)
    engine.assert_fact("tier", name="page-1h", long="1h", short="5m", factor=14.4)
    return engine


def test_the_design_example_derives_burn_rates_and_an_alert() -> None:
    engine = design_engine()
    long = engine.assert_fact("sli", slo="api", window="1h", bad=20, total=1000)
    engine.assert_fact("sli", slo="api", window="5m", bad=3, total=100)
    engine.assert_fact("sli", slo="api", window="6h", bad=0, total=0)  # test false
    engine.run()
    assert sorted(f["window"] for f in engine.facts("burn")) == ["1h", "5m"]
    (alert,) = engine.facts("alert")
    assert alert == Fact(
        "alert",
        name="SLOBurnRateHigh",
        rule="fast-burn-page",
        severity="page",
        runbook="slo-burn-rate",
        labels=FrozenMap(slo="api", tier="page-1h"),
        annotations=FrozenMap(long_rate=20.0),
    )
    # the alert resolves by itself when the long window recovers
    engine.modify(long, bad=0)
    engine.run()
    assert engine.facts("alert") == []


def test_maintenance_silences_the_alert() -> None:
    engine = design_engine()
    engine.assert_fact("sli", slo="api", window="1h", bad=20, total=1000)
    engine.assert_fact("sli", slo="api", window="5m", bad=3, total=100)
    engine.assert_fact("maintenance", slo="api")
    engine.run()
    assert engine.facts("alert") == []


def test_metrics_are_parsed_and_exposed() -> None:
    ruleset = load_rules_text(DESIGN_EXAMPLE, "burn.yaml")
    assert ruleset.metrics == [
        MetricSpec(
            "sentinel_slo_burn_rate",
            "Burn rate",
            "burn",
            "rate",
            ("slo", "window"),
            file="burn.yaml",
            line=3,
        )
    ]
    assert [rule.name for rule in ruleset] == ["burn-rate", "fast-burn-page"]
    assert ruleset.rules[1].salience == 10


CONSTRUCTS = """\
version: sentinel/rules/v1
rules:
  - name: close
    when:
      - order: {id: $id, state: open}
        as: $order
      - exists: [{line: {order: $id, qty: $q}}, {test: $q > 0}]
      - not: [{hold: {order: $id}}]
      - payment: {order: $id, amount: $id * 10}
    then:
      - modify: {fact: $order, set: {state: closed}}
      - assert: {log: {order: $id, text: $$literal, tags: [a, $id]}}
  - name: drop
    when:
      - log: {order: $id}
        as: $log
      - exists: {purge: null}
    then:
      - retract: $log
"""


def test_every_construct() -> None:
    engine = Engine(load_rules_text(CONSTRUCTS))
    engine.assert_fact("order", id=1, state="open")
    engine.assert_fact("line", order=1, qty=2)
    engine.assert_fact("payment", order=1, amount=10)
    engine.assert_fact("order", id=2, state="open")
    engine.assert_fact("payment", order=2, amount=5)  # amount must be 20
    engine.run()
    assert Fact("order", id=1, state="closed") in engine
    assert engine.facts("log") == [Fact("log", order=1, text="$literal", tags=("a", 1))]
    engine.assert_fact("purge")
    engine.run()
    assert engine.facts("log") == []


def test_a_failing_action_expression_skips_the_activation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = """\
version: sentinel/rules/v1
rules:
  - name: ratio
    when: [{c: {bad: $b, total: $t}}]
    then: [{derive: {r: {v: $b / $t}}}, {derive: {seen: {b: $b}}}]
"""
    engine = Engine(load_rules_text(text))
    engine.assert_fact("c", bad=1, total=0)
    with caplog.at_level(logging.WARNING):
        engine.run()
    assert engine.facts("r") == engine.facts("seen") == []
    assert "rule ratio: actions skipped, an expression failed: division by zero" in (
        caplog.text
    )


def test_load_rules_reads_a_directory(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(CONSTRUCTS)
    (tmp_path / "b.yml").write_text(DESIGN_EXAMPLE)
    ruleset = load_rules(
        tmp_path,
        known_types=[
            "order",
            "line",
            "hold",
            "payment",
            "purge",
            "slo",
            "sli",
            "tier",
            "maintenance",
        ],
    )
    assert len(ruleset) == 4
    assert ruleset.files == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yml")]


# -- errors -----------------------------------------------------------------------


def one_rule(when: str, then: str = "[{derive: {x: {}}}]") -> str:
    head = "version: sentinel/rules/v1\nrules:\n  - name: r\n"
    return f"{head}    when: {when}\n    then: {then}\n"


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        (
            "version: sentinel/rules/v1\nrules:\n  - name: [x\n",
            RuleSyntaxError,
            "f.yaml:4: YAML syntax error: expected ',' or ']', but got '<stream end>'",
        ),
        (
            one_rule('[{a: {v: $v}}, {test: "$foo > 1"}]'),
            UnboundVariableError,
            "f.yaml:4: rule 'r': unbound variable $foo in test \"$foo > 1\"",
        ),
        (
            one_rule("[{a: {v: $v}}]", "[{derive: {b: {w: $w * 2}}}]"),
            UnboundVariableError,
            "f.yaml:5: rule 'r': unbound variable $w in derive \"$w * 2\"",
        ),
        (
            one_rule('[{a: {v: $v}}, {test: "sqrt($v) > 1"}]'),
            UnknownFunctionError,
            "f.yaml:4: rule 'r': unknown function sqrt() in \"sqrt($v) > 1\" "
            "(known: abs, is_nan, max, min, round) in test",
        ),
        (
            one_rule('[{a: {v: $v}}, {test: "$v >"}]'),
            RuleSyntaxError,
            "f.yaml:4: rule 'r': unexpected end of expression in \"$v >\" in test",
        ),
        (
            one_rule("[{a: {v: $v}, b: {w: $v}}]"),
            PatternError,
            "f.yaml:4: rule 'r': a pattern is one fact type with its attributes, "
            "got 'a', 'b'",
        ),
        (
            one_rule("[{a: {v: [1, 2]}}]"),
            PatternError,
            "f.yaml:4: rule 'r': pattern value a.v must be a literal, $variable or "
            "expression",
        ),
        (
            "version: sentinel/rules/v1\nrules:\n  - name: r\n    wen: []\n",
            UnknownKeyError,
            "f.yaml:4: rule 'r': unknown key 'wen' in a rule (did you mean 'when'?)",
        ),
        (
            "version: sentinel/rules/v1\nrule: []\n",
            UnknownKeyError,
            "f.yaml:2: unknown key 'rule' in the rule file (did you mean 'rules'?)",
        ),
        (
            one_rule("[{a: {v: $v}}]", "[{derivee: {b: {}}}]"),
            UnknownKeyError,
            "f.yaml:5: rule 'r': unknown action 'derivee' (did you mean 'derive'?)",
        ),
        (
            one_rule("[{a: {v: $v}}]", "[{alert: {name: X, severty: page}}]"),
            UnknownKeyError,
            "f.yaml:5: rule 'r': unknown key 'severty' in alert "
            "(did you mean 'severity'?)",
        ),
        (
            "version: sentinel/rules/v2\nrules: []\n",
            VersionError,
            "f.yaml:1: unsupported version 'sentinel/rules/v2' "
            "(expected 'sentinel/rules/v1')",
        ),
        (
            "rules: []\n",
            VersionError,
            "f.yaml:1: missing version (expected 'sentinel/rules/v1')",
        ),
        (
            "version: sentinel/rules/v1\n"
            "metrics: [{name: bad-name, help: h, fact: f, value: v}]\n",
            PatternError,
            "f.yaml:2: invalid metric name 'bad-name'",
        ),
    ],
)
def test_bad_rules_fail_with_file_line_rule_and_text(
    text: str, kind: type[RuleError], message: str
) -> None:
    with pytest.raises(kind) as error:
        load_rules_text(text, "f.yaml")
    assert str(error.value) == message
    assert error.value.file == "f.yaml"


def test_error_attributes() -> None:
    with pytest.raises(RuleError) as error:
        load_rules_text(one_rule('[{a: {v: $v}}, {test: "$foo > 1"}]'), "f.yaml")
    assert (error.value.file, error.value.line, error.value.rule, error.value.text) == (
        "f.yaml",
        4,
        "r",
        "$foo > 1",
    )


def test_unknown_fact_type_with_known_types() -> None:
    with pytest.raises(PatternError) as error:
        load_rules_text(one_rule("[{sil: {v: $v}}]"), "f.yaml", known_types=["sli"])
    assert str(error.value) == (
        "f.yaml:4: rule 'r': unknown fact type 'sil' (did you mean 'sli'?)"
    )
