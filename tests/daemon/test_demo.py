"""`sentinel demo` runs to completion on a shortened script."""

from __future__ import annotations

import io

import pytest

from sentinel.demo import Script, run_demo


@pytest.mark.slow
def test_demo_pages_and_resolves_on_a_short_script() -> None:
    out = io.StringIO()
    script = Script(healthy=6, outage=30, interval=2, recovery_limit=150, rate=40)
    assert run_demo(script, out=out, port=0) == 0, out.getvalue()
    text = out.getvalue()
    assert "alert SLOBurnRateHigh firing" in text
    assert "alert SLOBurnRateHigh resolved" in text
    assert "runbook" in text
    assert "/api/v1/slos" in text
    assert text.index("firing") < text.index("resolved")
