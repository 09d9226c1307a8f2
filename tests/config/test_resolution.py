"""global.resolution: the width of a history bucket, never wider than the interval."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.config import Config, ConfigErrors, load_config


def load(tmp_path: Path, global_: str) -> Config:
    path = tmp_path / "sentinel.yaml"
    path.write_text(f"version: sentinel/v1\nglobal:\n{global_}")
    return load_config(path)


def test_defaults_to_a_minute_or_the_interval_when_shorter(tmp_path: Path) -> None:
    assert load(tmp_path, "  interval: 2m\n").global_.resolution == 60
    assert load(tmp_path, "  interval: 5s\n").global_.resolution == 5


@pytest.mark.parametrize(
    ("global_", "message"),
    [
        (
            "  interval: 30s\n  resolution: 1m\n",
            "sentinel.yaml:4: global.resolution: must not exceed global.interval "
            "(30s), got '1m'",
        ),
        (
            "  interval: 30s\n  resolution: 1500ms\n",
            "sentinel.yaml:4: global.resolution: must be a whole number of seconds, "
            "at least 1s, got '1500ms'",
        ),
    ],
)
def test_bad_resolution_names_the_field(
    tmp_path: Path, global_: str, message: str
) -> None:
    with pytest.raises(ConfigErrors) as info:
        load(tmp_path, global_)
    got = [
        str(e).replace(str(tmp_path / "sentinel.yaml"), "sentinel.yaml")
        for e in info.value.errors
    ]
    assert got == [message]


SCRAPER = """\
sources:
  - name: local
    type: scrape
    interval: 15s
    targets: [{url: "http://127.0.0.1:8080/metrics"}]
"""


def test_default_shrinks_to_the_scrape_interval(tmp_path: Path) -> None:
    config = load(tmp_path, f"  interval: 1m\n{SCRAPER}")
    assert config.global_.resolution == 15


def test_explicit_resolution_wider_than_a_scrape_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as info:
        load(tmp_path, f"  interval: 1m\n  resolution: 30s\n{SCRAPER}")
    (error,) = info.value.errors
    assert str(error).endswith(
        "sources.local.interval: must be at least global.resolution (30s) and a "
        "whole number of seconds, got '15s'"
    )
