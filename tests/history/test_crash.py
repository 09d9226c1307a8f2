"""A writer killed with SIGKILL mid-write leaves a database that opens and is whole."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from sentinel.history import History
from sentinel.store import Store

BATCH = 50

WRITER = textwrap.dedent(
    """
    import sys
    from sentinel.history import History
    from sentinel.store import Store

    history = History(Store(sys.argv[1]))
    i = 0
    while True:
        with history.batch():
            for j in range({batch}):
                history.record("api", (i * {batch} + j) * 60, 1, 10)
        i += 1
        if i == 3:
            print("ready", flush=True)
    """
).format(batch=BATCH)


def test_kill_9_mid_write_leaves_whole_transactions(tmp_path):
    path = tmp_path / "h.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    store = Store(path)
    assert store.query("PRAGMA integrity_check") == [("ok",)]
    history = History(store)
    last = history.last_bucket("api")
    assert last is not None
    rows = (last // 60) + 1
    assert rows >= 3 * BATCH and rows % BATCH == 0  # only whole batches
    window = history.window("api", last + 60, rows * 60)
    assert (window.bad, window.total, window.coverage) == (rows, 10 * rows, 1.0)
    history.record("api", last + 60, 1, 10)  # and it takes writes again
