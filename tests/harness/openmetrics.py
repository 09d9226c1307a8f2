"""Describe metric history in Python and write it as OpenMetrics for ``promtool``.

A test states what happened (a counter growing by so much a minute, a reset, a histogram
with these bucket counts) and gets the exact totals it can assert on later; the same
series are written to an OpenMetrics file and turned into TSDB blocks with
``promtool tsdb create-blocks-from openmetrics``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Increment = float | Callable[[float], float]


@dataclass
class Series:
    """One time series: a sample name, labels and ``(unix_seconds, value)`` pairs."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    samples: list[tuple[float, float]] = field(default_factory=list)

    @property
    def family(self) -> tuple[str, str]:
        """OpenMetrics family name and type for this sample name."""
        for suffix, kind in (("_bucket", "histogram"), ("_count", "histogram")):
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)], kind
        if self.name.endswith("_sum"):
            return self.name[:-4], "histogram"
        if self.name.endswith("_total"):
            return self.name[:-6], "counter"
        return self.name, "gauge"


def counter_series(
    name: str,
    labels: Mapping[str, str],
    start: float,
    end: float,
    step: float,
    increment: Increment,
    resets: Sequence[float] = (),
    initial: float = 0.0,
) -> Series:
    """A counter sampled every ``step`` seconds from ``start`` to ``end`` (inclusive).

    ``increment`` is what the counter grows by between two samples, a number or a
    function of the later sample's time. At each time in ``resets`` the counter restarts
    from zero before that step's increment is added (a process restart).
    """
    series = Series(name, dict(labels))
    value = initial
    pending = sorted(resets)
    t = start
    first = True
    while t <= end + 1e-9:
        if not first:
            if pending and t >= pending[0]:
                pending.pop(0)
                value = 0.0
            value += increment(t) if callable(increment) else increment
        series.samples.append((t, value))
        first = False
        t += step
    return series


def histogram_series(
    name: str,
    labels: Mapping[str, str],
    start: float,
    end: float,
    step: float,
    bounds: Sequence[float],
    per_step: Callable[[float], Sequence[float]] | Sequence[float],
    le_format: Callable[[float], str] = lambda b: repr(float(b)),
) -> list[Series]:
    """A cumulative histogram: ``_bucket`` per bound and ``+Inf``, ``_count``, ``_sum``.

    ``per_step`` gives the number of observations falling in each bucket (not
    cumulative; one entry per bound plus one for ``+Inf``) added at each step.
    ``le_format`` renders the ``le`` label (``"1"`` vs ``"1.0"``).
    """
    les = [le_format(b) for b in bounds] + ["+Inf"]
    buckets = [Series(f"{name}_bucket", {**labels, "le": le}) for le in les]
    count = Series(f"{name}_count", dict(labels))
    total = Series(f"{name}_sum", dict(labels))
    cum = [0.0] * len(les)
    observed = 0.0
    sum_value = 0.0
    t = start
    first = True
    while t <= end + 1e-9:
        if not first:
            counts = per_step(t) if callable(per_step) else per_step
            if len(counts) != len(les):
                raise ValueError(f"need {len(les)} bucket counts, got {len(counts)}")
            running = 0.0
            for i, n in enumerate(counts):
                running += n
                cum[i] += running
            observed += running
            mids = [*bounds, bounds[-1] * 2 if bounds else 1.0]
            sum_value += sum(n * m for n, m in zip(counts, mids, strict=True))
        for i, s in enumerate(buckets):
            s.samples.append((t, cum[i]))
        count.samples.append((t, observed))
        total.samples.append((t, sum_value))
        first = False
        t += step
    return [*buckets, count, total]


_LABEL_ESCAPES = str.maketrans({"\\": r"\\", '"': r"\"", "\n": r"\n"})
_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def _format_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def render_openmetrics(series: Iterable[Series]) -> str:
    """OpenMetrics text for ``series``, grouped by family, samples in time order."""
    families: dict[tuple[str, str], list[Series]] = {}
    for s in series:
        if not _NAME_RE.match(s.name):
            raise ValueError(f"invalid metric name {s.name!r}")
        families.setdefault(s.family, []).append(s)
    out: list[str] = []
    for (family, kind), members in families.items():
        out.append(f"# HELP {family} backfilled by the test harness")
        out.append(f"# TYPE {family} {kind}")
        for s in members:
            labels = ",".join(
                f'{k}="{str(v).translate(_LABEL_ESCAPES)}"'
                for k, v in sorted(s.labels.items())
            )
            head = f"{s.name}{{{labels}}}" if labels else s.name
            for t, v in sorted(s.samples):
                out.append(f"{head} {_format_value(v)} {t:.3f}")
    out.append("# EOF")
    return "\n".join(out) + "\n"


def write_openmetrics(series: Iterable[Series], path: Path) -> Path:
    path.write_text(render_openmetrics(series))
    return path
