"""The YAML rule language, ``version: sentinel/rules/v1``.

::

    version: sentinel/rules/v1
    metrics:                         # optional: what the rule pack exports
      - {name: sentinel_slo_burn_rate, help: Burn rate per window,
         fact: burn, value: rate, labels: [slo, window]}
    rules:
      - name: burn-rate
        salience: 10                 # optional, default 0
        description: ...             # optional
        when:
          - sli: {slo: $slo, window: $w, bad: $bad, total: $total}
          - test: $total > 0
          - not: {maintenance: {slo: $slo}}       # or a list of conditions
          - exists: [{a: {x: $slo}}, {test: ...}]
          - order: {id: $id}
            as: $order                             # bind the fact itself
        then:
          - derive: {burn: {slo: $slo, window: $w, rate: $bad / $total}}
          - assert: {seen: {slo: $slo}}            # base fact, no support
          - retract: $order
          - modify: {fact: $order, set: {state: done}}
          - alert: {name: X, severity: page, runbook: x, labels: {...},
                    annotations: {...}}

Values. In a pattern a value is a literal (string, number, bool, null), a variable
``$name`` (bound where it first appears, joined on afterwards), or an expression
over variables bound by earlier conditions (the fact's attribute must equal its
value). In actions a value is a literal or an expression. A string is read as an
expression when it starts with ``$``, ``-$``, ``(`` or a function call such as
``round(``; any other string is a literal. A literal string that starts with
``$`` is written with two: ``$$5`` is the string ``$5``. (Quote expressions that
contain commas inside YAML flow mappings: ``{v: "max($a, $b)"}``.)

Semantics. ``derive`` asserts with logical support; ``alert`` derives a fact of
type ``alert`` with ``name``, ``rule``, ``severity``, ``runbook``, ``labels`` and
``annotations``. If an action's expression fails at run time (division by zero,
wrong types) the activation's actions are all skipped and a warning is logged;
a failing ``test`` is false (also logged).

Errors name the file, line, rule and offending text::

    rules/burn.yaml:12: rule 'burn-rate': unbound variable $foo in test "$foo > 1"
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from .errors import (
    PatternError,
    RuleError,
    RuleSyntaxError,
    UnboundVariableError,
    UnknownKeyError,
    VersionError,
)
from .expr import EVAL_ERRORS, FUNCTIONS, Evaluator, Expression, parse
from .facts import Fact, FrozenMap
from .network import Context, alert_fact
from .rules import Condition, Exists, Expr, Not, Pattern, Rule, Test, V

log = logging.getLogger(__name__)

VERSION = "sentinel/rules/v1"
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_EXPRESSION = re.compile(r"\s*(?:\$|\(|-\s*\$|(?:" + "|".join(FUNCTIONS) + r")\s*\()")
_WHOLE_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\Z")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

_TOP_KEYS = ("version", "rules", "metrics")
_RULE_KEYS = ("name", "description", "salience", "when", "then")
_ALERT_KEYS = ("name", "severity", "runbook", "labels", "annotations")
_METRIC_KEYS = ("name", "help", "fact", "value", "labels")
_ACTIONS = ("derive", "assert", "retract", "modify", "alert")


@dataclass(frozen=True)
class MetricSpec:
    """A metric a rule pack exports: one sample per fact of type ``fact``, valued
    by its attribute ``value`` and labelled by its attributes ``labels``."""

    name: str
    help: str
    fact: str
    value: str
    labels: tuple[str, ...] = ()
    file: str | None = None
    line: int | None = None


@dataclass
class RuleSet:
    """Rules and metric declarations loaded from one or more files."""

    rules: list[Rule] = field(default_factory=list)
    metrics: list[MetricSpec] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def __iter__(self) -> Any:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def extend(self, other: RuleSet) -> None:
        self.rules.extend(other.rules)
        self.metrics.extend(other.metrics)
        self.files.extend(other.files)


def load_rules(
    paths: str | Path | Iterable[str | Path], known_types: Iterable[str] | None = None
) -> RuleSet:
    """Load rule files; a directory means its ``*.yaml`` and ``*.yml`` files.

    With ``known_types`` (the fact types the host asserts), a pattern on a type
    that is neither known nor made by some rule is an error.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        else:
            files.append(path)
    out = RuleSet()
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as error:
            raise RuleError(
                f"cannot read rule file: {error.strerror}", file=str(file)
            ) from error
        out.extend(_Loader(text, str(file)).load())
    _check_set(out, known_types)
    return out


