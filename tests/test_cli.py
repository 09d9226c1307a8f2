from __future__ import annotations

import subprocess
import sys

import pytest

from sentinel import __version__
from sentinel.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sentinel {__version__}"


def test_help_runs_as_a_console_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sentinel", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "usage: sentinel" in done.stdout
