"""Explanations: why a fact is in working memory.

A base fact explains itself. A derived fact is explained by each activation that
supports it: the rule, its variable bindings and the facts it matched, each of
those explained in turn, down to base facts. ``text()`` renders the tree as
indented lines; ``as_dict()`` as plain data (e.g. for JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .facts import Fact


@dataclass(frozen=True)
class Support:
    """One activation that supports a derived fact."""

    rule: str
    bindings: dict[str, Any]
    facts: tuple[Explanation, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "bindings": {k: _plain(v) for k, v in self.bindings.items()},
            "facts": [fact.as_dict() for fact in self.facts],
        }


@dataclass(frozen=True)
class Explanation:
    """Why ``fact`` holds: ``base`` if asserted directly, plus its supports."""

    fact: Fact
    base: bool
    supports: tuple[Support, ...]
    cycle: bool = False

    @property
    def derived(self) -> bool:
        return bool(self.supports)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.fact.type,
            "attrs": {k: _plain(v) for k, v in self.fact.as_dict().items()},
            "base": self.base,
        }
        if self.supports:
            out["supports"] = [support.as_dict() for support in self.supports]
        if self.cycle:
            out["cycle"] = True
        return out

    def text(self, indent: str = "  ") -> str:
        lines: list[str] = []
        self._render(lines, 0, indent)
        return "\n".join(lines)

    def _render(self, lines: list[str], depth: int, indent: str) -> None:
        kinds = []
        if self.base:
            kinds.append("base")
        if self.supports:
            kinds.append("derived")
        if self.cycle:
            kinds.append("see above")
        lines.append(f"{indent * depth}{self.fact!r}  [{', '.join(kinds)}]")
        for support in self.supports:
            bound = ", ".join(
                f"{k}={v!r}"
                for k, v in support.bindings.items()
                if not isinstance(v, Fact)
            )
            lines.append(f"{indent * (depth + 1)}by rule {support.rule!r} with {bound}")
            for fact in support.facts:
                fact._render(lines, depth + 2, indent)


def _plain(value: Any) -> Any:
    if isinstance(value, Fact):
        return repr(value)
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
