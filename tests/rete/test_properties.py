"""The engine against a brute-force matcher, over random rules and operations."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel.rete import Engine, Exists, Fact, Not, Pattern, Rule, Test, V

TYPES = ("a", "b", "c")
VALUES = (0, 1, 2)
TESTS = {"le": ("<=", lambda x, y: x <= y), "ne": ("!=", lambda x, y: x != y)}

Binding = dict[str, Any]


# -- the brute-force matcher ------------------------------------------------------


def unify(pattern: Pattern, fact: Fact, binding: Binding) -> Binding | None:
    if fact.type != pattern.type:
        return None
    out = dict(binding)
    for attr, value in pattern.attrs.items():
        if attr not in fact:
            return None
        if isinstance(value, V):
            if value.name in out:
                if out[value.name] != fact[attr]:
                    return None
            else:
                out[value.name] = fact[attr]
        elif fact[attr] != value:
            return None
    return out


def brute(
    conditions: tuple[Any, ...],
    facts: list[Fact],
    binding: Binding,
    used: tuple[Fact, ...],
) -> Iterator[tuple[Binding, tuple[Fact, ...]]]:
    if not conditions:
        yield binding, used
        return
    first, rest = conditions[0], conditions[1:]
    if isinstance(first, Pattern):
        for fact in facts:
            extended = unify(first, fact, binding)
            if extended is not None:
                yield from brute(rest, facts, extended, (*used, fact))
    elif isinstance(first, OracleTest):
        op, x, y = first.oracle
        if TESTS[op][1](binding[x], binding[y]):
            yield from brute(rest, facts, binding, used)
    else:
        found = any(True for _ in brute(first.conditions, facts, binding, ()))
        if found == isinstance(first, Exists):
            yield from brute(rest, facts, binding, used)


def expected_matches(rules: list[Rule], facts: list[Fact]) -> Counter[Any]:
    out: Counter[Any] = Counter()
    for rule in rules:
        for _, used in brute(rule.conditions, facts, {}, ()):
            out[(rule.name, used)] += 1
    return out


def derived_fact(rule: str, binding: Binding) -> Fact:
    kind = "n" if rule == "chain" else "m"
    return Fact(kind, rule=rule, binding=tuple(sorted(binding.items())))


def expected_state(rules: list[Rule], chain: list[Rule], base: list[Fact]) -> set[Fact]:
    first = {
        derived_fact(r.name, b)
        for r in rules
        for b, _ in brute(r.conditions, base, {}, ())
    }
    facts = base + sorted(first, key=repr)
    second = {
        derived_fact(r.name, b)
        for r in chain
        for b, _ in brute(r.conditions, facts, {}, ())
    }
    return set(base) | first | second


def engine_matches(engine: Engine) -> Counter[Any]:
    return Counter((a.rule.name, tuple(a.facts)) for a in engine.matches())


# -- random rules ---------------------------------------------------------------


class OracleTest(Test):
    """A test that also tells the brute-force matcher what it checks."""

    __slots__ = ("oracle",)
    oracle: tuple[str, str, str]


def make_test(op: str, x: str, y: str) -> Test:
    test = OracleTest(f"${x} {TESTS[op][0]} ${y}")
    test.oracle = (op, x, y)
    return test


@st.composite
def patterns(
    draw: st.DrawFn, bound: list[str], fresh: list[int]
) -> tuple[Pattern, list[str]]:
    kind = draw(st.sampled_from(TYPES))
    attrs: dict[str, Any] = {}
    new: list[str] = []
    for attr in ("x", "y"):
        choice = draw(st.sampled_from(["const", "bound", "new", "omit"]))
        if choice == "const":
            attrs[attr] = draw(st.sampled_from(VALUES))
        elif choice == "bound" and (bound or new):
            attrs[attr] = V(draw(st.sampled_from(bound + new)))
        elif choice in ("new", "bound"):
            fresh[0] += 1
            name = f"v{fresh[0]}"
            new.append(name)
            attrs[attr] = V(name)
    return Pattern(kind, attrs), new


@st.composite
def conditions(draw: st.DrawFn, fresh: list[int]) -> tuple[Any, ...]:
    bound: list[str] = []
    first, new = draw(patterns(bound, fresh))
    out: list[Any] = [first]
    bound += new
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(
            st.sampled_from(["pattern", "test", "not", "exists", "not2", "exists2"])
        )
        if kind == "pattern":
            pattern, new = draw(patterns(bound, fresh))
            out.append(pattern)
            bound += new
        elif kind == "test" and bound:
            op = draw(st.sampled_from(sorted(TESTS)))
            out.append(
                make_test(
                    op, draw(st.sampled_from(bound)), draw(st.sampled_from(bound))
                )
            )
        elif kind in ("not", "exists"):
            pattern, _ = draw(patterns(bound, fresh))
            out.append(Not(pattern) if kind == "not" else Exists(pattern))
        elif kind in ("not2", "exists2"):
            inner_bound = list(bound)
            one, new = draw(patterns(inner_bound, fresh))
            inner_bound += new
            two, new = draw(patterns(inner_bound, fresh))
            inner: list[Any] = [one, two]
            inner_bound += new
            add_test: bool = draw(st.booleans())
            if add_test and len(inner_bound) > 0:
                op = draw(st.sampled_from(sorted(TESTS)))
                x, y = (
                    draw(st.sampled_from(inner_bound)),
                    draw(st.sampled_from(inner_bound)),
                )
                inner.append(make_test(op, x, y))
            out.append(Not(*inner) if kind == "not2" else Exists(*inner))
    return tuple(out)


def deriving(name: str, conds: tuple[Any, ...]) -> Rule:
    def action(ctx: Any) -> None:
        ctx.derive(derived_fact(name, ctx.bindings))

    return Rule(name, conds, action)


@st.composite
def rule_sets(draw: st.DrawFn) -> list[Rule]:
    fresh = [0]
    count = draw(st.integers(1, 3))
    return [deriving(f"r{i}", draw(conditions(fresh))) for i in range(count)]


facts = st.builds(
    lambda t, x, y: Fact(t, x=x, y=y),
    st.sampled_from(TYPES),
    st.sampled_from(VALUES),
    st.sampled_from(VALUES),
)
operations = st.lists(
    st.tuples(
        st.sampled_from(["assert", "retract", "modify"]), facts, st.integers(0, 99)
    ),
    max_size=25,
)

# A second layer over the derived facts, with a negation over base facts, so
# truth maintenance must cascade through two levels.
CHAIN = [
    deriving(
        "chain",
        (
            Pattern("m", rule=V("r"), binding=V("b")),
            Not(Pattern("c", x=2, y=2)),
        ),
    )
]

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def apply(engine: Engine, base: list[Fact], op: str, fact: Fact, pick: int) -> None:
    if op == "assert" or not base:
        if fact not in base:
            base.append(fact)
        engine.assert_fact(fact)
    elif op == "retract":
        victim = base.pop(pick % len(base))
        assert engine.retract(victim)
    else:
        victim = base[pick % len(base)]
        new = victim.replace(y=(victim["y"] + 1) % 3)
        engine.modify(victim, y=new["y"])
        base.remove(victim)
        if new not in base:
            base.append(new)


@SETTINGS
@given(rules=rule_sets(), ops=operations)
def test_matches_equal_brute_force_after_every_operation(
    rules: list[Rule], ops: list[tuple[str, Fact, int]]
) -> None:
    engine = Engine(rules)
    base: list[Fact] = []
    for op, fact, pick in ops:
        apply(engine, base, op, fact, pick)
        assert engine_matches(engine) == expected_matches(rules, base)
        engine.run()
        assert engine.matches() == [a for a in engine.matches() if a.state == 1]


@SETTINGS
@given(rules=rule_sets(), ops=operations, seed=st.integers(0, 2**32))
def test_derived_facts_follow_base_facts_and_not_their_order(
    rules: list[Rule], ops: list[tuple[str, Fact, int]], seed: int
) -> None:
    engine = Engine([*rules, *CHAIN])
    base: list[Fact] = []
    for op, fact, pick in ops:
        apply(engine, base, op, fact, pick)
        if pick % 3 == 0:
            engine.run()
    engine.run()
    want = expected_state(rules, CHAIN, base)
    assert set(engine.facts()) == want

    shuffled = list(base)
    random.Random(seed).shuffle(shuffled)
    fresh = Engine([*rules, *CHAIN])
    for fact in shuffled:
        fresh.assert_fact(fact)
    fresh.run()
    assert set(fresh.facts()) == want


@SETTINGS
@given(rules=rule_sets(), base=st.lists(facts, max_size=12, unique=True))
def test_rules_added_after_facts_see_them(rules: list[Rule], base: list[Fact]) -> None:
    engine = Engine()
    for fact in base:
        engine.assert_fact(fact)
    engine.add_rules(rules)
    assert engine_matches(engine) == expected_matches(rules, base)


def apply_by_hand(
    engine: Engine, base: list[Fact], op: str, fact: Fact, pick: int
) -> None:
    """``apply``, with modify spelled out as a retract and an assert."""
    if op != "modify" or not base:
        apply(engine, base, op, fact, pick)
        return
    victim = base[pick % len(base)]
    new = victim.replace(y=(victim["y"] + 1) % 3)
    engine.retract(victim)
    engine.assert_fact(new)
    base.remove(victim)
    if new not in base:
        base.append(new)


def snapshot(engine: Engine) -> tuple[list[Any], list[Fact]]:
    agenda = [(a.rule.name, a.facts) for a in engine.agenda]
    return agenda, engine.facts()


@SETTINGS
@given(rules=rule_sets(), ops=operations, split=st.integers(0, 25))
def test_modify_behaves_as_retract_then_assert(
    rules: list[Rule], ops: list[tuple[str, Fact, int]], split: int
) -> None:
    # the same agenda, in the same order, and the same facts, in the same order,
    # with rules added part way through
    engine, by_hand = Engine(CHAIN), Engine(CHAIN)
    base: list[Fact] = []
    other: list[Fact] = []
    for step, (op, fact, pick) in enumerate(ops):
        if step == split:
            engine.add_rules(rules)
            by_hand.add_rules(rules)
        apply(engine, base, op, fact, pick)
        apply_by_hand(by_hand, other, op, fact, pick)
        assert snapshot(engine) == snapshot(by_hand)
        if pick % 2:
            engine.run()
            by_hand.run()
            assert snapshot(engine) == snapshot(by_hand)