def load_rules_text(
    text: str, file: str = "<string>", known_types: Iterable[str] | None = None
) -> RuleSet:
    """Load rules from YAML text; ``file`` names it in errors."""
    out = _Loader(text, file).load()
    _check_set(out, known_types)
    return out


def _check_set(ruleset: RuleSet, known_types: Iterable[str] | None) -> None:
    seen: dict[str, Rule] = {}
    for rule in ruleset.rules:
        if rule.name in seen:
            file, line = rule.origin
            raise PatternError(
                f"duplicate rule name {rule.name!r}",
                file=file,
                line=line,
                text=rule.name,
            )
        seen[rule.name] = rule
    names: set[str] = set()
    for metric in ruleset.metrics:
        if metric.name in names:
            raise PatternError(
                f"duplicate metric {metric.name!r}",
                file=metric.file,
                line=metric.line,
                text=metric.name,
            )
        names.add(metric.name)
    if known_types is None:
        return
    known = set(known_types) | {"alert"}
    for rule in ruleset.rules:
        known |= getattr(rule, "makes", set())
    for rule in ruleset.rules:
        for type_name, line in getattr(rule, "reads", []):
            if type_name not in known:
                raise PatternError(
                    f"unknown fact type {type_name!r}{_did_you_mean(type_name, known)}",
                    file=rule.origin[0],
                    line=line,
                    rule=rule.name,
                    text=type_name,
                )
    for metric in ruleset.metrics:
        if metric.fact not in known:
            raise PatternError(
                f"metric {metric.name!r}: unknown fact type {metric.fact!r}"
                f"{_did_you_mean(metric.fact, known)}",
                file=metric.file,
                line=metric.line,
                text=metric.fact,
            )


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


Node = yaml.Node


