"""The beta network: tokens and the nodes that join, negate and filter them.

A token is one partial match: its parent token, the WME it added (``None`` for
nodes that add no fact), and ``vals``, the values of the rule's variables bound so
far, in binding order. Extending a token shares its parent rather than copying
it; ``vals`` is a tuple grown by concatenation.

Every node that makes tokens keeps them in *indexes*, one per node below it that
probes it, keyed on the values that node joins on. A join probes the matching
bucket of its alpha memory when a token arrives, and the matching bucket of its
parent's tokens when a fact arrives, so no activation scans a memory.

Removal follows the token tree (Doorenbos): a retracted WME lists the tokens that
hold it, and removing a token removes its descendants. Nodes that keep state per
parent token (negation, exists, conjunctive negation, the terminal) are the
parent's *watchers* and hear of each removal before the descendants go.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from heapq import heappush
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .agenda import CANCELLED, PENDING, SUPPORT_LOST, Activation
from .alpha import WME, AlphaMemory, KeyGetter, no_key
from .expr import EVAL_ERRORS

if TYPE_CHECKING:
    from .network import Engine, RuleEntry

log = logging.getLogger(__name__)

Vals = tuple[Any, ...]
_new = object.__new__
Check = Callable[[Vals], Any]
FAILED_KEY = object()
"""The join key of a token whose key expression failed; it matches no fact."""


class Token:
    """A partial match (see the module docs).

    ``keys`` holds the token's keys in its node's indexes: the bare key when the
    node has one index, a tuple of them when it has several, else ``None``.
    """

    __slots__ = ("children", "keys", "node", "parent", "vals", "wme")

    def __init__(
        self,
        parent: Token | None,
        wme: WME | None,
        vals: Vals,
        node: Any,
        keys: Any = None,
    ):
        self.parent = parent
        self.wme = wme
        self.vals = vals
        self.node = node
        self.children: dict[Token, None] | None = None
        self.keys = keys

    def facts(self) -> list[Any]:
        """The facts of this match, first condition first."""
        out = []
        token: Token | None = self
        while token is not None:
            if token.wme is not None:
                out.append(token.wme.fact)
            token = token.parent
        out.reverse()
        return out


Index = tuple[KeyGetter, dict[Any, dict[Token, None]]]


class MemoryNode:
    """Base of the nodes that make tokens."""

    __slots__ = ("children", "index", "indexes", "under_root", "watchers")

    def __init__(self) -> None:
        self.children: list[Any] = []
        self.watchers: list[Any] = []
        self.indexes: list[Index] = []
        self.index: Index | None = None  # the only index, when there is one
        # whether this node's tokens extend the root token, which is never removed
        # and so need not know its children
        self.under_root = False

    def add_index(self, getter: KeyGetter) -> dict[Any, dict[Token, None]]:
        table: dict[Any, dict[Token, None]] = {}
        self.indexes.append((getter, table))
        self.index = self.indexes[0] if len(self.indexes) == 1 else None
        return table

    def emit(self, parent: Token, wme: WME | None, vals: Vals) -> Token:
        """Make a token below ``parent``, index it, and pass it down."""
        # Token's fields set here, not by calling Token(): no Python __init__ frame
        token = _new(Token)
        token.parent = parent
        token.wme = wme
        token.vals = vals
        token.node = self
        token.children = None
        index = self.index
        if index is not None:
            getter, table = index
            try:
                key = getter(vals)
            except EVAL_ERRORS:
                key = FAILED_KEY
            token.keys = key
            bucket = table.get(key)
            if bucket is None:
                table[key] = {token: None}
            else:
                bucket[token] = None
        elif self.indexes:
            indexes = self.indexes
            token.keys = keys = tuple(_key(getter, vals) for getter, _ in indexes)
            for (_, table), key in zip(indexes, keys, strict=True):
                bucket = table.get(key)
                if bucket is None:
                    table[key] = {token: None}
                else:
                    bucket[token] = None
        else:
            token.keys = None
        if not self.under_root:
            siblings = parent.children
            if siblings is None:
                parent.children = {token: None}
            else:
                siblings[token] = None
        if wme is not None:
            wme.tokens[token] = None
        for child in self.children:
            child.activate(token)
        return token


def _key(getter: KeyGetter, vals: Vals) -> Any:
    try:
        return getter(vals)
    except EVAL_ERRORS:
        return FAILED_KEY


def remove_token(token: Token) -> None:
    """Remove ``token`` and everything below it."""
    siblings = token.parent.children if token.parent is not None else None
    if siblings is not None:
        siblings.pop(token, None)
    drop_token(token)


def drop_token(token: Token) -> None:
    """Remove ``token`` and everything below it, once its parent has let go."""
    node = token.node
    index = node.index
    if index is not None:
        table = index[1]
        key = token.keys
        bucket = table[key]
        del bucket[token]
        if not bucket:
            del table[key]
    elif node.indexes:
        for (_, table), key in zip(node.indexes, token.keys, strict=True):
            bucket = table[key]
            del bucket[token]
            if not bucket:
                del table[key]
    for watcher in node.watchers:
        watcher.deactivate(token)
    children = token.children
    if children:
        token.children = None
        for child in children:
            drop_token(child)
    wme = token.wme
    if wme is not None:
        wme.tokens.pop(token, None)


def run_checks(checks: list[Check], vals: Vals) -> bool:
    """Apply tests to ``vals``; a test that fails to evaluate counts as false."""
    for check in checks:
        try:
            if not check(vals):
                return False
        except EVAL_ERRORS as error:
            log.warning(
                "test %r failed to evaluate (%s); treated as false", check, error
            )
            return False
    return True


class RootNode(MemoryNode):
    """The top of the beta network: one empty token."""

    __slots__ = ("token",)

    def __init__(self) -> None:
        super().__init__()
        self.token = Token(None, None, (), self)

    def add_index(self, getter: KeyGetter) -> dict[Any, dict[Token, None]]:
        # the root token is never removed, so it need not remember its keys
        table = super().add_index(getter)
        table[_key(getter, ())] = {self.token: None}
        return table


class JoinNode(MemoryNode):
    """Joins tokens with the WMEs of an alpha memory on equal key values.

    ``left_key`` reads the key from a token's ``vals``, ``right_key`` from a WME's
    attributes; ``extend`` gives the values the pattern binds; ``checks`` are the
    rule's tests placed here because their variables are bound by now.
    """

    __slots__ = (
        "checks",
        "extend",
        "left",
        "left_key",
        "pick",
        "pick_one",
        "right",
        "right_key",
    )

    def __init__(
        self,
        parent: MemoryNode,
        memory: AlphaMemory,
        left_key: KeyGetter,
        right_names: tuple[str, ...],
        right_key: KeyGetter,
        extend: Callable[[WME], Vals] | None,
        binds: tuple[str, ...] = (),
    ) -> None:
        """``binds``, if given, names the attributes ``extend`` reads (when it
        reads nothing else), so that they can be read without calling it."""
        super().__init__()
        self.left = parent.add_index(left_key)
        self.right = memory.index(right_names)
        self.left_key = left_key
        self.right_key = None if right_key is no_key else right_key
        self.extend = extend
        self.pick = itemgetter(*binds) if binds else None
        self.pick_one = len(binds) == 1
        self.checks: list[Check] = []

    def activate(self, token: Token) -> None:
        try:
            key = self.left_key(token.vals)
        except EVAL_ERRORS:
            return
        bucket = self.right.get(key)
        if not bucket:
            return
        extend = self.extend
        pick = self.pick
        pick_one = self.pick_one
        checks = self.checks
        base = token.vals
        for wme in bucket:
            if pick is not None:
                vals = base + ((pick(wme.attrs),) if pick_one else pick(wme.attrs))
            elif extend is not None:
                vals = base + extend(wme)
            else:
                vals = base
            if checks:
                passed = True
                try:
                    for check in checks:
                        if not check(vals):
                            passed = False
                            break
                except EVAL_ERRORS:
                    run_checks(checks, vals)  # logs which test failed
                    continue
                if not passed:
                    continue
            self.emit(token, wme, vals)

    def right_activate(self, wme: WME) -> None:
        right_key = self.right_key
        bucket = self.left.get(None if right_key is None else right_key(wme.attrs))
        if not bucket:
            return
        pick = self.pick
        if pick is not None:
            added = (pick(wme.attrs),) if self.pick_one else pick(wme.attrs)
        elif self.extend is not None:
            added = self.extend(wme)
        else:
            added = ()
        checks = self.checks
        for token in bucket:
            vals = token.vals + added
            if checks:
                passed = True
                try:
                    for check in checks:
                        if not check(vals):
                            passed = False
                            break
                except EVAL_ERRORS:
                    run_checks(checks, vals)  # logs which test failed
                    continue
                if not passed:
                    continue
            self.emit(token, wme, vals)


class NegativeNode(MemoryNode):
    """``not`` (or, with ``exists``, ``exists``) over one pattern.

    Counts, per parent token, the WMEs that match it; passes the token on while the
    count is zero (``not``) or above zero (``exists``).
    """

    __slots__ = (
        "counts",
        "exists",
        "left",
        "left_key",
        "outputs",
        "right",
        "right_key",
    )

    def __init__(
        self,
        parent: MemoryNode,
        memory: AlphaMemory,
        left_key: KeyGetter,
        right_names: tuple[str, ...],
        right_key: KeyGetter,
        exists: bool,
    ) -> None:
        super().__init__()
        self.left = parent.add_index(left_key)
        self.right = memory.index(right_names)
        self.left_key = left_key
        self.right_key = right_key
        self.exists = exists
        self.counts: dict[Token, int] = {}
        self.outputs: dict[Token, Token] = {}

    def activate(self, token: Token) -> None:
        try:
            bucket = self.right.get(self.left_key(token.vals))
        except EVAL_ERRORS:
            bucket = None
        count = len(bucket) if bucket else 0
        self.counts[token] = count
        if (count > 0) == self.exists:
            self.outputs[token] = self.emit(token, None, token.vals)

    def deactivate(self, token: Token) -> None:
        self.counts.pop(token, None)
        self.outputs.pop(token, None)

    def right_activate(self, wme: WME) -> None:
        bucket = self.left.get(self.right_key(wme.attrs))
        if not bucket:
            return
        counts = self.counts
        for token in list(bucket):
            count = counts[token]
            counts[token] = count + 1
            if count == 0:
                if self.exists:
                    self._open(token)
                else:
                    self._close(token)

    def right_deactivate(self, wme: WME) -> None:
        bucket = self.left.get(self.right_key(wme.attrs))
        if not bucket:
            return
        counts = self.counts
        for token in list(bucket):
            count = counts[token] - 1
            counts[token] = count
            if count == 0:
                if self.exists:
                    self._close(token)
                else:
                    self._open(token)

    def _open(self, token: Token) -> None:
        self.outputs[token] = self.emit(token, None, token.vals)

    def _close(self, token: Token) -> None:
        output = self.outputs.pop(token, None)
        if output is not None:
            remove_token(output)


class TestNode(MemoryNode):
    """Filters tokens by tests when no join precedes them in their segment."""

    __slots__ = ("checks",)

    def __init__(self) -> None:
        super().__init__()
        self.checks: list[Check] = []

    def activate(self, token: Token) -> None:
        if run_checks(self.checks, token.vals):
            self.emit(token, None, token.vals)


class ConjunctiveNode(MemoryNode):
    """``not`` or ``exists`` over a conjunction of conditions.

    The conjunction is a subnetwork that starts below this node's parent; this node
    drives its first node itself, so each parent token is counted against the
    subnetwork before this node decides whether to pass it on. The subnetwork's
    matches reach :class:`ConjunctivePartner`, which finds the parent token they
    extend (``depth`` steps up) and updates its count.
    """

    __slots__ = ("counts", "exists", "outputs", "settling", "sub")

    def __init__(self, exists: bool) -> None:
        super().__init__()
        self.exists = exists
        self.sub: Any = None
        self.counts: dict[Token, int] = {}
        self.outputs: dict[Token, Token] = {}
        self.settling: set[Token] = set()

    def activate(self, token: Token) -> None:
        self.counts[token] = 0
        self.settling.add(token)
        try:
            self.sub.activate(token)
        finally:
            self.settling.discard(token)
        if (self.counts[token] > 0) == self.exists:
            self._open(token)

    def deactivate(self, token: Token) -> None:
        self.counts.pop(token, None)
        self.outputs.pop(token, None)

    def result_added(self, owner: Token) -> None:
        count = self.counts.get(owner)
        if count is None:
            return
        self.counts[owner] = count + 1
        if count == 0 and owner not in self.settling:
            if self.exists:
                self._open(owner)
            else:
                self._close(owner)

    def result_removed(self, owner: Token) -> None:
        count = self.counts.get(owner)
        if count is None:
            return
        self.counts[owner] = count - 1
        if count == 1 and owner not in self.settling:
            if self.exists:
                self._close(owner)
            else:
                self._open(owner)

    def _open(self, token: Token) -> None:
        self.outputs[token] = self.emit(token, None, token.vals)

    def _close(self, token: Token) -> None:
        output = self.outputs.pop(token, None)
        if output is not None:
            remove_token(output)


class ConjunctivePartner:
    """Receives the matches of a conjunctive node's subnetwork."""

    __slots__ = ("depth", "owner")

    def __init__(self, owner: ConjunctiveNode, depth: int) -> None:
        self.owner = owner
        self.depth = depth

    def _owner_of(self, token: Token) -> Token:
        for _ in range(self.depth):
            assert token.parent is not None
            token = token.parent
        return token

    def activate(self, token: Token) -> None:
        self.owner.result_added(self._owner_of(token))

    def deactivate(self, token: Token) -> None:
        self.owner.result_removed(self._owner_of(token))


