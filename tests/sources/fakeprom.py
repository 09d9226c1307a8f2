"""A tiny stand-in for Prometheus' instant-query API over given raw samples.

It answers ``selector[Ns]`` at ``time`` with the samples in ``[time - N, time]``, as
Prometheus 2 does; enough to unit-test the source's arithmetic without the binary.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from sentinel.sources.selector import parse_selector
from tests.sources.conftest import Answer

_RANGE = re.compile(r"^(?P<sel>.*)\[(?P<secs>\d+)s\]$")


@dataclass
class FakePrometheus:
    series: list[tuple[str, dict[str, str], list[tuple[float, float]]]] = field(
        default_factory=list
    )
    queries: list[tuple[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, name, labels, samples):
        self.series.append((name, dict(labels), list(samples)))

    def __call__(self, path: str) -> Answer:
        params = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        expr, at = params["query"], float(params["time"])
        self.queries.append((expr, at))
        m = _RANGE.match(expr)
        assert m, expr
        selector = parse_selector(m.group("sel"))
        lo = at - int(m.group("secs"))
        result = []
        for name, labels, samples in self.series:
            if not selector.matches(name, labels):
                continue
            values = [[t, _render(v)] for t, v in samples if lo <= t <= at]
            if values:
                result.append(
                    {"metric": {"__name__": name, **labels}, "values": values}
                )
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        if self.warnings:
            body["warnings"] = self.warnings
        return Answer(json.dumps(body), content_type="application/json")


def _render(v: float) -> str:
    """A sample value as Prometheus writes it: NaN, +Inf, -Inf or a float."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))