class _Loader:
    """Parse (YAML to nodes), map (nodes to rules) and validate one file."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.rule: str | None = None
        self._constructor = yaml.SafeLoader("")

    # -- errors and node helpers ------------------------------------------------

    def fail(
        self,
        kind: type[RuleError],
        reason: str,
        node: Node | None,
        text: str | None = None,
    ) -> NoReturn:
        line = node.start_mark.line + 1 if node is not None else None
        raise kind(reason, file=self.file, line=line, rule=self.rule, text=text)

    def plain(self, node: Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: Node, what: str) -> list[tuple[str, Node, Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(
                PatternError, f"{what} must be a mapping", node, _snippet(self, node)
            )
        out = []
        for key_node, value_node in node.value:
            key = self.plain(key_node)
            if not isinstance(key, str):
                self.fail(
                    PatternError, f"{what} keys must be strings", key_node, str(key)
                )
            out.append((key, key_node, value_node))
        return out

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(
                PatternError, f"{what} must be a list", node, _snippet(self, node)
            )
        return list(node.value)

    def string(self, node: Node, what: str) -> str:
        value = self.plain(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, str) or not value:
            self.fail(
                PatternError,
                f"{what} must be a non-empty string",
                node,
                _snippet(self, node),
            )
        return value

    def keys(
        self, items: list[tuple[str, Node, Node]], allowed: Iterable[str], what: str
    ) -> dict[str, Node]:
        allowed = tuple(allowed)
        out: dict[str, Node] = {}
        for key, key_node, value_node in items:
            if key not in allowed:
                self.fail(
                    UnknownKeyError,
                    f"unknown key {key!r} in {what}{_did_you_mean(key, allowed)}",
                    key_node,
                    key,
                )
            out[key] = value_node
        return out

    def expression(self, source: str, node: Node, where: str) -> Expression:
        try:
            return parse(source)
        except RuleError as error:
            self.fail(type(error), f"{error.reason} in {where}", node, source)

    def check_bound(
        self, expression: Expression, bound: Iterable[str], node: Node, where: str
    ) -> None:
        bound = set(bound)
        for name in expression.variables:
            if name not in bound:
                self.fail(
                    UnboundVariableError,
                    f'unbound variable ${name} in {where} "{expression.source}"',
                    node,
                    expression.source,
                )

    # -- the file -----------------------------------------------------------------

    def load(self) -> RuleSet:
        try:
            root = yaml.compose(self.text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else None
            lines = self.text.splitlines()
            text = (
                lines[line - 1] if line is not None and 0 < line <= len(lines) else None
            )
            problem = error.problem or str(error)
            raise RuleSyntaxError(
                f"YAML syntax error: {problem}", file=self.file, line=line, text=text
            ) from error
        except yaml.YAMLError as error:
            raise RuleSyntaxError(
                f"YAML syntax error: {error}", file=self.file
            ) from error
        if root is None:
            self.fail(
                VersionError, f"empty rule file (expected version: {VERSION})", None
            )
        top = self.keys(self.mapping(root, "a rule file"), _TOP_KEYS, "the rule file")
        self.version(top.get("version"), root)

        out = RuleSet(files=[self.file])
        if "rules" in top:
            for node in self.sequence(top["rules"], "rules"):
                out.rules.append(self.parse_rule(node))
                self.rule = None
        if "metrics" in top:
            for node in self.sequence(top["metrics"], "metrics"):
                out.metrics.append(self.metric(node))
        return out

    def version(self, node: Node | None, root: Node) -> None:
        if node is None:
            self.fail(VersionError, f"missing version (expected {VERSION!r})", root)
        value = self.plain(node)
        if value != VERSION:
            self.fail(
                VersionError,
                f"unsupported version {value!r} (expected {VERSION!r})",
                node,
                str(value),
            )

    def metric(self, node: Node) -> MetricSpec:
        spec = self.keys(self.mapping(node, "a metric"), _METRIC_KEYS, "a metric")
        for key in ("name", "help", "fact", "value"):
            if key not in spec:
                self.fail(PatternError, f"metric is missing {key!r}", node)
        name = self.string(spec["name"], "metric name")
        if not _METRIC_NAME.match(name):
            self.fail(PatternError, f"invalid metric name {name!r}", spec["name"], name)
        labels: list[str] = []
        if "labels" in spec:
            for label_node in self.sequence(spec["labels"], "metric labels"):
                label = self.string(label_node, "a metric label")
                if not _LABEL_NAME.match(label) or label.startswith("__"):
                    self.fail(
                        PatternError, f"invalid label name {label!r}", label_node, label
                    )
                labels.append(label)
        return MetricSpec(
            name=name,
            help=self.string(spec["help"], "metric help"),
            fact=self.string(spec["fact"], "metric fact"),
            value=self.string(spec["value"], "metric value"),
            labels=tuple(labels),
            file=self.file,
            line=node.start_mark.line + 1,
        )

    # -- rules ----------------------------------------------------------------------

    def parse_rule(self, node: Node) -> Rule:
        items = self.mapping(node, "a rule")
        for key, _, value_node in items:
            if key == "name":
                self.rule = self.string(value_node, "rule name")
        spec = self.keys(items, _RULE_KEYS, "a rule")
        if self.rule is None:
            self.fail(PatternError, "rule is missing 'name'", node)
        for key in ("when", "then"):
            if key not in spec:
                self.fail(PatternError, f"rule is missing {key!r}", node)
        salience = 0
        if "salience" in spec:
            salience = self.plain(spec["salience"])
            if not isinstance(salience, int) or isinstance(salience, bool):
                self.fail(
                    PatternError,
                    "salience must be an integer",
                    spec["salience"],
                    _snippet(self, spec["salience"]),
                )
        description = None
        if "description" in spec:
            description = self.string(spec["description"], "description")

        bound: list[str] = []
        reads: list[tuple[str, int]] = []
        conditions = self.conditions(self.sequence(spec["when"], "when"), bound, reads)
        makes: set[str] = set()
        actions = [
            self.action(item, bound, makes)
            for item in self.sequence(spec["then"], "then")
        ]
        rule = Rule(
            name=self.rule,
            conditions=tuple(conditions),
            salience=salience,
            description=description,
            compile_action=_compile_actions(self.rule, actions),
            origin=(self.file, node.start_mark.line + 1),
        )
        rule.reads = reads  # type: ignore[attr-defined]
        rule.makes = makes  # type: ignore[attr-defined]
        return rule

    def conditions(
        self, nodes: list[Node], bound: list[str], reads: list[tuple[str, int]]
    ) -> list[Condition]:
        return [self.condition(node, bound, reads) for node in nodes]

    def condition(
        self, node: Node, bound: list[str], reads: list[tuple[str, int]]
    ) -> Condition:
        items = self.mapping(node, "a condition")
        keys = [key for key, _, _ in items]
        if keys == ["test"]:
            source = self.plain(items[0][2])
            if not isinstance(source, str | bool):
                self.fail(
                    PatternError, "test must be an expression string", node, str(source)
                )
            expression = self.expression(
                str(source).lower() if isinstance(source, bool) else source,
                items[0][2],
                "test",
            )
            self.check_bound(expression, bound, items[0][2], "test")
            return Test(expression)
        if keys in (["not"], ["exists"]):
            inner_node = items[0][2]
            inner_bound = list(bound)
            if isinstance(inner_node, yaml.SequenceNode):
                if not inner_node.value:
                    self.fail(
                        PatternError, f"{keys[0]} needs at least one condition", node
                    )
                inner = self.conditions(inner_node.value, inner_bound, reads)
            else:
                inner = [self.condition(inner_node, inner_bound, reads)]
            return Not(*inner) if keys == ["not"] else Exists(*inner)
        return self.pattern(node, items, bound, reads)

    def pattern(
        self,
        node: Node,
        items: list[tuple[str, Node, Node]],
        bound: list[str],
        reads: list[tuple[str, int]],
    ) -> Pattern:
        bind: str | None = None
        typed = [(k, kn, vn) for k, kn, vn in items if k != "as"]
        if len(typed) != 1:
            names = ", ".join(repr(k) for k, _, _ in typed) or "nothing"
            self.fail(
                PatternError,
                f"a pattern is one fact type with its attributes, got {names}",
                node,
                _snippet(self, node),
            )
        type_name, type_node, attrs_node = typed[0]
        if type_name in ("test", "not", "exists") or type_name in _ACTIONS:
            self.fail(
                PatternError,
                f"{type_name!r} cannot be combined with other keys in a condition",
                type_node,
                type_name,
            )
        for key, _, value_node in items:
            if key == "as":
                text = self.plain(value_node)
                match = _WHOLE_VAR.match(text) if isinstance(text, str) else None
                if match is None:
                    self.fail(
                        PatternError,
                        "'as' must name a variable like $f",
                        value_node,
                        str(text),
                    )
                bind = match.group(1)
        attrs: dict[str, Any] = {}
        new: list[str] = []
        if not (
            isinstance(attrs_node, yaml.ScalarNode) and self.plain(attrs_node) is None
        ):
            for attr, _, value_node in self.mapping(
                attrs_node, f"pattern {type_name!r}"
            ):
                attrs[attr] = self.pattern_value(
                    type_name, attr, value_node, bound, new
                )
        reads.append((type_name, type_node.start_mark.line + 1))
        bound.extend(name for name in new if name not in bound)
        if bind is not None:
            if bind in bound:
                self.fail(
                    PatternError, f"variable ${bind} is already bound", node, bind
                )
            bound.append(bind)
        return Pattern(type_name, attrs, bind=bind)

    def pattern_value(
        self, type_name: str, attr: str, node: Node, bound: list[str], new: list[str]
    ) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(
                PatternError,
                f"pattern value {type_name}.{attr} must be a literal, "
                "$variable or expression",
                node,
                _snippet(self, node),
            )
        value = self.plain(node)
        if not isinstance(value, str) or not _EXPRESSION.match(value):
            return value
        if value.startswith("$$"):
            return value[1:]
        match = _WHOLE_VAR.match(value)
        if match is not None:
            if match.group(1) not in bound and match.group(1) not in new:
                new.append(match.group(1))
            return V(match.group(1))
        where = f"pattern {type_name}.{attr}"
        expression = self.expression(value, node, where)
        self.check_bound(expression, bound, node, where)
        return Expr(expression)

    # -- actions ----------------------------------------------------------------------

    def action(self, node: Node, bound: list[str], makes: set[str]) -> _Action:
        items = self.mapping(node, "an action")
        if len(items) != 1:
            names = ", ".join(repr(k) for k, _, _ in items) or "nothing"
            self.fail(PatternError, f"an action has exactly one key, got {names}", node)
        kind, key_node, body = items[0]
        if kind not in _ACTIONS:
            self.fail(
                UnknownKeyError,
                f"unknown action {kind!r}{_did_you_mean(kind, _ACTIONS)}",
                key_node,
                kind,
            )
        if kind in ("derive", "assert"):
            fact_items = self.mapping(body, kind)
            if len(fact_items) != 1:
                self.fail(
                    PatternError,
                    f"{kind} takes one fact type with its attributes",
                    body,
                )
            type_name, _, attrs_node = fact_items[0]
            attrs = self.values(attrs_node, bound, kind, mapping=True)
            makes.add(type_name)
            return _Action(kind, node.start_mark.line + 1, type_name, attrs)
        if kind == "retract":
            return _Action(
                kind, node.start_mark.line + 1, "", self.fact_var(body, bound)
            )
        if kind == "modify":
            spec = self.keys(self.mapping(body, "modify"), ("fact", "set"), "modify")
            if "fact" not in spec or "set" not in spec:
                self.fail(PatternError, "modify needs 'fact' and 'set'", body)
            fact = self.fact_var(spec["fact"], bound)
            changes = self.values(spec["set"], bound, "modify", mapping=True)
            return _Action(kind, node.start_mark.line + 1, "", (fact, changes))
        spec = self.keys(self.mapping(body, "alert"), _ALERT_KEYS, "alert")
        if "name" not in spec:
            self.fail(PatternError, "alert is missing 'name'", body)
        values = {
            key: self.values(
                value, bound, "alert", mapping=key in ("labels", "annotations")
            )
            for key, value in spec.items()
        }
        makes.add("alert")
        return _Action(kind, node.start_mark.line + 1, "alert", values)

    def fact_var(self, node: Node, bound: list[str]) -> str:
        text = self.plain(node) if isinstance(node, yaml.ScalarNode) else None
        match = _WHOLE_VAR.match(text) if isinstance(text, str) else None
        if match is None:
            self.fail(
                PatternError,
                "expected a fact variable like $f",
                node,
                _snippet(self, node),
            )
        if match.group(1) not in bound:
            self.fail(UnboundVariableError, f"unbound variable {text}", node, text)
        return match.group(1)

    def values(
        self, node: Node, bound: list[str], where: str, mapping: bool = False
    ) -> Any:
        """An action value: literals stay, ``$...`` strings become expressions."""
        if mapping:
            if isinstance(node, yaml.ScalarNode) and self.plain(node) is None:
                return {}
            return {
                key: self.values(value, bound, where)
                for key, _, value in self.mapping(node, f"{where} attributes")
            }
        if isinstance(node, yaml.MappingNode):
            return self.values(node, bound, where, mapping=True)
        if isinstance(node, yaml.SequenceNode):
            return [self.values(item, bound, where) for item in node.value]
        value = self.plain(node)
        if isinstance(value, str) and _EXPRESSION.match(value):
            if value.startswith("$$"):
                return value[1:]
            expression = self.expression(value, node, where)
            self.check_bound(expression, bound, node, where)
            return expression
        return value


def _snippet(loader: _Loader, node: Node) -> str:
    start, end = node.start_mark.index, node.end_mark.index
    return loader.text[start:end].strip().splitlines()[0] if end > start else ""


@dataclass
class _Action:
    kind: str
    line: int
    type: str
    body: Any


def _builder(spec: Any, slots: Mapping[str, int]) -> Evaluator:
    """Compile an action value into a function of a token's values."""
    if isinstance(spec, Expression):
        return spec.compile(slots)
    if isinstance(spec, dict):
        parts = [(key, _builder(value, slots)) for key, value in spec.items()]
        return lambda vals: FrozenMap({key: part(vals) for key, part in parts})
    if isinstance(spec, list):
        items = [_builder(item, slots) for item in spec]
        return lambda vals: tuple(item(vals) for item in items)
    return lambda vals: spec


