"""Real Alertmanager replicas on 127.0.0.1, routing everything to a webhook receiver."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.harness.net import free_port, stop, tail, wait_ready
from tests.harness.webhook import WebhookReceiver


class AlertmanagerServer:
    """One ``prometheus-alertmanager`` process; ``peers`` makes it part of a cluster."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        receiver: WebhookReceiver,
        cluster_port: int | None = None,
        peers: list[int] | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "alertmanager.log"
        self.cluster_port = cluster_port
        self.peers = peers or []
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(yaml.safe_dump(_route_all_to(receiver.url)))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> AlertmanagerServer:
        cmd = [
            self.binary,
            f"--config.file={self.config}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        if self.cluster_port is None:
            cmd.append("--cluster.listen-address=")
        else:
            address = f"127.0.0.1:{self.cluster_port}"
            cmd += [
                f"--cluster.listen-address={address}",
                f"--cluster.advertise-address={address}",
                "--cluster.peer-timeout=1s",
                "--cluster.gossip-interval=100ms",
                "--cluster.pushpull-interval=1s",
            ]
            cmd += [f"--cluster.peer=127.0.0.1:{p}" for p in self.peers]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        wait_ready(f"{self.url}/-/ready", self.proc, self.log, timeout)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def logs(self) -> str:
        return tail(self.log)

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds, from its v2 API."""
        r = requests.get(f"{self.url}/api/v2/alerts", timeout=5)
        r.raise_for_status()
        return list(r.json())

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        r = requests.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5)
        r.raise_for_status()


def _route_all_to(url: str) -> dict[str, Any]:
    # Short timings so a test sees a notification within a second or two of the
    # alert arriving, and a resolve soon after it is sent.
    return {
        "route": {
            "receiver": "test",
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "test",
                "webhook_configs": [{"url": url, "send_resolved": True}],
            }
        ],
    }
