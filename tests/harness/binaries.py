"""Finding server binaries, and the rule for when one is missing.

Locally a missing binary skips the test with the reason; under CI (``CI`` set to a true
value) it fails the test, so a broken install can never pass as a green run.
"""

from __future__ import annotations

import os
import shutil

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_binary(name: str, package: str) -> str:
    """Return the path of ``name`` or skip (locally) / fail (under CI)."""
    path = shutil.which(name)
    if path:
        return path
    reason = (
        f"{name} not found on PATH; install the Debian package {package!r} "
        "(apt-get install prometheus prometheus-alertmanager)"
    )
    if under_ci():
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)
