"""The agenda: activations waiting to fire, and conflict resolution.

Order: higher salience first; among equal salience, the activation that entered
the agenda first fires first. Entry order follows the order facts were asserted,
so the same operations always fire in the same order.

Refraction: an activation fires at most once. It leaves the agenda when it fires
or when its match goes; a changed match (a modified fact) is a new activation.
"""

from __future__ import annotations

import heapq
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .beta import Token
    from .facts import Fact
    from .network import RuleEntry

PENDING, FIRED, CANCELLED = 0, 1, 2
SUPPORT_LOST = 3  # fired, and its match has since gone


class Activation:
    """One match of one rule: its token, and what firing it derived."""

    __slots__ = ("derived", "rule", "seq", "state", "token")

    def __init__(self, rule: RuleEntry, token: Token, seq: int) -> None:
        self.rule = rule
        self.token = token
        self.seq = seq
        self.state = PENDING
        self.derived: list[Fact] | None = None

    @property
    def facts(self) -> list[Fact]:
        return self.token.facts()

    @property
    def bindings(self) -> dict[str, Any]:
        return self.rule.bindings(self.token.vals)

    def __repr__(self) -> str:
        return f"<Activation {self.rule.name} {self.facts!r}>"


class Agenda:
    """A heap of pending activations; cancelled ones are dropped lazily."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Activation]] = []
        self._live = 0
        self._seq = 0

    def __len__(self) -> int:
        return self._live

    def push(self, rule: RuleEntry, token: Token) -> Activation:
        self._seq += 1
        activation = Activation(rule, token, self._seq)
        heapq.heappush(self._heap, (-rule.salience, self._seq, activation))
        self._live += 1
        return activation

    def cancel(self, activation: Activation) -> None:
        activation.state = CANCELLED
        self._live -= 1
        heap = self._heap
        if len(heap) > 64 and len(heap) > 4 * self._live:
            self.compact()

    def compact(self) -> None:
        """Drop cancelled activations from the heap, in place (the engine's run
        loop holds the list)."""
        heap = self._heap
        heap[:] = [item for item in heap if item[2].state == PENDING]
        heapq.heapify(heap)

    def restore(self, activation: Activation) -> None:
        """Put back a popped activation that did not fire after all."""
        activation.state = PENDING
        self._live += 1
        heapq.heappush(
            self._heap, (-activation.rule.salience, activation.seq, activation)
        )

    def pop(self) -> Activation | None:
        heap = self._heap
        while heap:
            activation = heapq.heappop(heap)[2]
            if activation.state == PENDING:
                self._live -= 1
                return activation
        return None

    def pending(self) -> list[Activation]:
        """The pending activations in firing order."""
        return [item[2] for item in sorted(self._heap) if item[2].state == PENDING]

    def pending_by_rule(self) -> Counter[str]:
        return Counter(item[2].rule.name for item in self._heap if item[2].state == 0)