def _attrs_builder(
    spec: dict[str, Any], slots: Mapping[str, int]
) -> Callable[[Any], dict[str, Any]]:
    parts = [(key, _builder(value, slots)) for key, value in spec.items()]
    return lambda vals: {key: part(vals) for key, part in parts}


Step = Callable[[Context], None]


def _compile_actions(
    rule: str, actions: list[_Action]
) -> Callable[[Mapping[str, int]], Callable[[Context], None]]:
    def compile_for(slots: Mapping[str, int]) -> Callable[[Context], None]:
        prepared = [_prepare(rule, action, slots) for action in actions]

        def run(ctx: Context) -> None:
            # compute every value first, so a failing expression skips them all
            try:
                steps = [prepare(ctx.vals) for prepare in prepared]
            except EVAL_ERRORS as error:
                log.warning(
                    "rule %s: actions skipped, an expression failed: %s",
                    rule,
                    error,
                    extra={"rule": rule},
                )
                return
            for step in steps:
                step(ctx)

        return run

    return compile_for


def _prepare(
    rule: str, action: _Action, slots: Mapping[str, int]
) -> Callable[[Any], Step]:
    kind = action.kind
    if kind in ("derive", "assert"):
        type_name = action.type
        attrs = _attrs_builder(action.body, slots)
        if kind == "derive":
            return lambda vals: _derive(Fact(type_name, attrs(vals)))
        return lambda vals: _assert(Fact(type_name, attrs(vals)))
    if kind == "retract":
        slot = slots[action.body]
        return lambda vals: _retract(vals[slot])
    if kind == "modify":
        fact_name, changes_spec = action.body
        slot = slots[fact_name]
        changes = _attrs_builder(changes_spec, slots)
        return lambda vals: _modify(vals[slot], changes(vals))
    parts = {key: _builder(value, slots) for key, value in action.body.items()}

    def alert(vals: Any) -> Step:
        got = {key: part(vals) for key, part in parts.items()}
        return _derive(
            alert_fact(
                got["name"],
                rule,
                got.get("severity"),
                got.get("runbook"),
                got.get("labels"),
                got.get("annotations"),
            )
        )

    return alert


def _derive(fact: Fact) -> Step:
    def step(ctx: Context) -> None:
        ctx.derive(fact)

    return step


def _assert(fact: Fact) -> Step:
    def step(ctx: Context) -> None:
        ctx.assert_fact(fact)

    return step


def _retract(fact: Fact) -> Step:
    def step(ctx: Context) -> None:
        ctx.retract(fact)

    return step


def _modify(fact: Fact, changes: dict[str, Any]) -> Step:
    def step(ctx: Context) -> None:
        ctx.modify(fact, **changes)

    return step
