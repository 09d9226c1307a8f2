"""Facts: a type name plus attributes, immutable and hashable.

Two facts are equal when their types and attributes are equal, whatever the order
the attributes were given in. Attribute values must be hashable; ``dict`` values are
frozen into :class:`FrozenMap` and ``list`` values into tuples on construction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class FrozenMap(Mapping[str, Any]):
    """An immutable, hashable mapping (used for alert labels and annotations)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        items = dict(data or {}, **kwargs)
        self._data = {key: freeze(value) for key, value in items.items()}
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(self._data)


def freeze(value: Any) -> Any:
    """Return ``value`` in a hashable form: dicts and lists become frozen."""
    if isinstance(value, dict):
        return FrozenMap(value)
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value


_MASK = (1 << 61) - 1
_FROZEN = (dict, list)


def _hash(type: str, attrs: dict[str, Any]) -> int:
    """A hash that ignores attribute order: the sum of the items' hashes, so that
    :meth:`Fact.replace` can update it for the items it changes alone."""
    return (hash(type) + sum(map(hash, attrs.items()))) & _MASK


class Fact:
    """One fact: ``Fact("sli", slo="api", window="1h", ratio=0.002)``.

    Read attributes with ``fact["slo"]`` or ``fact.get("slo")``; ``fact.type`` is
    the type name. :meth:`replace` returns a copy with some attributes changed.
    """

    __slots__ = ("_attrs", "_hash", "type")

    type: str
    _attrs: dict[str, Any]
    _hash: int

    def __init__(
        self, type: str, attrs: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> None:
        merged = dict(attrs, **kwargs) if attrs else kwargs
        for key, value in merged.items():
            if isinstance(value, _FROZEN):
                merged[key] = freeze(value)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "_attrs", merged)
        object.__setattr__(self, "_hash", _hash(type, merged))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("facts are immutable; use Engine.modify")

    def __getitem__(self, key: str) -> Any:
        return self._attrs[key]

    def __contains__(self, key: object) -> bool:
        return key in self._attrs

    def get(self, key: str, default: Any = None) -> Any:
        return self._attrs.get(key, default)

    @property
    def attrs(self) -> Mapping[str, Any]:
        """The attributes as a read-only mapping."""
        return FrozenMap(self._attrs)

    def as_dict(self) -> dict[str, Any]:
        """The attributes as a new plain dict."""
        return dict(self._attrs)

    def replace(self, **changes: Any) -> Fact:
        """A copy of this fact with ``changes`` applied."""
        return self._replaced(changes)

    def _replaced(self, changes: Mapping[str, Any]) -> Fact:
        attrs = self._attrs.copy()
        digest = self._hash
        for key, value in changes.items():
            if isinstance(value, _FROZEN):
                value = freeze(value)
            if key in attrs:
                digest -= hash((key, attrs[key]))
            digest += hash((key, value))
            attrs[key] = value
        fact = object.__new__(Fact)
        setter = object.__setattr__
        setter(fact, "type", self.type)
        setter(fact, "_attrs", attrs)
        setter(fact, "_hash", digest & _MASK)
        return fact

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Fact):
            return NotImplemented
        return (
            self._hash == other._hash
            and self.type == other.type
            and self._attrs == other._attrs
        )

    def __repr__(self) -> str:
        inner = ", ".join(f"{key}={value!r}" for key, value in self._attrs.items())
        return f"{self.type}({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.type, self._attrs))


def _rebuild(type: str, attrs: dict[str, Any]) -> Fact:
    return Fact(type, attrs)
