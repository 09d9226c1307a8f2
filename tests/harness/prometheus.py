"""A real Prometheus on 127.0.0.1, optionally with backfilled history and targets."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.harness.net import free_port, stop, tail, wait_ready
from tests.harness.openmetrics import Series, write_openmetrics

# Backfilled blocks older than the retention are deleted at start: keep it well beyond
# the longest history a test writes (30 days plus alert windows).
RETENTION = "90d"


class PrometheusServer:
    """One ``prometheus`` process with its own data directory and port."""

    def __init__(
        self,
        binary: str,
        promtool: str,
        workdir: Path,
        backfill: Iterable[Series] | None = None,
        scrape_targets: Sequence[str] = (),
        scrape_interval: str = "1s",
    ) -> None:
        self.binary = binary
        self.promtool = promtool
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "prometheus.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._write_config(scrape_targets, scrape_interval)
        if backfill is not None:
            self._backfill(list(backfill))
        self.proc: subprocess.Popen[bytes] | None = None

    def _write_config(self, targets: Sequence[str], interval: str) -> None:
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval}
        }
        if targets:
            config["scrape_configs"] = [
                {"job_name": "test", "static_configs": [{"targets": list(targets)}]}
            ]
        self.config = self.workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))

    def _backfill(self, series: list[Series]) -> None:
        source = write_openmetrics(series, self.workdir / "backfill.om")
        # One block for the whole history: the default 2h blocks take ~100x longer.
        cmd = [
            self.promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=744h",
            str(source),
            str(self.data),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"promtool failed ({done.returncode}): {done.stderr or done.stdout}"
            )

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        cmd = [
            self.binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.data}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        wait_ready(f"{self.url}/-/ready", self.proc, self.log, timeout)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def logs(self) -> str:
        return tail(self.log)

    def query(self, expr: str, time: float | None = None) -> dict[str, Any]:
        """Run an instant query and return its ``data`` (``resultType``, ``result``)."""
        params: dict[str, Any] = {"query": expr}
        if time is not None:
            params["time"] = time
        r = requests.get(f"{self.url}/api/v1/query", params=params, timeout=10)
        body = r.json()
        if r.status_code != 200 or body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {r.status_code} {body}")
        return dict(body["data"])

    def wait_for_targets(self, up: int, timeout: float = 30.0) -> None:
        """Wait until ``up`` scrape targets report healthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = requests.get(f"{self.url}/api/v1/targets", timeout=5).json()
            active = r["data"]["activeTargets"]
            if sum(t["health"] == "up" for t in active) >= up:
                return
            time.sleep(0.2)
        raise RuntimeError(f"fewer than {up} targets up after {timeout}s")
