"""`sentinel run` as a process: refuses bad config, reloads, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sentinel.demo_service import DemoService
from tests.harness.net import free_port

CONFIG = """\
version: sentinel/v1
global:
  interval: 1s
  state_dir: {state}
  listen: 127.0.0.1:{port}
sources:
  - name: app
    type: scrape
    targets: [{{url: "{service}/metrics"}}]
slos:
  - name: checkout
    service: shop
    objective: {objective}
    sli:
      ratio:
        bad: demo_http_requests_total{{code="500"}}
        total: demo_http_requests_total
"""


@pytest.fixture
def service() -> Iterator[DemoService]:
    s = DemoService().start()
    yield s
    s.stop()


def write(path: Path, service: DemoService, port: int, objective: str) -> None:
    path.write_text(
        CONFIG.format(
            state=path.parent / "state",
            port=port,
            service=service.url,
            objective=objective,
        )
    )


def wait_ready(url: str, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if requests.get(f"{url}/-/ready", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("not ready")


def start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sentinel", "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_refuses_to_start_with_the_checks_messages(
    tmp_path: Path, service: DemoService
) -> None:
    config = tmp_path / "sentinel.yaml"
    write(config, service, free_port(), "120")
    done = subprocess.run(
        [sys.executable, "-m", "sentinel", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"{config}:13: slos[0].objective: must be a percentage" in done.stderr
    assert "refusing to start" in done.stderr


def test_reload_keeps_running_on_a_broken_config_and_sigterm_stops_it(
    tmp_path: Path, service: DemoService
) -> None:
    config = tmp_path / "sentinel.yaml"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    write(config, service, port, "99.9")
    proc = start(config)
    try:
        wait_ready(url, proc)

        # a broken edit is refused over HTTP and on SIGHUP; the daemon keeps serving
        write(config, service, port, "120")
        refused = requests.post(f"{url}/-/reload", timeout=10)
        assert refused.status_code == 500
        assert "slos[0].objective" in refused.text
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        assert requests.get(f"{url}/-/healthy", timeout=5).ok
        slos = requests.get(f"{url}/api/v1/slos", timeout=5).json()["data"]
        assert slos[0]["objective"] == pytest.approx(0.999)

        # a good edit is taken
        write(config, service, port, "99")
        assert requests.post(f"{url}/-/reload", timeout=10).ok
        slos = requests.get(f"{url}/api/v1/slos", timeout=5).json()["data"]
        assert slos[0]["objective"] == pytest.approx(0.99)
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert 'sentinel_config_reloads_total{outcome="failed"} 2.0' in metrics

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert time.monotonic() - started < 10
        assert "sentinel stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
