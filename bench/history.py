"""Benchmark the history: disk size, and time to evaluate all windows of all instances.

    .venv/bin/python bench/history.py --instances 10000 --days 30 --resolution 300

Fills a fresh database with one known bucket per instance and resolution step over the
given days (synthetic counts, one ``executemany`` in one transaction), reopens it as the
daemon would after a restart, loads every instance, then computes the eight windows of
the default tiers (5m, 30m, 1h, 2h, 6h, 1d, 3d, 30d) for all instances.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from sentinel.history import History
from sentinel.model import SLO, RatioSLI
from sentinel.store import Store


def fill(path: Path, instances: int, days: float, resolution: int, now: int) -> float:
    history = History(Store(path), resolution=resolution)
    steps = int(days * 86400 // resolution)
    first = now - steps * resolution
    began = time.perf_counter()
    with history.store.transaction() as conn:
        conn.executemany(
            "INSERT INTO history_instance (id, name) VALUES (?, ?)",
            ((i, f'slo{{shard="{i}"}}') for i in range(1, instances + 1)),
        )
        conn.executemany(
            "INSERT INTO history_bucket (instance, start, bad, total, known) "
            "VALUES (?, ?, ?, ?, 1)",
            (
                (i, first + k * resolution, float(k % 7), 1000.0)
                for i in range(1, instances + 1)
                for k in range(steps)
            ),
        )
    history.store.close()
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--resolution", type=int, default=300)
    parser.add_argument("--dir", default=None, help="where to put the database")
    args = parser.parse_args(argv)

    now = int(time.time()) // args.resolution * args.resolution
    spans = SLO("x", "x", 0.999, RatioSLI(total="t", bad="b")).windows()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "history.db"
        filled = fill(path, args.instances, args.days, args.resolution, now)
        rows = args.instances * int(args.days * 86400 // args.resolution)
        size = sum(
            os.path.getsize(p)
            for p in Path(tmp).iterdir()
            if p.name.startswith("history")
        )

        began = time.perf_counter()
        history = History(Store(path), resolution=args.resolution)
        history.load_all()
        loaded = time.perf_counter() - began

        began = time.perf_counter()
        n = 0
        for instance in history.instances():
            for w in history.windows(instance, now, spans).values():
                n += w.known_buckets > 0
        evaluated = time.perf_counter() - began
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"instances       {args.instances}")
    print(f"days            {args.days:g} at {args.resolution} s ({rows:,} buckets)")
    print(f"fill            {filled:.1f} s ({rows / filled:,.0f} rows/s)")
    print(f"disk            {size / 1e6:,.0f} MB ({size / rows:.1f} B/bucket)")
    print(f"load all        {loaded:.1f} s")
    print(
        f"windows         {n:,} in {evaluated * 1000:.0f} ms"
        f" ({len(spans)} per instance)"
    )
    print(f"max RSS         {rss:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
