"""Node-level behaviour of the engine: alpha, joins, negation, agenda, TMS."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sentinel.rete import (
    Engine,
    Exists,
    Expr,
    Fact,
    Not,
    Pattern,
    Rule,
    RunLimitError,
    Test,
    UnboundVariableError,
    V,
    rule,
)
from sentinel.rete.alpha import AlphaNetwork
from sentinel.rete.network import Context


def recorder(name: str, *conditions: Any, salience: int = 0) -> tuple[Rule, list[Any]]:
    fired: list[Any] = []

    def action(ctx: Context) -> None:
        fired.append(ctx.bindings)

    return Rule(name, conditions, action, salience=salience), fired


# -- alpha --------------------------------------------------------------------


def test_alpha_memories_are_found_by_type_and_constant_values() -> None:
    alpha = AlphaNetwork()
    hour, _ = alpha.memory("sli", [("window", "1h")], ["ratio"])
    day, _ = alpha.memory("sli", [("window", "1d")], ["ratio"])
    any_sli, _ = alpha.memory("sli", [], [])
    same, new = alpha.memory("sli", [("window", "1h")], ["ratio"])
    assert same is hour and not new

    assert alpha.match(Fact("sli", window="1h", ratio=0.1)) == [hour, any_sli]
    assert alpha.match(Fact("sli", window="1d")) == [any_sli]  # no ratio
    assert alpha.match(Fact("slo", window="1h", ratio=0.1)) == []
    assert day not in alpha.match(Fact("sli", window="1h", ratio=0.1))


def test_a_memory_made_later_keeps_a_facts_memories_in_match_order() -> None:
    # a modify that leaves a fact in the same memories reuses this list, so it must
    # be the list a fresh assert would build
    alpha = AlphaNetwork()
    alpha.memory("sli", [("window", "1h")], ["ratio"])
    alpha.memory("sli", [], [])
    engine = Engine()
    fact = engine.assert_fact("sli", window="1h", ratio=0.1)
    wme = engine._wm[fact]
    for memory in alpha.match(fact):
        memory.add(wme)
        wme.memories.append(memory)
    later, _ = alpha.memory("sli", [("window", "1h")], ["other"], existing=[wme])
    assert later not in wme.memories
    hour_too, _ = alpha.memory("sli", [("window", "1h")], [], existing=[wme])
    assert wme.memories == alpha.match(fact)
    assert wme.memories.index(hour_too) == 1


def test_a_variable_twice_in_one_pattern_tests_equality_within_the_fact() -> None:
    same, fired = recorder("same", Pattern("pair", left=V("x"), right=V("x")))
    engine = Engine([same])
    engine.assert_fact("pair", left=1, right=2)
    engine.assert_fact("pair", left=3, right=3)
    engine.run()
    assert fired == [{"x": 3}]


# -- joins --------------------------------------------------------------------


def test_join_probes_only_tokens_with_equal_key() -> None:
    both, fired = recorder(
        "both",
        Pattern("slo", name=V("slo")),
        Pattern("sli", slo=V("slo"), ratio=V("r")),
    )
    engine = Engine([both])
    for name in ("a", "b", "c"):
        engine.assert_fact("slo", name=name)
    engine.assert_fact("sli", slo="b", ratio=0.5)
    engine.run()
    assert fired == [{"slo": "b", "r": 0.5}]

    join = engine._root.children[0].children[0]
    assert set(join.left) == {"a", "b", "c"}  # parent tokens hashed on $slo
    assert set(join.right) == {"b"}  # alpha memory hashed on the slo attribute


def test_expression_in_a_pattern_joins_on_the_computed_value() -> None:
    double, fired = recorder(
        "double", Pattern("n", v=V("x")), Pattern("n", v=Expr("$x * 2"), tag=V("t"))
    )
    engine = Engine([double])
    engine.assert_fact("n", v=2, tag="two")
    engine.assert_fact("n", v=4, tag="four")
    engine.run()
    assert fired == [{"x": 2, "t": "four"}]


def test_tests_filter_on_bound_variables() -> None:
    hot, fired = recorder(
        "hot", Pattern("sli", ratio=V("r")), Test(lambda r: r > 0.1), Test("$r < 1")
    )
    engine = Engine([hot])
    for ratio in (0.05, 0.5, 2.0):
        engine.assert_fact("sli", ratio=ratio)
    engine.run()
    assert fired == [{"r": 0.5}]


def test_division_by_zero_makes_a_test_false_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ratio, fired = recorder(
        "ratio", Pattern("c", bad=V("b"), total=V("t")), Test("$b / $t > 0.5")
    )
    engine = Engine([ratio])
    with caplog.at_level(logging.WARNING):
        engine.assert_fact("c", bad=1, total=0)
        engine.assert_fact("c", bad=1, total=1)
    engine.run()
    assert fired == [{"b": 1, "t": 1}]
    assert "division by zero" in caplog.text


def test_unbound_variable_in_a_test_fails_at_add_rule() -> None:
    bad, _ = recorder("bad", Pattern("x", v=V("a")), Test("$b > 1"))
    with pytest.raises(UnboundVariableError) as error:
        Engine([bad])
    assert str(error.value) == "rule 'bad': unbound variable $b in \"$b > 1\""


# -- not and exists -----------------------------------------------------------


def test_not_counts_matches_and_reopens_when_the_last_goes() -> None:
    quiet, fired = recorder(
        "quiet", Pattern("slo", name=V("s")), Not(Pattern("maintenance", slo=V("s")))
    )
    engine = Engine([quiet])
    engine.assert_fact("slo", name="a")
    one = engine.assert_fact("maintenance", slo="a", by="x")
    two = engine.assert_fact("maintenance", slo="a", by="y")
    assert engine.matches() == []
    engine.retract(one)
    assert engine.matches() == []
    engine.retract(two)
    engine.run()
    assert fired == [{"s": "a"}]


def test_exists_matches_once_however_many_facts_match() -> None:
    some, fired = recorder(
        "some", Pattern("slo", name=V("s")), Exists(Pattern("alert", slo=V("s")))
    )
    engine = Engine([some])
    engine.assert_fact("slo", name="a")
    first = engine.assert_fact("alert", slo="a", name="x")
    engine.assert_fact("alert", slo="a", name="y")
    engine.run()
    assert fired == [{"s": "a"}]
    engine.retract(first)
    engine.run()
    assert fired == [{"s": "a"}]  # still exists: the match did not change


def test_not_over_a_conjunction() -> None:
    uncovered, fired = recorder(
        "uncovered",
        Pattern("slo", name=V("s")),
        Not(Pattern("owner", slo=V("s"), team=V("t")), Pattern("team", name=V("t"))),
    )
    engine = Engine([uncovered])
    engine.assert_fact("slo", name="a")
    engine.assert_fact("owner", slo="a", team="x")  # team x does not exist yet
    assert len(engine.matches()) == 1
    team = engine.assert_fact("team", name="x")
    assert engine.matches() == []
    engine.retract(team)
    engine.run()
    assert fired == [{"s": "a"}]


# -- agenda -------------------------------------------------------------------


def test_salience_then_first_in_first_out() -> None:
    order: list[str] = []

    def make(name: str, salience: int) -> Rule:
        return Rule(
            name,
            (Pattern("go", n=V("n")),),
            lambda ctx, n: order.append(f"{name}{n}"),
            salience=salience,
        )

    engine = Engine([make("low", 0), make("high", 10)])
    engine.assert_fact("go", n=1)
    engine.assert_fact("go", n=2)
    assert [a.rule.name for a in engine.agenda] == ["high", "high", "low", "low"]
    engine.run()
    assert order == ["high1", "high2", "low1", "low2"]


def test_refraction_fires_a_match_once_until_it_changes() -> None:
    seen, fired = recorder("seen", Pattern("x", v=V("v")))
    engine = Engine([seen])
    fact = engine.assert_fact("x", v=1)
    engine.run()
    engine.run()
    engine.assert_fact("x", v=1)  # already held: nothing new
    engine.run()
    assert fired == [{"v": 1}]
    engine.modify(fact, v=2)
    engine.run()
    assert fired == [{"v": 1}, {"v": 2}]


def test_run_limit_names_the_rules_that_kept_firing() -> None:
    @rule(Pattern("counter", n=V("n")))
    def tick(ctx: Context, n: int) -> None:
        ctx.modify(ctx.facts[0], n=n + 1)

    engine = Engine([tick])
    engine.assert_fact("counter", n=0)
    with pytest.raises(RunLimitError) as error:
        engine.run(limit=5)
    assert str(error.value) == (
        "run stopped after 5 firings with activations still pending; "
        "fired: 'tick' (5); pending: 'tick' (1)"
    )
    assert error.value.fired == {"tick": 5}


def test_actions_may_assert_retract_and_modify() -> None:
    @rule(Pattern("order", id=V("id"), bind="order"))
    def ship(ctx: Context, id: int, order: Fact) -> None:
        ctx.retract(order)
        ctx.assert_fact("shipped", id=id)

    engine = Engine([ship])
    engine.assert_fact("order", id=7)
    engine.run()
    assert engine.facts() == [Fact("shipped", id=7)]


# -- truth maintenance ----------------------------------------------------------


def burn_rules() -> list[Rule]:
    @rule(Pattern("sli", slo=V("s"), ratio=V("r")), Test("$r > 0.1"))
    def burn(ctx: Context, s: str, r: float) -> None:
        ctx.derive("burn", slo=s)

    @rule(Pattern("burn", slo=V("s")), Not(Pattern("maintenance", slo=V("s"))))
    def page(ctx: Context, s: str) -> None:
        ctx.alert("Burn", severity="page", runbook="burn", labels={"slo": s})

    return [burn, page]


def test_derived_facts_go_with_their_support_and_cascade() -> None:
    engine = Engine(burn_rules())
    sli = engine.assert_fact("sli", slo="api", ratio=0.5)
    engine.run()
    alert = Fact(
        "alert",
        name="Burn",
        rule="page",
        severity="page",
        runbook="burn",
        labels={"slo": "api"},
        annotations={},
    )
    assert alert in engine
    engine.modify(sli, ratio=0.0)
    assert engine.facts() == [Fact("sli", slo="api", ratio=0.0)]
    assert engine.stats.facts["alert"] == 0


def test_a_fact_derived_by_several_matches_stays_while_one_remains() -> None:
    engine = Engine(burn_rules())
    one = engine.assert_fact("sli", slo="api", ratio=0.5, window="1h")
    two = engine.assert_fact("sli", slo="api", ratio=0.7, window="5m")
    engine.run()
    burn = Fact("burn", slo="api")
    assert len(engine.explain(burn).supports) == 2
    engine.retract(one)
    assert burn in engine
    engine.retract(two)
    assert burn not in engine


def test_a_negation_turning_false_retracts_downstream() -> None:
    engine = Engine(burn_rules())
    engine.assert_fact("sli", slo="api", ratio=0.5)
    engine.run()
    assert engine.stats.facts["alert"] == 1
    window = engine.assert_fact("maintenance", slo="api")
    assert engine.stats.facts["alert"] == 0
    engine.retract(window)
    engine.run()
    assert engine.stats.facts["alert"] == 1


def test_base_and_derived_fact_stays_while_either_holds() -> None:
    engine = Engine(burn_rules())
    sli = engine.assert_fact("sli", slo="api", ratio=0.5)
    engine.run()
    burn = engine.assert_fact("burn", slo="api")
    assert engine.is_base(burn) and engine.is_derived(burn)
    engine.retract(sli)
    assert burn in engine and not engine.is_derived(burn)
    engine.retract(burn)
    assert burn not in engine


# -- explanations and stats -------------------------------------------------------


def test_explanation_goes_down_to_base_facts() -> None:
    engine = Engine(burn_rules())
    engine.assert_fact("sli", slo="api", ratio=0.5)
    engine.run()
    (alert,) = engine.facts("alert")
    explanation = engine.explain(alert)
    assert explanation.text() == (
        "alert(name='Burn', rule='page', severity='page', runbook='burn', "
        "labels={'slo': 'api'}, annotations={})  [derived]\n"
        "  by rule 'page' with s='api'\n"
        "    burn(slo='api')  [derived]\n"
        "      by rule 'burn' with s='api', r=0.5\n"
        "        sli(slo='api', ratio=0.5)  [base]"
    )
    data = explanation.as_dict()
    assert data["supports"][0]["rule"] == "page"
    burn = data["supports"][0]["facts"][0]
    assert burn["supports"][0]["facts"][0] == {
        "type": "sli",
        "attrs": {"slo": "api", "ratio": 0.5},
        "base": True,
    }


def test_stats_count_fires_facts_and_time() -> None:
    engine = Engine(burn_rules())
    engine.assert_fact("sli", slo="api", ratio=0.5)
    engine.assert_fact("sli", slo="web", ratio=0.0)
    engine.run()
    assert engine.stats.fires == {"burn": 1, "page": 1}
    assert engine.stats.facts == {"sli": 2, "burn": 1, "alert": 1}
    assert engine.stats.match_seconds > 0


def test_trace_loggers_report_assert_retract_and_fire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = Engine(burn_rules())
    with caplog.at_level(logging.DEBUG, logger="sentinel.rete.trace"):
        sli = engine.assert_fact("sli", slo="api", ratio=0.5)
        engine.run()
        engine.retract(sli)
    names = {record.name for record in caplog.records}
    assert names == {
        "sentinel.rete.trace.assert",
        "sentinel.rete.trace.fire",
        "sentinel.rete.trace.retract",
    }


def test_facts_are_immutable_hashable_and_order_free() -> None:
    one = Fact("x", a=1, b={"k": [1, 2]})
    two = Fact("x", {"b": {"k": [1, 2]}, "a": 1})
    assert one == two and hash(one) == hash(two)
    with pytest.raises(AttributeError):
        one.type = "y"
    assert one.replace(a=2)["a"] == 2
