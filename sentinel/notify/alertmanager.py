"""Prometheus Alertmanager, API v2: what Prometheus itself sends it.

Alertmanager forgets an alert whose ``endsAt`` has passed, and it deduplicates what it
is sent. So, like Prometheus, Sentinel re-sends every firing alert at every evaluation
with ``endsAt`` leased ahead, ``now + 4 x max(evaluation interval, 1m)``: a lease
shorter than the interval would let the alert expire between pushes and flap between
resolved and firing. A resolve is explicit (``endsAt`` = the resolve time) and is sent
again at every evaluation for ``resolve_resend_s`` (15 minutes), so a replica that
missed the first one still hears it.

Every replica of a cluster is its own notifier, and so its own outbox target: one
replica being down neither blocks nor repeats delivery to the others. The replicas
deduplicate notifications among themselves.

While a replica is unreachable its queue keeps one row per alert and status: each
re-send replaces the undelivered one, so what arrives when it is back carries a live
lease. An alert that fired and resolved entirely while a replica was down reaches it
as a firing push whose lease has lapsed, then the resolve: Alertmanager records it,
and, as with Prometheus in the same outage, does not page for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests

from sentinel.alerts import Alert, AlertState, Transition
from sentinel.notify.base import (
    DEFAULT_TIMEOUT,
    Outgoing,
    Payload,
    post_json,
    rfc3339,
    safe_url,
    slo_url,
)

RESOLVE_RESEND_S = 15 * 60.0


def lease(interval_s: float) -> float:
    """How far ahead ``endsAt`` is set for a firing alert."""
    return 4 * max(interval_s, 60.0)


class AlertmanagerNotifier:
    """One Alertmanager replica at ``url`` (e.g. ``http://am-0:9093``).

    ``interval_s`` is the evaluation interval the lease is derived from;
    ``external_url`` is where the daemon's own API is reached, for ``generatorURL``.
    """

    max_batch = 200
    coalesce = True

    def __init__(
        self,
        url: str,
        *,
        interval_s: float = 60.0,
        external_url: str = "",
        name: str = "alertmanager",
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        resolve_resend_s: float = RESOLVE_RESEND_S,
    ) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.name = f"{name}@{safe_url(url).split('://', 1)[-1].rstrip('/')}"
        self.lease_s = lease(interval_s)
        self.external_url = external_url
        self.resolve_resend_s = resolve_resend_s
        self.timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"AlertmanagerNotifier({self.name!r})"

    def outgoing(
        self, now: float, transitions: Sequence[Transition], alerts: Sequence[Alert]
    ) -> list[Outgoing]:
        """Every firing alert, leased; every resolve of the last 15 minutes."""
        out = []
        for alert in alerts:
            if alert.state is AlertState.FIRING:
                payload = self.render(alert, now + self.lease_s)
            elif alert.state is AlertState.RESOLVED and alert.resolved_at is not None:
                if now - alert.resolved_at > self.resolve_resend_s:
                    continue
                payload = self.render(alert, alert.resolved_at)
            else:
                continue
            out.append(Outgoing(alert.fingerprint, alert.state.value, payload))
        return out

    def render(self, alert: Alert, ends_at: float) -> Payload:
        payload: Payload = {
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(alert.active_since),
            "endsAt": rfc3339(ends_at),
        }
        generator = slo_url(self.external_url, alert)
        if generator:
            payload["generatorURL"] = generator
        return payload

    def send(self, batch: Sequence[Payload]) -> None:
        post_json(
            self._session,
            self.url,
            list(batch),
            what=self.name,
            timeout=self.timeout,
        )


def alertmanager_cluster(
    urls: Sequence[str],
    *,
    interval_s: float = 60.0,
    external_url: str = "",
    name: str = "alertmanager",
    session: requests.Session | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[AlertmanagerNotifier]:
    """One notifier per replica URL, sharing the session and the settings."""
    session = session or requests.Session()
    return [
        AlertmanagerNotifier(
            url,
            interval_s=interval_s,
            external_url=external_url,
            name=name,
            session=session,
            timeout=timeout,
        )
        for url in urls
    ]
