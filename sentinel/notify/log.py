"""Notifications as log records: WARNING when an alert fires, INFO when it resolves.

Useful on its own for a first run, and as a trail beside the other notifiers. It
writes through ``logging`` only; where the records go is the entry point's choice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sentinel.alerts import Alert, AlertState
from sentinel.notify.base import Payload, TransitionNotifier


class LogNotifier(TransitionNotifier):
    """Logs each firing and resolve to ``logger`` (``sentinel.notify.log``)."""

    max_batch = 100

    def __init__(self, name: str = "log", logger: logging.Logger | None = None) -> None:
        self.name = name
        self._log = logger or logging.getLogger(__name__)

    def render(self, alert: Alert, now: float) -> Payload:
        return {
            "status": "resolved" if alert.state is AlertState.RESOLVED else "firing",
            "name": alert.name,
            "fingerprint": alert.fingerprint,
            "labels": dict(alert.labels),
            "summary": alert.annotations.get("summary", ""),
            "description": alert.annotations.get("description", ""),
            "runbook_url": alert.runbook_url,
        }

    def send(self, batch: Sequence[Payload]) -> None:
        for p in batch:
            firing = p["status"] == "firing"
            labels = ",".join(
                f"{k}={v}" for k, v in sorted(p["labels"].items()) if k != "alertname"
            )
            self._log.log(
                logging.WARNING if firing else logging.INFO,
                "alert %s %s {%s}: %s%s%s",
                p["name"],
                p["status"],
                labels,
                p["summary"],
                f" [{p['description']}]" if firing and p.get("description") else "",
                f" (runbook {p['runbook_url']})" if p.get("runbook_url") else "",
                extra={"alert": p["name"], "fingerprint": p["fingerprint"]},
            )
