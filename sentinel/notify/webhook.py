"""A generic JSON webhook: one POST per firing and per resolve.

The body, version ``1``::

    {
      "version": "1",
      "status": "firing" | "resolved",
      "alert": {
        "name": "SLOBurnRateHigh",
        "fingerprint": "3f1c0a9e5b7d2468",
        "severity": "page",
        "labels": {"alertname": "...", "slo": "...", ...},
        "annotations": {"summary": "...", "description": "...", "runbook_url": "..."},
        "startsAt": "2026-03-02T09:58:00.000Z",
        "firedAt": "2026-03-02T10:00:00.000Z",
        "endsAt": null | "2026-03-02T10:31:00.000Z",
        "runbook_url": "https://...",
        "generatorURL": "https://sentinel.example/api/v1/slos/checkout",
        "explanation": "text: the facts and rules that raised the alert" | null
      }
    }

Times are RFC 3339 in UTC. ``endsAt`` is set when resolved. Receivers should ignore
keys they do not know: later versions only add keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import requests

from sentinel.alerts import Alert, AlertState
from sentinel.notify.base import (
    DEFAULT_TIMEOUT,
    Payload,
    TransitionNotifier,
    post_json,
    rfc3339,
    safe_url,
    slo_url,
)

VERSION = "1"


def webhook_body(alert: Alert, external_url: str = "") -> Payload:
    """The documented JSON body for ``alert`` in its current state."""
    status = "resolved" if alert.state is AlertState.RESOLVED else "firing"
    return {
        "version": VERSION,
        "status": status,
        "alert": {
            "name": alert.name,
            "fingerprint": alert.fingerprint,
            "severity": alert.severity,
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(alert.active_since),
            "firedAt": _time(alert.fired_at),
            "endsAt": _time(alert.resolved_at),
            "runbook_url": alert.runbook_url,
            "generatorURL": slo_url(external_url, alert) or None,
            "explanation": alert.explanation,
        },
    }


def _time(ts: float | None) -> str | None:
    return None if ts is None else rfc3339(ts)


class WebhookNotifier(TransitionNotifier):
    """POSTs :func:`webhook_body` to ``url`` with optional extra ``headers``."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "webhook",
        headers: Mapping[str, str] | None = None,
        external_url: str = "",
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self.url = url
        self.headers = dict(headers or {})
        self.external_url = external_url
        self.timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.name!r}, {safe_url(self.url)!r})"

    def render(self, alert: Alert, now: float) -> Payload:
        return webhook_body(alert, self.external_url)

    def send(self, batch: Sequence[Payload]) -> None:
        for body in batch:
            post_json(
                self._session,
                self.url,
                body,
                what=self.name,
                timeout=self.timeout,
                headers=self.headers,
            )
