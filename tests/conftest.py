"""Fixtures shared by every test: real Prometheus and Alertmanager on loopback.

Tests that use them carry ``@pytest.mark.integration``. Without the binaries they skip
locally and fail under CI (see ``tests/harness/binaries.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.harness.alertmanager import AlertmanagerServer
from tests.harness.binaries import require_binary
from tests.harness.net import free_port
from tests.harness.openmetrics import Series
from tests.harness.prometheus import PrometheusServer
from tests.harness.webhook import WebhookReceiver

PrometheusFactory = Callable[..., PrometheusServer]


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[PrometheusFactory]:
    """Start Prometheus: ``factory(backfill=[Series, ...], scrape_targets=[...])``."""
    binary = require_binary("prometheus", "prometheus")
    promtool = require_binary("promtool", "prometheus")
    servers: list[PrometheusServer] = []

    def start(
        backfill: Iterable[Series] | None = None,
        scrape_targets: Sequence[str] = (),
        scrape_interval: str = "1s",
    ) -> PrometheusServer:
        workdir = tmp_path / f"prometheus-{len(servers)}"
        workdir.mkdir()
        server = PrometheusServer(
            binary, promtool, workdir, backfill, scrape_targets, scrape_interval
        )
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def prometheus(prometheus_factory: PrometheusFactory) -> PrometheusServer:
    """A Prometheus with no history and no scrape targets."""
    return prometheus_factory()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


AlertmanagerFactory = Callable[..., list[AlertmanagerServer]]


@pytest.fixture
def alertmanager_factory(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> Iterator[AlertmanagerFactory]:
    """Start ``replicas`` clustered Alertmanagers routing to ``webhook_receiver``."""
    binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    started: list[AlertmanagerServer] = []

    def start(replicas: int = 1) -> list[AlertmanagerServer]:
        ports = [free_port() for _ in range(replicas)] if replicas > 1 else [None]
        group = []
        for port in ports:
            peers = [p for p in ports if p is not None and p != port]
            server = AlertmanagerServer(
                binary,
                tmp_path / f"alertmanager-{len(started)}",
                webhook_receiver,
                cluster_port=port,
                peers=peers,
            )
            started.append(server)
            group.append(server)
        for server in group:
            server.start()
        return group

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def alertmanager(alertmanager_factory: AlertmanagerFactory) -> AlertmanagerServer:
    """One Alertmanager (gossip off); its notifications land in ``webhook_receiver``."""
    return alertmanager_factory(1)[0]
