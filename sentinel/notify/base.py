"""What every notifier shares: the protocol, the rows it queues, and HTTP posting.

A notifier is asked, inside the alert book's write transaction, which notifications
an evaluation produces (:meth:`Notifier.outgoing`); those are queued in the outbox as
ready-to-send JSON payloads. Later, and again after a restart, the outbox hands them
back in order to :meth:`Notifier.send`. So ``outgoing`` must not do I/O and ``send``
must not depend on anything but the payloads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from sentinel.alerts import Alert, Transition
from sentinel.errors import NotifyError

log = logging.getLogger(__name__)

Payload = dict[str, Any]

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Outgoing:
    """One notification to queue: an alert in ``status`` (firing or resolved)."""

    fingerprint: str
    status: str
    payload: Payload


class Notifier(Protocol):
    """A place notifications go.

    ``name`` is the notifier's outbox target: stable across restarts and free of
    secrets (it is logged and used as a metric label). ``send`` delivers up to
    ``max_batch`` payloads at once and raises :class:`NotifyError` when any of them
    may not have arrived. With ``coalesce``, a newer payload for an alert replaces an
    undelivered one of the same status (re-sends of the same state).
    """

    name: str
    max_batch: int
    coalesce: bool

    def outgoing(
        self, now: float, transitions: Sequence[Transition], alerts: Sequence[Alert]
    ) -> list[Outgoing]: ...

    def send(self, batch: Sequence[Payload]) -> None: ...


class TransitionNotifier:
    """Base for notifiers that get one message per transition: firing, resolved."""

    name: str = "notifier"
    max_batch: int = 1
    coalesce: bool = False

    def outgoing(
        self, now: float, transitions: Sequence[Transition], alerts: Sequence[Alert]
    ) -> list[Outgoing]:
        return [
            Outgoing(t.alert.fingerprint, t.current.value, self.render(t.alert, now))
            for t in transitions
            if t.notifies
        ]

    def render(self, alert: Alert, now: float) -> Payload:
        raise NotImplementedError


def rfc3339(ts: float) -> str:
    """Unix seconds as RFC 3339, UTC, milliseconds: ``2026-03-02T10:00:00.000Z``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def slo_url(external_url: str, alert: Alert) -> str:
    """The daemon's own view of the alert's SLO, or ``""`` without an external URL."""
    if not external_url:
        return ""
    base = external_url.rstrip("/")
    return f"{base}/api/v1/slos/{alert.slo}" if alert.slo else base


def safe_url(url: str) -> str:
    """``url`` without credentials, query or fragment: fit for names and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def post_json(
    session: requests.Session,
    url: str,
    body: Any,
    *,
    what: str,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    secret_url: bool = False,
) -> requests.Response:
    """POST ``body`` as JSON; any failure or non-2xx answer is a :class:`NotifyError`.

    ``what`` names the receiver in messages. With ``secret_url`` the error message
    and its cause carry no part of the URL (requests puts it in its own messages).
    """
    try:
        response = session.post(url, json=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        if secret_url:
            # The exception text holds the URL; chain nothing that could be logged.
            raise NotifyError(f"{what}: {type(exc).__name__}") from None
        raise NotifyError(f"{what}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        text = response.text[:200].strip()
        raise NotifyError(f"{what}: HTTP {response.status_code}: {text}")
    return response
