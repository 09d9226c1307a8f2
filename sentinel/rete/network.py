"""The engine: working memory, the compiled network, the agenda, truth maintenance.

Operations::

    engine = Engine([rule_a, rule_b])
    sli = engine.assert_fact("sli", slo="api", window="1h", ratio=0.02)
    engine.run(limit=10_000)
    sli = engine.modify(sli, ratio=0.0)   # retract and re-assert in one step
    engine.retract(sli)

Truth maintenance: a fact an action *derives* is supported by the activation that
fired; when that activation's match goes (a fact it matched was retracted or
modified, or a ``not`` it relied on became false), the support goes, and a fact
with no support left and not asserted as a base fact is retracted, with all that
depends on it. A fact derived by several activations stays while any remains.

Retracting a fact that is both base and derived only drops its base status.
Retracting a fact that is only derived removes it outright, support or not (an
explicit retraction overrides logical support). ``modify`` of any fact retracts
it outright and asserts the result as a base fact; a modify that changes nothing
is a no-op.

Rules may be added at any time; a rule added after facts sees them at once.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from types import FunctionType
from typing import Any

from .agenda import FIRED, PENDING, SUPPORT_LOST, Activation, Agenda
from .alpha import WME, AlphaNetwork, KeyGetter, key_getter
from .beta import (
    ConjunctiveNode,
    ConjunctivePartner,
    JoinNode,
    MemoryNode,
    NegativeNode,
    RootNode,
    TerminalNode,
    TestNode,
    Token,
    drop_token,
)
from .errors import (
    PatternError,
    ReteError,
    RuleError,
    RunLimitError,
    UnboundVariableError,
)
from .explain import Explanation, Support
from .facts import Fact, FrozenMap, freeze
from .rules import (
    Condition,
    Exists,
    Expr,
    Not,
    Pattern,
    Rule,
    Test,
    V,
    action_parameters,
)

log = logging.getLogger(__name__)
trace_assert = logging.getLogger("sentinel.rete.trace.assert")
trace_retract = logging.getLogger("sentinel.rete.trace.retract")
trace_fire = logging.getLogger("sentinel.rete.trace.fire")

DEBUG = logging.DEBUG
_clock = time.perf_counter
_heappop = heapq.heappop


@dataclass
class EngineStats:
    """Counters for export: firings per rule, facts per type, matching time.

    ``match_seconds`` is the time spent propagating asserts, retracts and modifies
    through the network (including those made by rule actions); ``fires`` and
    ``facts`` are live ``Counter`` objects (``facts`` counts facts now in working
    memory).
    """

    fires: Counter[str] = field(default_factory=Counter)
    facts: Counter[str] = field(default_factory=Counter)
    match_seconds: float = 0.0
    asserted: int = 0
    retracted: int = 0

    @property
    def fired(self) -> int:
        return sum(self.fires.values())


class RuleEntry:
    """A rule as compiled into one engine."""

    __slots__ = ("first", "invoke", "name", "names", "rule", "salience")

    def __init__(self, rule: Rule, names: list[str]) -> None:
        self.rule = rule
        self.name = rule.name
        self.salience = rule.salience
        self.names = names
        self.invoke: Callable[[Context], Any] = _no_action
        self.first: Any = None

    def bindings(self, vals: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(self.names, vals, strict=False))


def _no_action(ctx: Context) -> None:
    return None


class Context:
    """What a rule action gets: the match and the engine's operations.

    ``derive`` asserts with logical support (the fact goes when this match goes);
    ``assert_fact`` asserts a base fact that stays until retracted.
    """

    __slots__ = ("activation", "engine", "vals")

    def __init__(self, engine: Engine, activation: Activation) -> None:
        self.engine = engine
        self.activation = activation
        self.vals = activation.token.vals

    @property
    def rule(self) -> str:
        return self.activation.rule.name

    @property
    def bindings(self) -> dict[str, Any]:
        return self.activation.rule.bindings(self.vals)

    @property
    def facts(self) -> list[Fact]:
        return self.activation.token.facts()

    def derive(
        self, fact: Fact | str, attrs: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> Fact:
        return self.engine._derive(_as_fact(fact, attrs, kw), self.activation)

    def assert_fact(
        self, fact: Fact | str, attrs: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> Fact:
        return self.engine.assert_fact(_as_fact(fact, attrs, kw))

    def retract(self, fact: Fact) -> bool:
        return self.engine.retract(fact)

    def modify(self, fact: Fact, /, **changes: Any) -> Fact:
        return self.engine.modify(fact, **changes)

    def alert(
        self,
        name: str,
        *,
        severity: str | None = None,
        runbook: str | None = None,
        labels: Mapping[str, Any] | None = None,
        annotations: Mapping[str, Any] | None = None,
    ) -> Fact:
        """Derive an ``alert`` fact (see :func:`alert_fact`)."""
        return self.derive(
            alert_fact(name, self.rule, severity, runbook, labels, annotations)
        )


def alert_fact(
    name: str,
    rule: str,
    severity: str | None = None,
    runbook: str | None = None,
    labels: Mapping[str, Any] | None = None,
    annotations: Mapping[str, Any] | None = None,
) -> Fact:
    """The ``alert`` fact a rule derives: ``name``, ``rule``, ``severity``,
    ``runbook``, ``labels`` and ``annotations`` (the last two as ``FrozenMap``)."""
    return Fact(
        "alert",
        name=name,
        rule=rule,
        severity=severity,
        runbook=runbook,
        labels=FrozenMap(labels or {}),
        annotations=FrozenMap(annotations or {}),
    )


def _as_fact(
    fact: Fact | str, attrs: Mapping[str, Any] | None, kw: dict[str, Any]
) -> Fact:
    if isinstance(fact, Fact):
        if attrs or kw:
            raise TypeError("give either a Fact or a type name with attributes")
        return fact
    return Fact(fact, attrs, **kw)


class Engine:
    """A Rete production system with truth maintenance (see the module docs)."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._alpha = AlphaNetwork()
        self._root = RootNode()
        self._wm: dict[Fact, WME] = {}
        self._agenda = Agenda()
        self._activations: dict[Token, Activation] = {}
        self._unsupported: list[WME] = []
        self._rules: dict[str, RuleEntry] = {}
        self._timetag = 0
        self._running = False
        self._run_fires: dict[str, int] | None = None
        self.stats = EngineStats()
        self.add_rules(rules)

    # -- rules ---------------------------------------------------------------

    def add_rules(self, rules: Iterable[Rule]) -> None:
        for rule in rules:
            self.add_rule(rule)

    def add_rule(self, rule: Rule) -> None:
        """Compile ``rule`` into the network; it matches existing facts at once."""
        if rule.name in self._rules:
            raise _locate(RuleError(f"duplicate rule name {rule.name!r}"), rule)
        try:
            entry = _Compiler(self, rule).build()
        except RuleError as error:
            raise _locate(error, rule) from None
        self._rules[rule.name] = entry
        start = _clock()
        entry.first.activate(self._root.token)
        self._settle()
        self.stats.match_seconds += _clock() - start

    @property
    def rules(self) -> list[Rule]:
        return [entry.rule for entry in self._rules.values()]

    # -- working memory --------------------------------------------------------

    def assert_fact(
        self, fact: Fact | str, attrs: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> Fact:
        """Assert a base fact (a ``Fact``, or a type name and attributes).

        Asserting a fact already in working memory makes it base and changes
        nothing else; the fact already held is returned.
        """
        fact = _as_fact(fact, attrs, kw)
        wme = self._wm.get(fact)
        if wme is not None:
            wme.base = True
            return wme.fact
        start = _clock()
        self._insert(fact, True)
        self._settle()
        self.stats.match_seconds += _clock() - start
        return fact

    def retract(self, fact: Fact) -> bool:
        """Retract ``fact``; return False if it was not in working memory."""
        wme = self._wm.get(fact)
        if wme is None:
            return False
        if wme.base and wme.supports:
            wme.base = False
            return True
        start = _clock()
        self._remove(wme)
        self._settle()
        self.stats.match_seconds += _clock() - start
        return True

    def modify(self, fact: Fact, /, **changes: Any) -> Fact:
        """Replace ``fact`` by a copy with ``changes``, in one step; return it."""
        wm = self._wm
        wme = wm.get(fact)
        if wme is None:
            raise KeyError(f"not in working memory: {fact!r}")
        new = fact._replaced(changes)
        if new._hash == fact._hash and new == fact:
            return wme.fact
        start = _clock()
        held = wm.get(new)
        if held is not None:
            self._remove(wme)
            held.base = True
            new = held.fact
        elif changes.keys() <= fact._attrs.keys() and (
            (tested := self._alpha._tested.get(fact.type)) is None
            or tested.isdisjoint(changes)
        ):  # the same alpha memories (AlphaNetwork.keeps_memories, inlined)
            self._replace(wme, new)
        else:
            self._remove(wme)
            self._insert(new, True)
        if self._unsupported:
            self._settle()
        self.stats.match_seconds += _clock() - start
        return new

    def facts(self, type: str | None = None) -> list[Fact]:
        """Facts in working memory (of ``type`` if given), oldest first."""
        return [
            w.fact for w in self._wm.values() if type is None or w.fact.type == type
        ]

    def __contains__(self, fact: object) -> bool:
        return fact in self._wm

    def __len__(self) -> int:
        return len(self._wm)

    def is_base(self, fact: Fact) -> bool:
        wme = self._wm.get(fact)
        return wme is not None and wme.base

    def is_derived(self, fact: Fact) -> bool:
        wme = self._wm.get(fact)
        return wme is not None and bool(wme.supports)

    # -- agenda ----------------------------------------------------------------

    def matches(self, rule: str | None = None) -> list[Activation]:
        """Every current match (fired or pending), of ``rule`` if given."""
        found = self._activations.values()
        return [a for a in found if rule is None or a.rule.name == rule]

    @property
    def agenda(self) -> list[Activation]:
        """Pending activations, in the order they would fire."""
        return self._agenda.pending()

    def run(self, limit: int | None = None) -> int:
        """Fire activations until none is left; return how many fired.

        With ``limit``, raise :class:`RunLimitError` (naming the rules that fired
        and those still pending) instead of firing activation ``limit + 1``.
        """
        if self._running:
            raise ReteError("run() called from inside a rule action")
        agenda = self._agenda
        heap = agenda._heap
        if not heap:
            return 0
        self._running = True
        run_fires: dict[str, int] = {}
        self._run_fires = run_fires
        fires = self.stats.fires
        tracing = trace_fire.isEnabledFor(DEBUG)
        count = 0
        try:
            while heap:
                activation = _heappop(heap)[2]
                if activation.state != PENDING:
                    continue
                agenda._live -= 1
                if limit is not None and count >= limit:
                    self._stop(activation, limit)
                activation.state = FIRED
                entry = activation.rule
                name = entry.name
                fires[name] += 1
                run_fires[name] = run_fires.get(name, 0) + 1
                if tracing:
                    trace_fire.debug("fire %s %r", name, activation.token.facts())
                entry.invoke(Context(self, activation))
                count += 1
            return count
        finally:
            self._running = False
            self._run_fires = None

    def _stop(self, activation: Activation, limit: int) -> None:
        pending = self._agenda.pending_by_rule()
        pending[activation.rule.name] += 1
        self._agenda.restore(activation)
        raise RunLimitError(limit, self._run_fires or {}, pending)

    def _fire(self, activation: Activation) -> None:
        """Fire one activation outside :meth:`run` (which inlines this)."""
        activation.state = FIRED
        entry = activation.rule
        self.stats.fires[entry.name] += 1
        run_fires = self._run_fires
        if run_fires is not None:
            run_fires[entry.name] = run_fires.get(entry.name, 0) + 1
        if trace_fire.isEnabledFor(DEBUG):
            trace_fire.debug("fire %s %r", entry.name, activation.token.facts())
        entry.invoke(Context(self, activation))

    # -- explanations ----------------------------------------------------------

    def explain(self, fact: Fact) -> Explanation:
        """Why ``fact`` holds, down to base facts (raises KeyError if absent)."""
        wme = self._wm.get(fact)
        if wme is None:
            raise KeyError(f"not in working memory: {fact!r}")
        return self._explain(wme, set())

    def _explain(self, wme: WME, path: set[Fact]) -> Explanation:
        if wme.fact in path:
            return Explanation(wme.fact, wme.base, (), cycle=True)
        path = path | {wme.fact}
        supports = []
        for activation in wme.supports or ():
            matched = []
            for fact in activation.token.facts():
                held = self._wm.get(fact)
                if held is None:
                    matched.append(Explanation(fact, False, ()))
                else:
                    matched.append(self._explain(held, path))
            supports.append(
                Support(activation.rule.name, activation.bindings, tuple(matched))
            )
        return Explanation(wme.fact, wme.base, tuple(supports))

    # -- internals -------------------------------------------------------------

    def _insert(self, fact: Fact, base: bool, support: Activation | None = None) -> WME:
        self._timetag += 1
        wme = WME(fact, self._timetag, base)
        if support is not None:
            wme.supports = {support: None}
        self._wm[fact] = wme
        stats = self.stats
        stats.facts[fact.type] += 1
        stats.asserted += 1
        if trace_assert.isEnabledFor(DEBUG):
            trace_assert.debug("assert %d %r", wme.timetag, fact)
        groups = self._alpha._groups.get(fact.type)
        if not groups:
            return wme
        attrs = fact._attrs
        held = wme.memories
        # the alpha network, its memories and the join nodes inlined: this is the
        # path every assert and modify takes
        for group in groups:
            try:
                memories = group.table.get(group.getter(attrs))
            except (KeyError, TypeError):  # attribute missing, or unhashable value
                continue
            if not memories:
                continue
            for memory in memories:
                check = memory.check
                if check is not None and not check(attrs):
                    continue
                memory.items[wme] = None
                for getter, table in memory.indexes.values():
                    key = getter(attrs)
                    bucket = table.get(key)
                    if bucket is None:
                        table[key] = {wme: None}
                    else:
                        bucket[wme] = None
                held.append(memory)
                for node in memory.successors:
                    node.right_activate(wme)
        return wme

    def _remove(self, wme: WME) -> None:
        fact = wme.fact
        del self._wm[fact]
        stats = self.stats
        stats.facts[fact.type] -= 1
        stats.retracted += 1
        if trace_retract.isEnabledFor(DEBUG):
            trace_retract.debug("retract %d %r", wme.timetag, fact)
        _drop_tokens(wme)
        attrs = wme.attrs
        for memory in wme.memories:
            del memory.items[wme]
            for getter, table in memory.indexes.values():
                key = getter(attrs)
                bucket = table[key]
                del bucket[wme]
                if not bucket:
                    del table[key]
            for node in memory.removal_successors:
                node.right_deactivate(wme)

    def _replace(self, wme: WME, new: Fact) -> None:
        """``_remove(wme)`` then ``_insert(new, True)`` for a ``new`` that belongs in
        the same alpha memories: the WME and its memory list are reused."""
        fact = wme.fact
        wm = self._wm
        del wm[fact]
        stats = self.stats
        stats.retracted += 1
        if trace_retract.isEnabledFor(DEBUG):
            trace_retract.debug("retract %d %r", wme.timetag, fact)
        _drop_tokens(wme)
        memories = wme.memories
        attrs = wme.attrs
        for memory in memories:
            del memory.items[wme]
            for getter, table in memory.indexes.values():
                key = getter(attrs)
                bucket = table[key]
                del bucket[wme]
                if not bucket:
                    del table[key]
            for node in memory.removal_successors:
                node.right_deactivate(wme)

        self._timetag += 1
        wme.fact = new
        wme.attrs = attrs = new._attrs
        wme.timetag = self._timetag
        wme.base = True
        wme.supports = None
        wm[new] = wme
        stats.asserted += 1
        if trace_assert.isEnabledFor(DEBUG):
            trace_assert.debug("assert %d %r", wme.timetag, new)
        for memory in memories:
            memory.items[wme] = None
            for getter, table in memory.indexes.values():
                key = getter(attrs)
                found = table.get(key)
                if found is None:
                    table[key] = {wme: None}
                else:
                    found[wme] = None
            for node in memory.successors:
                node.right_activate(wme)

    def _settle(self) -> None:
        """Retract the derived facts that lost their last support."""
        unsupported = self._unsupported
        wm = self._wm
        while unsupported:
            wme = unsupported.pop()
            if wm.get(wme.fact) is wme and not wme.base and not wme.supports:
                self._remove(wme)

    def _activate(self, entry: RuleEntry, token: Token) -> None:
        self._activations[token] = self._agenda.push(entry, token)

    def _deactivate(self, token: Token) -> None:
        activation = self._activations.pop(token)
        if activation.state == PENDING:
            self._agenda.cancel(activation)
        else:
            self._lost(activation)

    def _lost(self, activation: Activation) -> None:
        """A fired activation's match went: its derived facts lose its support."""
        activation.state = SUPPORT_LOST
        for fact in activation.derived or ():
            wme = self._wm.get(fact)
            if wme is not None and wme.supports and activation in wme.supports:
                del wme.supports[activation]
                if not wme.supports and not wme.base:
                    self._unsupported.append(wme)

    def _derive(self, fact: Fact, activation: Activation) -> Fact:
        if activation.state != FIRED:
            log.debug(
                "not deriving %r: the match of %s is gone", fact, activation.rule.name
            )
            return fact
        wme = self._wm.get(fact)
        if activation.derived is None:
            activation.derived = []
        if wme is not None:
            if wme.supports is None:
                wme.supports = {}
            if activation not in wme.supports:
                wme.supports[activation] = None
                activation.derived.append(fact)
            return wme.fact
        activation.derived.append(fact)
        start = _clock()
        self._insert(fact, False, activation)
        self._settle()
        self.stats.match_seconds += _clock() - start
        return fact


def _locate(error: RuleError, rule: Rule) -> RuleError:
    """``error`` with the rule's name and origin filled in where missing."""
    file, line = rule.origin
    located = type(error)(
        error.reason,
        file=error.file if error.file is not None else file,
        line=error.line if error.line is not None else line,
        rule=error.rule if error.rule is not None else rule.name,
        text=error.text,
    )
    return located


# -- compiling rules into the network -------------------------------------------


class _Scope:
    """Where the compiler is: the variables bound and the node to build below."""

    __slots__ = ("depth", "driver", "filter", "node", "slots")

    def __init__(
        self, slots: dict[str, int], node: MemoryNode, driver: ConjunctiveNode | None
    ) -> None:
        self.slots = slots
        self.node = node
        self.driver = driver
        self.filter: JoinNode | TestNode | None = None
        self.depth = 0


class _Compiler:
    def __init__(self, engine: Engine, rule: Rule) -> None:
        self.engine = engine
        self.rule = rule
        self.first: Any = None

    def build(self) -> RuleEntry:
        scope = _Scope({}, self.engine._root, None)
        self.conditions(self.rule.conditions, scope)
        names = list(scope.slots)
        entry = RuleEntry(self.rule, names)
        entry.invoke = self.action(scope.slots)
        terminal = TerminalNode(self.engine, entry)
        self.attach(scope, terminal, stateful=True)
        entry.first = self.first
        return entry

    def attach(self, scope: _Scope, node: Any, stateful: bool) -> None:
        if scope.node is self.engine._root and isinstance(node, MemoryNode):
            node.under_root = True
        driver = scope.driver
        if driver is not None and driver.sub is None:
            driver.sub = node
        else:
            scope.node.children.append(node)
            if scope.node is self.engine._root and self.first is None:
                self.first = node
        if stateful:
            scope.node.watchers.append(node)

    def conditions(self, conditions: Iterable[Condition], scope: _Scope) -> None:
        for condition in conditions:
            if isinstance(condition, Pattern):
                self.pattern(condition, scope)
            elif isinstance(condition, Test):
                self.test(condition, scope)
            elif isinstance(condition, Not | Exists):
                self.negation(condition, scope)
            else:
                raise PatternError(f"not a condition: {condition!r}")

    def memory(self, plan: _Plan) -> Any:
        engine = self.engine
        memory, _ = engine._alpha.memory(
            plan.type, plan.constants, plan.required, plan.same, engine._wm.values()
        )
        return memory

    def pattern(self, pattern: Pattern, scope: _Scope) -> None:
        plan = _Plan(pattern, scope.slots, local=False)
        memory = self.memory(plan)
        node = JoinNode(
            scope.node,
            memory,
            plan.left_key,
            plan.join_names,
            plan.right_key,
            plan.extend,
            plan.picks,
        )
        memory.successors.insert(0, node)
        self.attach(scope, node, stateful=False)
        for name in plan.binds:
            scope.slots[name] = len(scope.slots)
        scope.node = node
        scope.filter = node
        scope.depth += 1

    def test(self, test: Test, scope: _Scope) -> None:
        check = _compile_test(test, scope.slots)
        if scope.filter is None:
            node = TestNode()
            self.attach(scope, node, stateful=False)
            scope.node = node
            scope.filter = node
            scope.depth += 1
        scope.filter.checks.append(check)

    def negation(self, group: Not | Exists, scope: _Scope) -> None:
        exists = isinstance(group, Exists)
        inner = group.conditions
        if len(inner) == 1 and isinstance(inner[0], Pattern):
            plan = _Plan(inner[0], scope.slots, local=True)
            memory = self.memory(plan)
            node: MemoryNode = NegativeNode(
                scope.node,
                memory,
                plan.left_key,
                plan.join_names,
                plan.right_key,
                exists,
            )
            memory.successors.insert(0, node)
            memory.removal_successors.insert(0, node)
        else:
            node = conjunctive = ConjunctiveNode(exists)
            sub = _Scope(dict(scope.slots), scope.node, conjunctive)
            self.conditions(inner, sub)
            partner = ConjunctivePartner(conjunctive, sub.depth)
            sub.node.children.append(partner)
            sub.node.watchers.append(partner)
        self.attach(scope, node, stateful=True)
        scope.node = node
        scope.depth += 1

    def action(self, slots: Mapping[str, int]) -> Callable[[Context], Any]:
        rule = self.rule
        if rule.compile_action is not None:
            return rule.compile_action(slots)
        function = rule.action
        if function is None:
            return _no_action
        names, everything = action_parameters(function)
        for name in names:
            if name not in slots:
                raise UnboundVariableError(
                    f"action parameter {name!r} is not a variable the conditions bind",
                    text=name,
                )
        if everything:
            names = list(slots)
        if not names:
            return function
        pairs = [(name, slots[name]) for name in names]

        def invoke(ctx: Context) -> Any:
            vals = ctx.vals
            return function(ctx, **{name: vals[slot] for name, slot in pairs})

        return invoke


def _compile_test(
    test: Test, slots: Mapping[str, int]
) -> Callable[[tuple[Any, ...]], Any]:
    check = _test_function(test, slots)
    if not isinstance(check, FunctionType):
        inner = check
        check = lambda vals: inner(vals)  # noqa: E731  (so it can carry a label)
    setattr(check, "label", repr(test))  # noqa: B010
    return check


def _test_function(
    test: Test, slots: Mapping[str, int]
) -> Callable[[tuple[Any, ...]], Any]:
    if test.source is not None:
        return test.source.compile(slots)
    function = test.function
    assert function is not None
    for name in test.variables:
        if name not in slots:
            label = getattr(function, "__name__", repr(function))
            raise UnboundVariableError(
                f"unbound variable ${name} in test {label}", text=label
            )
    positions = [slots[name] for name in test.variables]
    if not positions:
        return lambda vals: function()
    if len(positions) == 1:
        (only,) = positions
        return lambda vals: function(vals[only])
    if len(positions) == 2:
        first, second = positions
        return lambda vals: function(vals[first], vals[second])
    getter = itemgetter(*positions)
    return lambda vals: function(*getter(vals))


class _Plan:
    """How one pattern maps onto alpha tests, join keys and new bindings."""

    def __init__(self, pattern: Pattern, slots: Mapping[str, int], local: bool) -> None:
        if local and pattern.bind is not None:
            raise PatternError(
                f"cannot bind a fact inside not/exists: ${pattern.bind}",
                text=repr(pattern),
            )
        self.type = pattern.type
        self.constants: list[tuple[str, Any]] = []
        self.required: list[str] = []
        self.same: list[tuple[str, str]] = []
        self.binds: list[str] = []
        join_names: list[str] = []
        sources: list[Any] = []
        first_seen: dict[str, str] = {}
        bind_attrs: list[str] = []

        for attr, value in pattern.attrs.items():
            if isinstance(value, Expr) and not value.expression.variables:
                value = value.expression.constant()
            if isinstance(value, V):
                self.required.append(attr)
                if value.name in slots:
                    join_names.append(attr)
                    sources.append(slots[value.name])
                elif value.name in first_seen:
                    self.same.append((attr, first_seen[value.name]))
                else:
                    first_seen[value.name] = attr
                    if not local:
                        self.binds.append(value.name)
                        bind_attrs.append(attr)
            elif isinstance(value, Expr):
                self.required.append(attr)
                join_names.append(attr)
                sources.append(value.expression.compile(slots))
            else:
                self.constants.append((attr, freeze(value)))

        if pattern.bind is not None:
            if pattern.bind in slots or pattern.bind in first_seen:
                raise PatternError(
                    f"variable ${pattern.bind} is already bound", text=repr(pattern)
                )
            self.binds.append(pattern.bind)
        self.join_names = tuple(join_names)
        self.right_key = key_getter(self.join_names)
        self.left_key = _left_key(sources)
        self.extend = _extender(tuple(bind_attrs), pattern.bind is not None)
        # the attributes ``extend`` reads, when it reads nothing else
        self.picks = () if pattern.bind is not None else tuple(bind_attrs)


def _left_key(sources: list[Any]) -> KeyGetter:
    if all(isinstance(source, int) for source in sources):
        return key_getter(tuple(sources))
    functions = [itemgetter(s) if isinstance(s, int) else s for s in sources]
    if len(functions) == 1:
        return functions[0]
    return lambda vals: tuple(function(vals) for function in functions)


def _extender(
    attrs: tuple[str, ...], bind_fact: bool
) -> Callable[[WME], tuple[Any, ...]] | None:
    if not attrs:
        return (lambda wme: (wme.fact,)) if bind_fact else None
    if len(attrs) == 1:
        (only,) = attrs
        if bind_fact:
            return lambda wme: (wme.attrs[only], wme.fact)
        return lambda wme: (wme.attrs[only],)
    getter = itemgetter(*attrs)
    if bind_fact:
        return lambda wme: (*getter(wme.attrs), wme.fact)
    return lambda wme: getter(wme.attrs)


__all__ = [
    "Context",
    "Engine",
    "EngineStats",
    "alert_fact",
]


def _drop_tokens(wme: WME) -> None:
    """Remove every token built on ``wme``, and what hangs below them."""
    tokens = wme.tokens
    while tokens:
        token = next(iter(tokens))
        parent = token.parent
        if parent is not None and parent.children is not None:
            parent.children.pop(token, None)
        drop_token(token)
