"""The alpha network: working memory elements and alpha memories.

Each fact in working memory is held by one :class:`WME`. The alpha network sends it
to the alpha memories whose constant tests it passes without trying them one by one:
per fact type, memories are grouped by the set of attributes they test for
constants, and each group is a dict from those attributes' values to its memories.
An assert costs one dict probe per group, whatever the number of memories.

An alpha memory keeps its WMEs in insertion order and, for every join that reads
it, an index from the joined attributes' values to the WMEs that have them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .facts import Fact

if TYPE_CHECKING:
    from .agenda import Activation
    from .beta import Token

KeyGetter = Callable[[Any], Any]


def no_key(_: object) -> None:
    return None


def key_getter(names: tuple[Any, ...]) -> KeyGetter:
    """Read ``names`` from a dict or tuple: no names gives ``None``, one gives the
    bare value, several give a tuple. Both sides of every join use this shape."""
    if not names:
        return no_key
    return itemgetter(*names)


class WME:
    """A working memory element: one fact plus the engine's bookkeeping."""

    __slots__ = ("attrs", "base", "fact", "memories", "supports", "timetag", "tokens")

    def __init__(self, fact: Fact, timetag: int, base: bool) -> None:
        self.fact = fact
        self.attrs: dict[str, Any] = fact._attrs
        self.timetag = timetag
        self.base = base
        self.supports: dict[Activation, None] | None = None
        self.tokens: dict[Token, None] = {}
        self.memories: list[AlphaMemory] = []

    def __repr__(self) -> str:
        return f"<WME {self.timetag} {self.fact!r}>"


class AlphaMemory:
    """The WMEs of one fact type that pass one set of constant tests."""

    __slots__ = ("check", "indexes", "items", "key", "removal_successors", "successors")

    def __init__(
        self, key: tuple[Any, ...], check: Callable[[dict[str, Any]], bool] | None
    ):
        self.key = key
        # tests beyond the constants (None: none)
        self.check = check
        self.items: dict[WME, None] = {}
        self.indexes: dict[
            tuple[str, ...], tuple[KeyGetter, dict[Any, dict[WME, None]]]
        ]
        self.indexes = {}
        # nodes to right-activate on add (newest first, so descendants run before
        # their ancestors and a fact matching two patterns joins with itself once)
        self.successors: list[Any] = []
        # nodes that must hear about removals (negative and exists nodes)
        self.removal_successors: list[Any] = []

    def index(self, names: tuple[str, ...]) -> dict[Any, dict[WME, None]]:
        """The index of this memory on ``names``, built on first use."""
        found = self.indexes.get(names)
        if found is not None:
            return found[1]
        getter = key_getter(names)
        table: dict[Any, dict[WME, None]] = {}
        for wme in self.items:
            table.setdefault(getter(wme.attrs), {})[wme] = None
        self.indexes[names] = (getter, table)
        return table

    def add(self, wme: WME) -> None:
        self.items[wme] = None
        for getter, table in self.indexes.values():
            key = getter(wme.attrs)
            bucket = table.get(key)
            if bucket is None:
                table[key] = {wme: None}
            else:
                bucket[wme] = None

    def remove(self, wme: WME) -> None:
        del self.items[wme]
        for getter, table in self.indexes.values():
            key = getter(wme.attrs)
            bucket = table[key]
            del bucket[wme]
            if not bucket:
                del table[key]

    def __repr__(self) -> str:
        return f"<AlphaMemory {self.key!r} {len(self.items)} items>"


class _Group:
    """Memories of one type whose constant tests read the same attributes."""

    __slots__ = ("getter", "names", "table")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.getter = key_getter(names)
        self.table: dict[Any, list[AlphaMemory]] = {}


class AlphaNetwork:
    """Alpha memories indexed by fact type and constant attribute values."""

    def __init__(self) -> None:
        self._groups: dict[str, list[_Group]] = {}
        self._memories: dict[tuple[Any, ...], AlphaMemory] = {}
        # per type, the attributes whose values decide which memories a fact is
        # in (constants and equal pairs); changing others keeps its memories
        self._tested: dict[str, set[str]] = {}

    def memory(
        self,
        type: str,
        constants: Iterable[tuple[str, Any]],
        required: Iterable[str] = (),
        same: Iterable[tuple[str, str]] = (),
        existing: Iterable[WME] = (),
    ) -> tuple[AlphaMemory, bool]:
        """Find or make the memory for these tests; say whether it is new.

        ``constants`` are attribute values to match exactly, ``required`` attributes
        must be present, ``same`` pairs of attributes must hold equal values. A new
        memory is filled from ``existing``.
        """
        constants = tuple(sorted(constants, key=lambda item: item[0]))
        required = tuple(sorted(set(required)))
        same = tuple(sorted(set(same)))
        key = (type, constants, required, same)
        memory = self._memories.get(key)
        if memory is not None:
            return memory, False

        memory = AlphaMemory(key, _make_check(required, same))
        self._memories[key] = memory
        names = tuple(name for name, _ in constants)
        tested = self._tested.setdefault(type, set())
        tested.update(names)
        for a, b in same:
            tested.update((a, b))
        values = tuple(value for _, value in constants)
        group = next((g for g in self._groups.get(type, ()) if g.names == names), None)
        if group is None:
            group = _Group(names)
            self._groups.setdefault(type, []).append(group)
        want = values[0] if len(names) == 1 else (values if names else None)
        group.table.setdefault(want, []).append(memory)
        getter = group.getter
        for wme in existing:
            if (
                wme.fact.type == type
                and _has(wme.attrs, names)
                and getter(wme.attrs) == want
                and (memory.check is None or memory.check(wme.attrs))
            ):
                memory.add(wme)
                # in the order a fresh match gives, as the engine relies on
                wme.memories = self.match(wme.fact)
        return memory, True

    def keeps_memories(self, fact: Fact, changed: Iterable[str]) -> bool:
        """Whether changing the values of ``changed`` (attributes ``fact`` has)
        leaves ``fact`` in the same memories."""
        tested = self._tested.get(fact.type)
        return tested is None or tested.isdisjoint(changed)

    def match(self, fact: Fact) -> list[AlphaMemory]:
        """The memories ``fact`` belongs in, in a fixed order."""
        groups = self._groups.get(fact.type)
        if not groups:
            return []
        attrs = fact._attrs
        found: list[AlphaMemory] = []
        for group in groups:
            try:
                key = group.getter(attrs)
            except KeyError:
                continue
            try:
                memories = group.table.get(key)
            except TypeError:  # an unhashable value matches no constant
                continue
            if memories:
                found.extend(
                    memory
                    for memory in memories
                    if memory.check is None or memory.check(attrs)
                )
        return found

    def __len__(self) -> int:
        return len(self._memories)


def _has(attrs: dict[str, Any], names: tuple[str, ...]) -> bool:
    return all(name in attrs for name in names)


def _make_check(
    required: tuple[str, ...], same: tuple[tuple[str, str], ...]
) -> Callable[[dict[str, Any]], bool] | None:
    if not required and not same:
        return None
    names = frozenset(required)
    if not same:
        if len(required) == 1:
            (only,) = required
            return lambda attrs: only in attrs
        return lambda attrs: names <= attrs.keys()

    def check(attrs: dict[str, Any]) -> bool:
        if not names <= attrs.keys():
            return False
        return all(attrs[a] == attrs[b] for a, b in same)

    return check
