"""Sentinel's exception tree.

::

    SentinelError
    ├── ConfigError        a configuration file is invalid (file, line, field, value)
    ├── RuleError          a rule file is invalid (re-exported from sentinel.rete)
    ├── SourceError        an SLI source failed to read (HTTP or parse errors)
    ├── StoreError         the SQLite store failed or is unusable
    └── NotifyError        a notifier failed to deliver

Third-party failures are caught at the edge that calls the library and re-raised as one
of these, chained with ``from`` so the cause stays visible.
"""

from __future__ import annotations


class SentinelError(Exception):
    """Root of every error Sentinel raises on purpose."""


class ConfigError(SentinelError):
    """A configuration file is invalid.

    The message names the file, the line when known, the field path and the value.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        value: object = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.value = value
        self.reason = message
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        at = f"{field}: " if field else ""
        super().__init__(f"{where}{at}{message}")


class SourceError(SentinelError):
    """An SLI source could not read its data."""


class StoreError(SentinelError):
    """The SQLite store failed."""


class NotifyError(SentinelError):
    """A notifier could not deliver a notification."""