class TerminalNode:
    """The end of a rule: a token here is an activation on the agenda.

    Pushing onto and cancelling from the agenda are inlined here (see
    :class:`~.agenda.Agenda`): every match that comes or goes passes through.
    """

    __slots__ = ("engine", "entry", "priority")

    def __init__(self, engine: Engine, entry: RuleEntry) -> None:
        self.engine = engine
        self.entry = entry
        self.priority = -entry.salience

    def activate(self, token: Token) -> None:
        engine = self.engine
        agenda = engine._agenda
        agenda._seq = seq = agenda._seq + 1
        activation = _new(Activation)  # Activation's fields, without its __init__
        activation.rule = self.entry
        activation.token = token
        activation.seq = seq
        activation.state = PENDING
        activation.derived = None
        heappush(agenda._heap, (self.priority, seq, activation))
        agenda._live += 1
        engine._activations[token] = activation

    def deactivate(self, token: Token) -> None:
        engine = self.engine
        activation = engine._activations.pop(token)
        if activation.state == PENDING:
            activation.state = CANCELLED
            agenda = engine._agenda
            agenda._live -= 1
            heap = agenda._heap
            if len(heap) > 64 and len(heap) > 4 * agenda._live:
                agenda.compact()
        elif activation.derived:
            engine._lost(activation)
        else:
            activation.state = SUPPORT_LOST
