"""Benchmark the history: disk size, start-up load, and all windows of all instances.

    .venv/bin/python bench/history.py --instances 10000 --days 30 --resolution 60

Fills a fresh database with one known bucket per instance and resolution step over the
given days (synthetic counts, one ``executemany`` in one transaction), laid out as the
daemon leaves it: buckets older than ``--fine-span`` already rolled up into
``--coarse``-second buckets (``--coarse 0``: no roll-up, every bucket at full
resolution). Then it reopens the database as the daemon would after a restart, loads
every instance, computes the eight windows of the default tiers (5m, 30m, 1h, 2h, 6h,
1d, 3d, 30d) for all instances and checks their totals, and times one hourly roll-up.

``--unknown 0.9`` makes the oldest 90% of each instance's history unknown, every
unknown bucket carrying a reason (a new service backfilled from before it existed):
the windows then hold thousands of marked buckets.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sentinel.history import History
from sentinel.model import SLO, RatioSLI
from sentinel.store import Store

Row = tuple[int, int, float, float, int, str | None]


def rows(
    instances: int,
    first: int,
    now: int,
    resolution: int,
    coarse: int,
    rolled: int,
    known_from: int,
) -> Iterator[Row]:
    """Every instance's rows in key order: coarse ones before ``rolled``, then fine.

    The fine bucket starting at ``first + k * resolution`` holds ``k % 7`` bad events
    of 1000; a coarse bucket holds the sum of its fine buckets. Buckets before
    ``known_from`` are unknown, with a reason.
    """
    step = coarse // resolution if coarse else 1
    for i in range(1, instances + 1):
        t = first
        while t < rolled:
            if t < known_from:
                yield i, t, 0.0, 0.0, 0, "no data"
            else:
                k0 = (t - first) // resolution
                bad = float(sum((k0 + j) % 7 for j in range(step)))
                yield i, t, bad, 1000.0 * step, step, None
            t += coarse
        while t < now:
            if t < known_from:
                yield i, t, 0.0, 0.0, 0, "no data"
            else:
                yield i, t, float((t - first) // resolution % 7), 1000.0, 1, None
            t += resolution


def fill(
    path: Path,
    instances: int,
    days: float,
    resolution: int,
    now: int,
    coarse: int,
    fine_span: float,
    unknown: float = 0.0,
) -> tuple[float, int]:
    """Fill the database; returns the time taken and the rows written."""
    history = History(Store(path), resolution=resolution, coarse=coarse or None)
    steps = int(days * 86400 // resolution)
    first = now - steps * resolution
    rolled = first
    if coarse:
        first = first // coarse * coarse
        rolled = max(first, math.floor((now - fine_span) / coarse) * coarse)
    known_from = first + int(unknown * (now - first)) // resolution * resolution
    if coarse and known_from < rolled:
        known_from = -(-known_from // coarse) * coarse
    began = time.perf_counter()
    written = 0
    with history.store.transaction() as conn:
        conn.executemany(
            "INSERT INTO history_instance (id, name) VALUES (?, ?)",
            ((i, f'slo{{shard="{i}"}}') for i in range(1, instances + 1)),
        )
        cur = conn.executemany(
            "INSERT INTO history_bucket (instance, start, bad, total, known, reason) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows(instances, first, now, resolution, coarse, rolled, known_from),
        )
        written = cur.rowcount
        if coarse:
            conn.executemany(
                "INSERT INTO history_meta (key, value) VALUES (?, ?)",
                (("coarse", str(coarse)), ("rolled_before", str(rolled))),
            )
    history.store.close()
    return time.perf_counter() - began, written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--resolution", type=int, default=60)
    parser.add_argument("--coarse", type=int, default=900, help="0: no roll-up")
    parser.add_argument("--fine-span", type=float, default=86400.0)
    parser.add_argument(
        "--unknown",
        type=float,
        default=0.0,
        help="fraction of each instance's history (the oldest) that is unknown",
    )
    parser.add_argument("--dir", default=None, help="where to put the database")
    args = parser.parse_args(argv)

    r = args.resolution
    now = int(time.time()) // 3600 * 3600
    spans = SLO("x", "x", 0.999, RatioSLI(total="t", bad="b")).windows()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "history.db"
        filled, stored = fill(
            path,
            args.instances,
            args.days,
            r,
            now,
            args.coarse,
            args.fine_span,
            args.unknown,
        )
        buckets = args.instances * int(args.days * 86400 // r)
        size = sum(
            os.path.getsize(p)
            for p in Path(tmp).iterdir()
            if p.name.startswith("history")
        )

        began = time.perf_counter()
        history = History(
            Store(path),
            resolution=r,
            coarse=args.coarse or None,
            fine_span=args.fine_span,
        )
        history.load_all()
        loaded = time.perf_counter() - began

        began = time.perf_counter()
        n = wrong = 0
        for instance in history.instances():
            for w in history.windows(instance, now, spans).values():
                n += w.known_buckets > 0
                wrong += w.total != 1000.0 * w.known_buckets
        evaluated = time.perf_counter() - began
        began = time.perf_counter()
        for instance in history.instances():
            history.windows(instance, now, spans)
        again = time.perf_counter() - began
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        began = time.perf_counter()
        merged = history.roll_up(now + 3600)
        rolled = time.perf_counter() - began

    print(f"instances       {args.instances}")
    print(f"days            {args.days:g} at {r} s ({buckets:,} buckets)")
    if args.unknown:
        print(f"unknown         the oldest {args.unknown:.0%}, each with a reason")
    if args.coarse:
        print(
            f"roll-up         older than {args.fine_span:g} s into {args.coarse} s"
            f" ({stored:,} rows)"
        )
    print(f"fill            {filled:.1f} s ({stored / filled:,.0f} rows/s)")
    print(
        f"disk            {size / 1e6:,.0f} MB ({size / stored:.1f} B/row,"
        f" {size / buckets:.1f} B per {r} s bucket)"
    )
    print(f"load all        {loaded:.1f} s")
    print(
        f"windows         {n:,} in {evaluated * 1000:.0f} ms"
        f" ({len(spans)} per instance, {wrong} with a wrong total;"
        f" {evaluated * 1000 / args.instances:.2f} ms per instance)"
    )
    print(
        f"windows again   {again * 1000:.0f} ms"
        f" ({again * 1000 / args.instances:.2f} ms per instance, the next tick)"
    )
    print(f"max RSS         {rss:,.0f} MB")
    print(f"hourly roll-up  {merged:,} rows in {rolled:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
