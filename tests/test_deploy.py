"""The deploy/ examples load in the real tools they are written for."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from sentinel.config import DEFAULT_LISTEN
from tests.harness.binaries import require_binary

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@pytest.mark.integration
def test_prometheus_rules_for_sentinel_pass_promtool() -> None:
    promtool = require_binary("promtool", "prometheus")
    rules = DEPLOY / "prometheus" / "sentinel-rules.yml"
    done = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
def test_alertmanager_route_example_passes_amtool(tmp_path: Path) -> None:
    amtool = require_binary("amtool", "prometheus-alertmanager")
    route = DEPLOY / "alertmanager" / "route.yml"
    done = subprocess.run(
        [amtool, "check-config", str(route)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_scrape_job_targets_the_default_listen_address() -> None:
    job = yaml.safe_load((DEPLOY / "prometheus" / "scrape-sentinel.yml").read_text())
    targets = job["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [DEFAULT_LISTEN]


def test_systemd_unit_runs_the_daemon_and_reloads_with_sighup() -> None:
    unit = (DEPLOY / "systemd" / "sentinel.service").read_text()
    assert "ExecStart=/opt/sentinel/.venv/bin/sentinel run -c " in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
