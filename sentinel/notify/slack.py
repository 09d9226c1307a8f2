"""Slack incoming webhooks: one readable message per firing and per resolve.

The webhook URL is a secret (anyone holding it can post to the channel): it comes
from the configuration or from a file, and never appears in a log record, an error
message or the outbox. Delivery errors name the notifier, not the URL. (urllib3's
own DEBUG records do print request paths; keep that logger above DEBUG in
production.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import requests

from sentinel.alerts import Alert, AlertState
from sentinel.errors import ConfigError
from sentinel.model import format_duration
from sentinel.notify.base import (
    DEFAULT_TIMEOUT,
    Payload,
    TransitionNotifier,
    post_json,
    slo_url,
)

_CONTEXT_LABELS = ("slo", "service", "tier")


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(alert: Alert, external_url: str = "") -> Payload:
    """The message body for ``alert`` in its current state."""
    resolved = alert.state is AlertState.RESOLVED
    head = f"*{'RESOLVED' if resolved else 'FIRING'}* [{escape(alert.severity)}] "
    head += f"{escape(alert.name)}"
    summary = alert.annotations.get("summary")
    if summary:
        head += f": {escape(summary)}"
    lines = [head]

    context = [
        f"{k} `{escape(alert.labels[k])}`" for k in _CONTEXT_LABELS if k in alert.labels
    ]
    if resolved and alert.fired_at is not None and alert.resolved_at is not None:
        context.append(
            f"fired for {format_duration(alert.resolved_at - alert.fired_at)}"
        )
    if context:
        lines.append(" | ".join(context))

    description = alert.annotations.get("description")
    if description:
        lines.append(escape(description))

    links = []
    if alert.runbook_url:
        links.append(f"<{alert.runbook_url}|runbook>")
    view = slo_url(external_url, alert)
    if view:
        links.append(f"<{view}|SLO>")
    if links:
        lines.append(" | ".join(links))
    return {"text": "\n".join(lines)}


def read_webhook_url(url: str | None, url_file: str | None) -> str:
    """The webhook URL, given inline or as the first line of ``url_file``."""
    if url:
        return url.strip()
    if not url_file:
        raise ConfigError("needs webhook_url or webhook_url_file", field="slack")
    try:
        text = Path(url_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the webhook URL file: {exc.strerror}",
            field="webhook_url_file",
            value=url_file,
        ) from exc
    if not text:
        raise ConfigError("webhook URL file is empty", field="webhook_url_file")
    return text.splitlines()[0].strip()


class SlackNotifier(TransitionNotifier):
    """Posts :func:`slack_message` to a Slack incoming webhook."""

    def __init__(
        self,
        webhook_url: str | None = None,
        *,
        webhook_url_file: str | None = None,
        name: str = "slack",
        external_url: str = "",
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self._url = read_webhook_url(webhook_url, webhook_url_file)
        self.external_url = external_url
        self.timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"SlackNotifier({self.name!r})"

    def render(self, alert: Alert, now: float) -> Payload:
        return slack_message(alert, self.external_url)

    def send(self, batch: Sequence[Payload]) -> None:
        for body in batch:
            post_json(
                self._session,
                self._url,
                body,
                what=self.name,
                timeout=self.timeout,
                secret_url=True,
            )
