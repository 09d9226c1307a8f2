"""The expression language of rule tests and actions.

Grammar, loosest binding first::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)*   (chained)
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/" | "%") unary)*
    unary   := ("-" | "+") unary | atom
    atom    := number | string | true | false | null | $var
             | name "(" [expr ("," expr)*] ")" | "(" expr ")"

Source text is tokenized and parsed here into a small tree of tuples, checked
against the known functions, and compiled into nested Python closures over a
token's binding tuple. No user text ever reaches ``eval``, ``exec`` or
``compile``.

At run time an expression may fail: division or modulo by zero, or operands of
the wrong type (``"a" - 1``, ``"a" < 1``). Those raise one of :data:`EVAL_ERRORS`;
the engine treats a failing test as false and skips an activation whose action
values fail, logging a warning in both cases. ``and``, ``or`` and ``not`` always
give a bool; ``and`` and ``or`` short-circuit.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RuleSyntaxError, UnboundVariableError, UnknownFunctionError

Evaluator = Callable[[tuple[Any, ...]], Any]

EVAL_ERRORS: tuple[type[Exception], ...] = (ArithmeticError, TypeError, ValueError)
"""What a compiled expression may raise at run time."""


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# name -> (function, min args, max args or None)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "min": (min, 2, None),
    "max": (max, 2, None),
    "abs": (abs, 1, 1),
    "round": (round, 1, 2),
    "is_nan": (_is_nan, 1, 1),
}

_LITERALS = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_KEYWORDS = {"and", "or", "not"}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|<|>|\+|-|\*|/|%|\(|\)|,)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}

# A parsed expression is a tree of tuples:
#   ("const", value) ("var", name) ("neg", x) ("pos", x) ("not", x)
#   ("arith", op, left, right) ("and", [x...]) ("or", [x...])
#   ("compare", first, [(op, x)...]) ("call", name, [x...])
Tree = tuple[Any, ...]


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source, tree and the variables it reads."""

    source: str
    tree: Tree
    variables: tuple[str, ...]

    def compile(self, slots: Mapping[str, int]) -> Evaluator:
        """Compile to a closure over a binding tuple laid out as ``slots``."""
        for name in self.variables:
            if name not in slots:
                raise UnboundVariableError(
                    f'unbound variable ${name} in "{self.source}"', text=self.source
                )
        return _compile(self.tree, slots)

    def constant(self) -> Any:
        """Evaluate an expression with no variables."""
        return _compile(self.tree, {})(())


def parse(source: str) -> Expression:
    """Parse ``source``; raise :class:`RuleSyntaxError` or
    :class:`UnknownFunctionError` (with ``text`` set to ``source``)."""
    parser = _Parser(source, _tokenize(source))
    tree = parser.expression(0)
    if parser.peek() is not None:
        parser.fail(f"unexpected {parser.peek_text()!r}")
    variables: list[str] = []
    _collect(tree, variables)
    return Expression(source, tree, tuple(variables))


