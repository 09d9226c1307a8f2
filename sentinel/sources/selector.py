"""PromQL series selectors, parsed so the embedded scraper can match series itself.

Grammar (a PromQL *instant vector selector*; no range, offset, ``@`` or functions)::

    selector := metric_name [ "{" [ matcher { "," matcher } [","] ] "}" ]
              | "{" matcher { "," matcher } [","] "}"
    matcher  := label_name ( "=" | "!=" | "=~" | "!~" ) string
    string   := '"' ... '"' | "'" ... "'" | "`" ... "`"

Regular expressions are anchored at both ends, as in PromQL. As in PromQL, a selector
must have a metric name or at least one matcher that does not match the empty string.
Errors are :class:`SelectorError` with the selector and the column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPS = ("=~", "!~", "!=", "=")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "`": "`"}


class SelectorError(ValueError):
    """A series selector does not parse."""

    def __init__(self, selector: str, column: int, message: str) -> None:
        self.selector = selector
        self.column = column
        super().__init__(
            f"bad series selector {selector!r} at column {column}: {message}"
        )


@dataclass(frozen=True)
class Matcher:
    """One label matcher: ``label op value``."""

    label: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_regex", re.compile(self.value))

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = self._regex.fullmatch(value) is not None  # type: ignore[attr-defined]
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Selector:
    """A parsed series selector. ``name`` is ``None`` when given only by matchers."""

    name: str | None
    matchers: tuple[Matcher, ...] = ()
    text: str = ""

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether the series ``name{labels}`` is selected (absent labels are "")."""
        if self.name is not None and name != self.name:
            return False
        for m in self.matchers:
            value = name if m.label == "__name__" else labels.get(m.label, "")
            if not m.matches(value):
                return False
        return True

    def with_name(self, name: str) -> Selector:
        """The same matchers on another metric name (``foo`` -> ``foo_bucket``)."""
        return Selector(name, self.matchers, _render(name, self.matchers))

    def __str__(self) -> str:
        return self.text or _render(self.name, self.matchers)


def _render(name: str | None, matchers: tuple[Matcher, ...]) -> str:
    inner = ",".join(f"{m.label}{m.op}{_quote(m.value)}" for m in matchers)
    if name and not matchers:
        return name
    return f"{name or ''}{{{inner}}}"


def _quote(value: str) -> str:
    return (
        '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    )


def parse_selector(text: str) -> Selector:
    """Parse ``text`` or raise :class:`SelectorError`."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str) -> SelectorError:
        return SelectorError(self.text, self.pos + 1, message)

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def parse(self) -> Selector:
        self.skip()
        name = None
        m = _NAME.match(self.text, self.pos)
        if m:
            name = m.group()
            self.pos = m.end()
            self.skip()
        matchers: tuple[Matcher, ...] = ()
        if self.pos < len(self.text) and self.text[self.pos] == "{":
            matchers = self.matchers()
        elif name is None:
            raise self.fail("expected a metric name or '{'")
        self.skip()
        if self.pos < len(self.text):
            rest = self.text[self.pos]
            hint = (
                " (ranges, offsets and functions are not allowed)"
                if rest in "[o@("
                else ""
            )
            raise self.fail(f"unexpected {rest!r}{hint}")
        for matcher in matchers:
            if matcher.label == "__name__" and matcher.op == "=":
                if name is not None and name != matcher.value:
                    raise SelectorError(self.text, 1, "metric name given twice")
                name = matcher.value
        matchers = tuple(
            m for m in matchers if not (m.label == "__name__" and m.op == "=")
        )
        if name is None and all(m.matches("") for m in matchers):
            raise SelectorError(
                self.text,
                1,
                "needs a metric name or a matcher that rejects the empty value",
            )
        return Selector(name, matchers, self.text.strip())

    def matchers(self) -> tuple[Matcher, ...]:
        self.pos += 1  # "{"
        found: list[Matcher] = []
        while True:
            self.skip()
            if self.pos < len(self.text) and self.text[self.pos] == "}":
                self.pos += 1
                return tuple(found)
            found.append(self.matcher())
            self.skip()
            if self.pos >= len(self.text):
                raise self.fail("missing '}'")
            if self.text[self.pos] == ",":
                self.pos += 1
            elif self.text[self.pos] != "}":
                raise self.fail(f"expected ',' or '}}', got {self.text[self.pos]!r}")

    def matcher(self) -> Matcher:
        m = _LABEL.match(self.text, self.pos)
        if not m:
            raise self.fail("expected a label name")
        label = m.group()
        self.pos = m.end()
        self.skip()
        op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
        if op is None:
            raise self.fail(f"expected one of {', '.join(_OPS)} after {label!r}")
        self.pos += len(op)
        self.skip()
        at = self.pos
        value = self.string()
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                self.pos = at
                raise self.fail(f"bad regular expression {value!r}: {exc}") from exc
        return Matcher(label, op, value)

    def string(self) -> str:
        if self.pos >= len(self.text) or self.text[self.pos] not in "\"'`":
            raise self.fail("expected a quoted string")
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == quote:
                self.pos += 1
                return "".join(out)
            if c == "\\" and quote != "`":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if nxt not in _ESCAPES:
                    raise self.fail(f"unknown escape \\{nxt}")
                out.append(_ESCAPES[nxt])
                self.pos += 2
                continue
            out.append(c)
            self.pos += 1
        raise self.fail("unterminated string")
