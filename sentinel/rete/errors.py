"""Errors raised by the production system.

::

    ReteError
    ├── RuleError              a rule is invalid (file, line, rule, text)
    │   ├── RuleSyntaxError    YAML or expression syntax
    │   ├── UnboundVariableError
    │   ├── UnknownFunctionError
    │   ├── PatternError       a malformed pattern or action
    │   ├── UnknownKeyError    a key the rule language does not know
    │   └── VersionError       a missing or unsupported ``version``
    └── RunLimitError          ``run(limit)`` stopped a rule set that kept firing

The package is independent of the rest of Sentinel, so these derive from
``Exception``; Sentinel re-exports :class:`RuleError` in its own tree.
"""

from __future__ import annotations

from collections.abc import Mapping


class ReteError(Exception):
    """Root of the errors raised by :mod:`sentinel.rete`."""


class RuleError(ReteError):
    """A rule cannot be loaded.

    ``str(error)`` reads ``file:line: rule 'name': reason``; the parts are kept as
    attributes: ``file``, ``line`` (1-based), ``rule``, ``text`` (the offending
    source text) and ``reason`` (the message without the location).
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        rule: str | None = None,
        text: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.rule = rule
        self.text = text
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        named = f"rule {rule!r}: " if rule is not None else ""
        super().__init__(f"{where}{named}{reason}")


class RuleSyntaxError(RuleError):
    """The YAML or an expression in it does not parse."""


class UnboundVariableError(RuleError):
    """A test or action uses a variable no earlier pattern binds."""


class UnknownFunctionError(RuleError):
    """An expression calls a function the rule language does not have."""


class PatternError(RuleError):
    """A pattern, condition or action has the wrong shape."""


class UnknownKeyError(RuleError):
    """A mapping has a key the rule language does not know."""


class VersionError(RuleError):
    """The rule file's ``version`` is missing or not supported."""


class RunLimitError(ReteError):
    """``run(limit)`` fired ``limit`` activations and more were still pending.

    ``fired`` counts the firings of this run per rule; ``pending`` counts the
    activations left on the agenda per rule.
    """

    def __init__(
        self, limit: int, fired: Mapping[str, int], pending: Mapping[str, int]
    ):
        self.limit = limit
        self.fired = dict(fired)
        self.pending = dict(pending)
        top = sorted(self.fired.items(), key=lambda kv: (-kv[1], kv[0]))
        fired_text = ", ".join(f"{name!r} ({count})" for name, count in top)
        pending_text = ", ".join(
            f"{name!r} ({count})" for name, count in sorted(self.pending.items())
        )
        super().__init__(
            f"run stopped after {limit} firings with activations still pending; "
            f"fired: {fired_text}; pending: {pending_text}"
        )
