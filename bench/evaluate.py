"""One evaluation tick of the daemon at scale: history windows -> facts -> rules.

Every SLO instance gets an hour of per-minute history with a little noise, so nearly
every ``sli`` fact changes each tick (the realistic worst case: traffic moves every
minute). Reports the first evaluation (facts asserted) and the median steady tick
(facts modified, rules re-derived), with the engine's fires per tick.

    .venv/bin/python -m bench.evaluate --instances 100,1000,5000
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from sentinel.config import shipped_rule_files
from sentinel.daemon import load_rule_files
from sentinel.evaluator import Evaluator
from sentinel.history import History
from sentinel.model import SLO, RatioSLI
from sentinel.rete import Engine
from sentinel.sources.base import Increment
from sentinel.store import Store

T0 = 1_800_000_000


def measure(instances: int, ticks: int, seed: int = 1) -> dict[str, float]:
    rng = random.Random(seed)
    history = History(Store(":memory:"), resolution=60)
    slos = [
        SLO(f"slo-{i}", "svc", 0.999, RatioSLI(total="t", bad="b"))
        for i in range(instances)
    ]
    rules, specs = load_rule_files(shipped_rule_files())
    engine = Engine(rules)
    evaluator = Evaluator(slos, history, engine, metrics=specs)

    def minute(t: int) -> None:
        history.apply(
            Increment(s.name, s.name, {}, t - 60, t, rng.randint(0, 2), 1000)
            for s in slos
        )

    for k in range(60):
        minute(T0 + k * 60)
    now = T0 + 3600
    started = time.perf_counter()
    evaluator.evaluate(now)
    first = time.perf_counter() - started

    times, fires = [], []
    for _ in range(ticks):
        now += 60
        minute(now)
        before = engine.stats.fired
        started = time.perf_counter()
        evaluator.evaluate(now)
        times.append(time.perf_counter() - started)
        fires.append(engine.stats.fired - before)
    return {
        "instances": instances,
        "first_s": first,
        "tick_s_median": statistics.median(times),
        "fires_per_tick": statistics.median(fires),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="100,1000,5000")
    parser.add_argument("--ticks", type=int, default=5)
    args = parser.parse_args()
    print("| SLO instances | first evaluation | steady tick (median) | fires/tick |")
    print("|---|---|---|---|")
    for n in (int(x) for x in args.instances.split(",")):
        r = measure(n, args.ticks)
        print(
            f"| {n:,} | {r['first_s']:.2f} s | {r['tick_s_median']:.2f} s "
            f"| {r['fires_per_tick']:,.0f} |"
        )


if __name__ == "__main__":
    main()