def _tokenize(source: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise RuleSyntaxError(
                f"unexpected character {source[pos]!r} at column {pos + 1} "
                f'in "{source}"',
                text=source,
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group(), pos))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, source: str, tokens: list[tuple[str, str, int]]) -> None:
        self.source = source
        self.tokens = tokens
        self.pos = 0

    def fail(self, message: str) -> None:
        raise RuleSyntaxError(f'{message} in "{self.source}"', text=self.source)

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def peek_text(self) -> str:
        token = self.peek()
        return token[1] if token else "end of expression"

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            self.fail("unexpected end of expression")
            raise AssertionError  # unreachable; fail() raises
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.peek()
        if token is None or token[1] != text:
            self.fail(f"expected {text!r} but found {self.peek_text()!r}")
        self.pos += 1

    def at(self, *texts: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] in ("op", "name") and token[1] in texts:
            return token[1]
        return None

    def expression(self, level: int) -> Tree:
        return self._or()

    def _or(self) -> Tree:
        items = [self._and()]
        while self.at("or"):
            self.pos += 1
            items.append(self._and())
        return items[0] if len(items) == 1 else ("or", items)

    def _and(self) -> Tree:
        items = [self._not()]
        while self.at("and"):
            self.pos += 1
            items.append(self._not())
        return items[0] if len(items) == 1 else ("and", items)

    def _not(self) -> Tree:
        if self.at("not"):
            self.pos += 1
            return ("not", self._not())
        return self._compare()

    def _compare(self) -> Tree:
        first = self._sum()
        rest = []
        while op := self.at(*_COMPARE):
            self.pos += 1
            rest.append((op, self._sum()))
        return ("compare", first, rest) if rest else first

    def _sum(self) -> Tree:
        left = self._product()
        while op := self.at("+", "-"):
            self.pos += 1
            left = ("arith", op, left, self._product())
        return left

    def _product(self) -> Tree:
        left = self._unary()
        while op := self.at("*", "/", "%"):
            self.pos += 1
            left = ("arith", op, left, self._unary())
        return left

    def _unary(self) -> Tree:
        if op := self.at("-", "+"):
            self.pos += 1
            return ("neg" if op == "-" else "pos", self._unary())
        return self._atom()

    def _atom(self) -> Tree:
        kind, text, _ = self.take()
        if kind == "number":
            is_float = any(c in text for c in ".eE")
            return ("const", float(text) if is_float else int(text))
        if kind == "string":
            return ("const", _unquote(text))
        if kind == "var":
            return ("var", text[1:])
        if kind == "name":
            if text in _LITERALS:
                return ("const", _LITERALS[text])
            if text in _KEYWORDS:
                self.fail(f"unexpected {text!r}")
            return self._call(text)
        if text == "(":
            inner = self._or()
            self.expect(")")
            return inner
        self.fail(f"unexpected {text!r}")
        raise AssertionError  # unreachable

    def _call(self, name: str) -> Tree:
        if name not in FUNCTIONS:
            if self.at("("):
                known = ", ".join(sorted(FUNCTIONS))
                raise UnknownFunctionError(
                    f'unknown function {name}() in "{self.source}" (known: {known})',
                    text=self.source,
                )
            self.fail(f"unknown name {name!r} (variables start with '$')")
        self.expect("(")
        args: list[Tree] = []
        if not self.at(")"):
            args.append(self._or())
            while self.at(","):
                self.pos += 1
                args.append(self._or())
        self.expect(")")
        _, low, high = FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            want = (
                str(low)
                if low == high
                else f"{low}+"
                if high is None
                else f"{low}-{high}"
            )
            self.fail(f"{name}() takes {want} arguments, got {len(args)}")
        return ("call", name, args)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _collect(tree: Tree, out: list[str]) -> None:
    kind = tree[0]
    if kind == "var":
        if tree[1] not in out:
            out.append(tree[1])
    elif kind in ("neg", "pos", "not"):
        _collect(tree[1], out)
    elif kind == "arith":
        _collect(tree[2], out)
        _collect(tree[3], out)
    elif kind in ("and", "or", "call"):
        for item in tree[-1]:
            _collect(item, out)
    elif kind == "compare":
        _collect(tree[1], out)
        for _, item in tree[2]:
            _collect(item, out)


def _compile(tree: Tree, slots: Mapping[str, int]) -> Evaluator:
    kind = tree[0]
    if kind == "const":
        value = tree[1]
        return lambda vals: value
    if kind == "var":
        return operator.itemgetter(slots[tree[1]])
    if kind == "neg":
        inner = _compile(tree[1], slots)
        return lambda vals: -inner(vals)
    if kind == "pos":
        inner = _compile(tree[1], slots)
        return lambda vals: +inner(vals)
    if kind == "not":
        inner = _compile(tree[1], slots)
        return lambda vals: not inner(vals)
    if kind == "arith":
        return _compile_arith(tree, slots)
    if kind == "and":
        parts = [_compile(item, slots) for item in tree[1]]
        return lambda vals: all(part(vals) for part in parts)
    if kind == "or":
        parts = [_compile(item, slots) for item in tree[1]]
        return lambda vals: any(part(vals) for part in parts)
    if kind == "compare":
        return _compile_compare(tree, slots)
    if kind == "call":
        function = FUNCTIONS[tree[1]][0]
        args = [_compile(item, slots) for item in tree[2]]
        return lambda vals: function(*[arg(vals) for arg in args])
    raise AssertionError(f"unknown expression node {kind}")


def _compile_arith(tree: Tree, slots: Mapping[str, int]) -> Evaluator:
    op = _ARITH[tree[1]]
    left = _compile(tree[2], slots)
    if tree[3][0] == "const":
        constant = tree[3][1]
        return lambda vals: op(left(vals), constant)
    right = _compile(tree[3], slots)
    return lambda vals: op(left(vals), right(vals))


def _compile_compare(tree: Tree, slots: Mapping[str, int]) -> Evaluator:
    first = _compile(tree[1], slots)
    rest = [(_COMPARE[op], _compile(item, slots)) for op, item in tree[2]]
    if len(rest) == 1:
        op, second = rest[0]
        if tree[2][0][1][0] == "const":
            constant = tree[2][0][1][1]
            return lambda vals: op(first(vals), constant)
        return lambda vals: op(first(vals), second(vals))

    def chained(vals: tuple[Any, ...]) -> bool:
        left = first(vals)
        for compare, item in rest:
            right = item(vals)
            if not compare(left, right):
                return False
            left = right
        return True

    return chained
