"""kill -9 after a notification is queued: a new process delivers it, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.harness.webhook import WebhookReceiver
from tests.notify.conftest import T0

SCRIPT = """
import sys, time
from sentinel.alerts import AlertBook, AlertCandidate
from sentinel.notify import Outbox, WebhookNotifier
from sentinel.store import Store

path, url, phase, now = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
store = Store(path)
outbox = Outbox(store, [WebhookNotifier(url, name="hook", timeout=5)])
book = AlertBook(store, outbox)
if phase == "queue":
    page = AlertCandidate("SLOBurnRateHigh", {"slo": "checkout"}, "page")
    book.update(now, [page])
    print("queued", flush=True)
    time.sleep(120)
else:
    print("delivered", outbox.deliver_due(now), flush=True)
"""


def run_phase(db: Path, url: str, phase: str, now: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(db), url, phase, str(now)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_kill_9_after_queueing_loses_nothing(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    db = tmp_path / "sentinel.db"
    first = run_phase(db, webhook_receiver.url, "queue", T0)
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "queued"
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    assert webhook_receiver.notifications == []

    second = run_phase(db, webhook_receiver.url, "deliver", T0 + 60)
    out, _ = second.communicate(timeout=30)
    assert out.strip() == "delivered 1"
    (body,) = webhook_receiver.notifications
    assert body["status"] == "firing"
    assert body["alert"]["labels"]["slo"] == "checkout"

    # the restarted book knows it is firing and sent: nothing more goes out
    third = run_phase(db, webhook_receiver.url, "deliver", T0 + 120)
    out, _ = third.communicate(timeout=30)
    assert out.strip() == "delivered 0"
    assert len(webhook_receiver.notifications) == 1
