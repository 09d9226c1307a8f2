"""Rules as Python data: patterns, variables, tests, ``not``, ``exists``.

::

    @rule(
        Pattern("sli", slo=V("slo"), window="1h", ratio=V("r")),
        Test(lambda r: r > 0.1),
        Not(Pattern("maintenance", slo=V("slo"))),
        salience=10,
    )
    def hot(ctx, slo, r):
        ctx.derive("hot", slo=slo, ratio=r)

A pattern attribute is a constant, a variable ``V(name)`` (bound where it first
appears, joined on afterwards) or an ``Expr("$a * 2")`` over variables bound by
earlier conditions (an equality join on a computed value). A variable that first
appears inside ``Not`` or ``Exists`` is local to it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PatternError
from .expr import Expression, parse


@dataclass(frozen=True)
class V:
    """A variable in a pattern."""

    name: str

    def __repr__(self) -> str:
        return f"${self.name}"


class Expr:
    """An expression over bound variables, e.g. ``Expr("$long * 2")``."""

    __slots__ = ("expression",)

    def __init__(self, source: str | Expression) -> None:
        self.expression = parse(source) if isinstance(source, str) else source

    def __repr__(self) -> str:
        return f"Expr({self.expression.source!r})"


class Pattern:
    """Matches facts of ``type`` whose attributes fit ``attrs``.

    ``bind`` names a variable that holds the matched fact itself (for ``retract``
    or ``modify`` in an action). Attributes named like the keyword arguments can
    be given in the positional mapping instead.
    """

    __slots__ = ("attrs", "bind", "type")

    def __init__(
        self,
        type: str,
        attrs: Mapping[str, Any] | None = None,
        /,
        *,
        bind: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.type = type
        self.attrs: dict[str, Any] = dict(attrs or {}, **kwargs)
        self.bind = bind

    def __repr__(self) -> str:
        inner = ", ".join(f"{key}={value!r}" for key, value in self.attrs.items())
        return f"{self.type}({inner})"


class Test:
    """A test over bound variables: a function whose parameter names are the
    variables it reads (``Test(lambda r: r > 0.1)``), or an expression string
    (``Test("$r > 0.1")``)."""

    __slots__ = ("function", "source", "variables")
    __test__ = False  # not a pytest test class

    def __init__(self, test: Callable[..., Any] | str | Expression) -> None:
        if isinstance(test, str | Expression):
            expression = parse(test) if isinstance(test, str) else test
            self.function: Callable[..., Any] | None = None
            self.source: Expression | None = expression
            self.variables = expression.variables
        else:
            self.function = test
            self.source = None
            self.variables = tuple(_parameters(test))

    def __repr__(self) -> str:
        if self.source is not None:
            return f"Test({self.source.source!r})"
        return f"Test({getattr(self.function, '__name__', self.function)!r})"


class _Group:
    __slots__ = ("conditions",)
    keyword = ""

    def __init__(self, *conditions: Condition) -> None:
        if not conditions:
            raise PatternError(f"{self.keyword} needs at least one condition")
        self.conditions = conditions

    def __repr__(self) -> str:
        inner = ", ".join(repr(c) for c in self.conditions)
        return f"{type(self).__name__}({inner})"


class Not(_Group):
    """True while no match of its conditions (a pattern or a conjunction) exists."""

    keyword = "not"


class Exists(_Group):
    """True while at least one match of its conditions exists; matches once."""

    keyword = "exists"


Condition = Pattern | Test | Not | Exists
Action = Callable[..., Any]


@dataclass
class Rule:
    """A production: conditions, an action, a salience.

    ``action`` is called as ``action(ctx, **vars)`` with the variables named by its
    parameters (all of them if it takes ``**kwargs``). ``compile_action``, used by
    the YAML language, instead receives the variable slots and returns a function
    of the context alone.
    """

    name: str
    conditions: tuple[Condition, ...]
    action: Action | None = None
    salience: int = 0
    description: str | None = None
    compile_action: Callable[[Mapping[str, int]], Callable[[Any], None]] | None = None
    origin: tuple[str | None, int | None] = field(default=(None, None))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.action is None:
            raise TypeError(f"rule {self.name!r} has no Python action")
        return self.action(*args, **kwargs)


def rule(
    *conditions: Condition,
    salience: int = 0,
    name: str | None = None,
    description: str | None = None,
) -> Callable[[Action], Rule]:
    """Declare a rule: decorate its action with its conditions."""
    for condition in conditions:
        if not isinstance(condition, Pattern | Test | Not | Exists):
            raise PatternError(f"not a condition: {condition!r}")

    def decorate(action: Action) -> Rule:
        return Rule(
            name=name or action.__name__.replace("_", "-"),
            conditions=conditions,
            action=action,
            salience=salience,
            description=description or inspect.getdoc(action),
        )

    return decorate


def _parameters(function: Callable[..., Any]) -> list[str]:
    """The variables a test function reads: its parameters without defaults."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    signature = inspect.signature(function)
    return [
        p.name
        for p in signature.parameters.values()
        if p.kind in kinds and p.default is inspect.Parameter.empty
    ]


def action_parameters(action: Action) -> tuple[list[str], bool]:
    """The variable names an action takes (after the context), and whether it
    takes ``**kwargs``."""
    signature = inspect.signature(action)
    names = []
    var_keyword = False
    for index, parameter in enumerate(signature.parameters.values()):
        if index == 0 and parameter.kind != inspect.Parameter.VAR_KEYWORD:
            continue  # the context
        if parameter.kind == inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
        elif parameter.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            names.append(parameter.name)
    return names, var_keyword
