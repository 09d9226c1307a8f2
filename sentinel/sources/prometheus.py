"""The Prometheus source: SLI counters read over the Prometheus HTTP API.

Works with anything that answers ``/api/v1/query`` (Prometheus, Thanos, Mimir,
VictoriaMetrics).

How a tick reads. Every read of one tick is pinned to one evaluation time ``T``:
``now - query_delay`` aligned down to the resolution, never in the future. For each SLO
the source makes two instant queries with a range selector, ``total[R]`` and
``bad[R]`` (or ``good[R]``; for a latency SLI ``h_count[R]`` and the ``h_bucket`` whose
``le`` equals the threshold as a number), at ``time=T``. A range selector in an instant
query returns the *raw samples*, so the increases are computed here, per series and
reset-aware, before any sum over series (C07), and then summed by the SLO's
``group_by`` labels. ``R`` reaches back from ``T`` to the end of the last successful
read, plus ``max_gap`` so that the first sample in the span has its predecessor. So a
tick costs two queries per SLO whatever the windows are; the windows come from the
history.

Why raw samples rather than ``increase()``: ``increase`` extrapolates to the window's
edges, misses the first value of a series born inside the window (C08) and cannot be
split into exact buckets. Raw samples give exact per-bucket increases: the increase
between two samples lands in the bucket of the later one. Backfill on start uses the
same instant queries at successive pinned times, one ``chunk`` (1 day by default) each,
rather than ``query_range`` (which evaluates at steps and returns no raw samples).

Rules that decide known vs unknown:

- a failed read (connection error, timeout, HTTP error after retries, malformed JSON,
  an error status, NaN samples) makes the buckets it should have filled unknown, with
  the reason, and the next tick reads the span again (up to ``catchup`` back);
- a tick (and each backfill chunk) has a time budget, ``tick_budget``: once it is
  spent, the SLOs not read yet are not attempted and their buckets are unknown
  ("tick time budget spent"); the next tick reads them again like a failed read.
  Each request's timeout is cut to what is left of the budget, and a read timeout
  is never retried (connection errors and 5xx answers are), so a hanging server
  costs one timeout per read, and at most the budget per tick;
- a bucket is known for an instance when one of its total series has a sample no more
  than ``max_gap`` before the bucket's end; otherwise it is unknown ("no samples").
  An increase across a longer gap is not attributed (C17);
- an error series that does not exist means no errors (C01); bad events with no total
  series are a data fault, unknown (C12); good above total is clamped and marked;
- a series whose first sample in the read has no predecessor may be new or may have
  earlier samples outside the read: a query result cannot tell (C08). Its first value
  is not counted and the bucket is marked :attr:`Quality.LOWER_BOUND`.

Secrets (basic-auth password, bearer token) come from a file or an environment
variable, are read when the source is built and never logged.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from sentinel.errors import SourceError
from sentinel.model import SLO, LatencySLI, Quality, instance_id
from sentinel.sources.base import (
    GroupSums,
    Increment,
    MisfitLog,
    SeriesIncrease,
    TickReport,
    bucket_starts,
    group_key,
    le_matches,
    missing_good_message,
    series_increase,
    to_increment,
)
from sentinel.sources.selector import Matcher, Selector, parse_selector

log = logging.getLogger(__name__)

#: The reason of the buckets a tick did not read for lack of time.
BUDGET_SPENT = "tick time budget spent"


@dataclass(frozen=True)
class Secret:
    """A secret read from a file or an environment variable; its repr hides it."""

    file: str | None = None
    env: str | None = None
    value: str | None = field(default=None, repr=False)

    def get(self) -> str:
        if self.value is not None:
            return self.value
        if self.file is not None:
            try:
                with open(self.file, encoding="utf-8") as f:
                    return f.read().strip()
            except OSError as exc:
                raise SourceError(
                    f"cannot read secret file {self.file}: {exc}"
                ) from exc
        if self.env is not None:
            if self.env not in os.environ:
                raise SourceError(f"environment variable {self.env} is not set")
            return os.environ[self.env]
        raise SourceError("a secret needs a file or an environment variable")


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: Secret


@dataclass(frozen=True)
class BearerAuth:
    token: Secret


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:
        return "<bearer token>"


@dataclass(frozen=True)
class _Reading:
    slo: SLO
    total: Selector
    other: Selector
    other_is_good: bool
    threshold: float | None = None
    buckets: Selector | None = None  # latency: every bucket, whatever its bound


def _reading(slo: SLO) -> _Reading:
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        base = parse_selector(sli.histogram)
        if base.name is None:
            raise SourceError(f"SLO {slo.name}: histogram needs a metric name")
        buckets = base.with_name(base.name + "_bucket")
        bucket = buckets
        le = _le_pattern(sli.threshold)
        if le is not None:
            bucket = Selector(bucket.name, (*bucket.matchers, Matcher("le", "=~", le)))
        return _Reading(
            slo,
            base.with_name(base.name + "_count"),
            bucket,
            True,
            sli.threshold,
            buckets,
        )
    other = sli.bad if sli.bad is not None else sli.good
    if other is None:
        raise SourceError(f"SLO {slo.name}: needs a bad or good selector")
    return _Reading(
        slo, parse_selector(sli.total), parse_selector(other), sli.bad is None
    )


def _le_pattern(threshold: float) -> str | None:
    """A regex for every spelling of ``threshold`` as ``le`` ("1", "1.0", "1.00")."""
    text = repr(float(threshold))
    if "e" in text or "n" in text:  # exponent, inf, nan: filter after the read only
        return None
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    head = "0*" if whole == "0" else f"0*{whole}"
    return head + (rf"\.{frac}0*" if frac else r"(\.0*)?")


class PrometheusSource:
    """Reads SLO counters from a Prometheus-compatible HTTP API.

    ``verify`` is ``True`` (system CAs), ``False`` or a CA bundle path. ``retries`` and
    ``backoff`` configure urllib3's retry of connection errors and 5xx answers; a read
    timeout is not retried. ``tick_budget`` bounds the seconds one tick (or backfill
    chunk) spends reading; keep it under the evaluation interval.
    ``max_gap`` is the longest distance between two samples that still counts as
    continuous data (at least twice the scrape interval). ``query_delay`` keeps the
    evaluation time behind the newest samples still being ingested.
    """

    def __init__(
        self,
        slos: Sequence[SLO],
        base_url: str,
        *,
        resolution: int = 60,
        auth: BasicAuth | BearerAuth | None = None,
        verify: bool | str = True,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_gap: float = 120.0,
        query_delay: float = 0.0,
        catchup: float = 3600.0,
        chunk: float = 86400.0,
        tick_budget: float = 30.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.readings = [_reading(slo) for slo in slos]
        self.base_url = base_url.rstrip("/")
        self.resolution = resolution
        self.timeout = timeout
        self.max_gap = max_gap
        self.query_delay = query_delay
        self.catchup = catchup
        self.chunk = chunk
        self.tick_budget = tick_budget
        self.clock = clock
        self.session = session or requests.Session()
        self.session.verify = verify
        retry = Retry(
            total=retries,
            connect=retries,
            # A read timeout is not retried: the server got the query and is slow
            # with it; asking again only multiplies the wait.
            read=0,
            status=retries,
            backoff_factor=backoff,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if isinstance(auth, BasicAuth):
            self.session.auth = (auth.username, auth.password.get())
        elif isinstance(auth, BearerAuth):
            self.session.auth = _Bearer(auth.token.get())
        self._next_from: dict[str, int] = {}
        self._misfits = MisfitLog(log)
        self._instances: dict[str, dict[tuple[str, ...], dict[str, str]]] = {}

    # -- public ---------------------------------------------------------------------

    def eval_time(self, now: float) -> int:
        """The pinned evaluation time for a tick at ``now``."""
        t = now - self.query_delay
        return math.floor(t / self.resolution) * self.resolution

    def tick(self, now: float, *, tick_budget: float | None = None) -> TickReport:
        """Read every SLO since its last successful read, pinned at one time.

        ``tick_budget`` (seconds, default the source's) bounds the time spent: SLOs
        not read when it is spent are unknown for this tick and read by the next.
        """
        end = self.eval_time(now)
        report = TickReport(end)
        budget = self.tick_budget if tick_budget is None else tick_budget
        deadline = self.clock() + budget
        skipped = []
        for reading in self.readings:
            name = reading.slo.name
            start = self._next_from.get(name, end - self.resolution)
            start = max(start, end - int(self.catchup))
            if start >= end:
                continue
            if self.clock() >= deadline:
                skipped.append(name)
                report.increments.extend(
                    self._unknown(reading.slo, start, end, BUDGET_SPENT)
                )
                continue
            if self._read(reading, start, end, report, deadline):
                self._next_from[name] = end
        if skipped:
            error = (
                f"{BUDGET_SPENT} ({budget:g}s): {len(skipped)} of"
                f" {len(self.readings)} SLOs not read: {', '.join(skipped)}"
            )
            report.errors.append(error)
            log.warning("%s", error)
        return report

    def backfill(
        self, now: float, resume: Mapping[str, float] | None = None
    ) -> Iterator[TickReport]:
        """Fill the history for each SLO, one chunk per report, oldest first.

        ``resume`` maps an SLO name to the time its history is complete up to (from
        :meth:`History.resume_point`); an SLO without one is read from
        ``now - (period + longest alert window)``.
        """
        end = self.eval_time(now)
        for reading in self.readings:
            slo = reading.slo
            longest = slo.period + max(
                (w for w in slo.windows() if w < slo.period), default=0.0
            )
            start = self._align(max(end - longest, (resume or {}).get(slo.name, 0.0)))
            chunks = max(0, math.ceil((end - start) / self.chunk))
            if chunks:
                log.info(
                    "backfilling %s from %d to %d in %d chunks",
                    slo.name,
                    start,
                    end,
                    chunks,
                )
            for number in range(chunks):
                chunk_end = min(end, start + self._align(self.chunk))
                report = TickReport(chunk_end)
                deadline = self.clock() + self.tick_budget
                ok = self._read(reading, start, chunk_end, report, deadline)
                log.info(
                    "backfill %s: chunk %d/%d up to %d %s",
                    slo.name,
                    number + 1,
                    chunks,
                    chunk_end,
                    "done" if ok else "failed",
                )
                yield report
                start = chunk_end
            self._next_from[slo.name] = end

    def close(self) -> None:
        self.session.close()

    # -- one SLO, one span ----------------------------------------------------------

    def _align(self, t: float) -> int:
        return math.floor(t / self.resolution) * self.resolution

    def _read(
        self,
        reading: _Reading,
        start: int,
        end: int,
        report: TickReport,
        deadline: float | None = None,
    ) -> bool:
        """Read ``(start, end]`` for one SLO into ``report``; False if it failed."""
        slo = reading.slo
        span = int(end - start + self.max_gap)
        results: list[list[dict[str, Any]]] = []
        warned = False
        for selector in (reading.total, reading.other):
            try:
                result, warnings = self._query(
                    f"{selector}[{span}s]", end, report, deadline
                )
            except SourceError as exc:
                report.failures += 1
                report.errors.append(f"{slo.name}: {exc}")
                log.warning("SLO %s: read failed, buckets unknown: %s", slo.name, exc)
                report.increments.extend(self._unknown(slo, start, end, str(exc)))
                return False
            warned = warned or bool(warnings)
            results.append(result)
        total, other = results
        if reading.threshold is not None:
            other = [
                s
                for s in other
                if le_matches(s["metric"].get("le", ""), reading.threshold)
            ]
        increments = self._increments(reading, start, end, total, other, warned)
        report.increments.extend(increments)
        self._check_misfit(reading, increments, end, report)
        return True

    def _check_misfit(
        self,
        reading: _Reading,
        increments: list[Increment],
        at: int,
        report: TickReport,
    ) -> None:
        """Log once when the SLI has traffic but its good series are missing.

        For a latency SLI this reads the bounds the histogram has (one more query,
        only while the threshold matches none of them).
        """
        missing = self._misfits.missing(increments)
        name = reading.slo.name
        if missing is False:
            self._misfits.clear(name)
        if not missing:
            return
        found: list[str] | None = None
        if reading.buckets is not None:
            try:
                result, _ = self._query(
                    f"{reading.buckets}[{int(self.max_gap)}s]", at, report
                )
                found = [s["metric"].get("le", "") for s in result]
            except SourceError as exc:
                log.debug("SLO %s: bucket bounds not read: %s", name, exc)
        self._misfits.report(name, missing_good_message(reading.slo, found))

    def _query(
        self,
        expr: str,
        at: int,
        report: TickReport,
        deadline: float | None = None,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        began = self.clock()
        timeout = self.timeout
        if deadline is not None:
            left = deadline - began
            if left <= 0:
                raise SourceError(BUDGET_SPENT)
            timeout = min(timeout, left)
        report.requests += 1
        try:
            response = self.session.post(
                f"{self.base_url}/api/v1/query",
                data={"query": expr, "time": str(at)},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            if _timed_out(exc):
                if timeout < self.timeout:
                    raise SourceError(
                        f"query {expr!r}: timeout after {timeout:.3g}s, {BUDGET_SPENT}"
                    ) from exc
                raise SourceError(
                    f"query {expr!r}: timeout after {self.timeout}s"
                ) from exc
            raise SourceError(f"query {expr!r}: {type(exc).__name__}: {exc}") from exc
        finally:
            report.latency += self.clock() - began
        try:
            body = response.json()
        except ValueError as exc:
            raise SourceError(
                f"query {expr!r}: HTTP {response.status_code}, not JSON: "
                f"{response.text[:120]!r}"
            ) from exc
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise SourceError(f"query {expr!r}: HTTP {response.status_code}: {error}")
        if body.get("status") != "success":
            raise SourceError(
                f"query {expr!r}: {body.get('errorType')}: {body.get('error')}"
            )
        warnings = list(body.get("warnings") or [])
        for warning in warnings:
            log.warning(
                "query %r at %d: warning from the server: %s", expr, at, warning
            )
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise SourceError(
                f"query {expr!r}: expected a matrix result, got {data!r:.120}"
            )
        result = data.get("result")
        if not isinstance(result, list):
            raise SourceError(f"query {expr!r}: malformed result")
        try:
            for series in result:
                series["values"] = [(float(t), float(v)) for t, v in series["values"]]
                report.samples += len(series["values"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"query {expr!r}: malformed samples: {exc}") from exc
        return result, warnings

    def _increments(
        self,
        reading: _Reading,
        start: int,
        end: int,
        total: list[dict[str, Any]],
        other: list[dict[str, Any]],
        warned: bool,
    ) -> list[Increment]:
        slo = reading.slo
        r = self.resolution
        per_group: dict[
            tuple[str, ...], tuple[list[SeriesIncrease], list[SeriesIncrease]]
        ]
        per_group = {}
        names: dict[int, str] = {}  # of the series with non-finite values
        seen = self._instances.setdefault(slo.name, {})
        for side, results in ((0, total), (1, other)):
            for series in results:
                labels = series["metric"]
                key = group_key(labels, slo.group_by)
                seen.setdefault(key, dict(zip(slo.group_by, key, strict=True)))
                inc = series_increase(
                    series["values"],
                    start=start,
                    end=end,
                    resolution=r,
                    max_gap=self.max_gap,
                )
                if inc.nan or inc.nonfinite:
                    names[id(inc)] = _series_name(labels)
                per_group.setdefault(key, ([], []))[side].append(inc)
        if not slo.group_by:
            per_group.setdefault((), ([], []))
            seen.setdefault((), {})
        for key in seen:
            per_group.setdefault(key, ([], []))

        out = []
        for key, (totals, others) in per_group.items():
            labels = seen[key]
            instance = instance_id(slo.name, labels)
            for b in bucket_starts(start, end, r):
                sums = self._bucket_sums(b, totals, others, warned, names)
                out.append(
                    to_increment(
                        slo.name,
                        instance,
                        labels,
                        b,
                        b + r,
                        sums,
                        other_is_good=reading.other_is_good,
                    )
                )
        return out

    @staticmethod
    def _bucket_sums(
        b: int,
        totals: list[SeriesIncrease],
        others: list[SeriesIncrease],
        warned: bool,
        names: Mapping[int, str],
    ) -> GroupSums:
        sums = GroupSums(quality=Quality.WARNINGS if warned else Quality.NONE)
        covered = False
        for s in totals:
            sums.total += s.increases.get(b, 0.0)
            covered = covered or b in s.covered
        for s in others:
            sums.other += s.increases.get(b, 0.0)
        for s in (*totals, *others):
            if b in s.lower_bound:
                sums.quality |= Quality.LOWER_BOUND
            if b in s.nan:
                sums.quality |= Quality.NAN
                sums.unknown = f"NaN sample in {names.get(id(s), 'a series')}"
            elif b in s.nonfinite:
                sums.quality |= Quality.NAN
                sums.unknown = f"non-finite increase in {names.get(id(s), 'a series')}"
        if not sums.unknown and not (
            math.isfinite(sums.total) and math.isfinite(sums.other)
        ):
            sums.quality |= Quality.NAN
            sums.unknown = "non-finite sum over the series"
        # Series count only where they hold data: a series that ended long ago or
        # starts later says nothing about this bucket.
        sums.total_series = len(totals) if covered else 0
        sums.other_series = sum(1 for s in others if b in s.covered)
        if totals and not covered and not sums.unknown:
            sums.unknown = "no samples"
        return sums

    def _unknown(self, slo: SLO, start: int, end: int, reason: str) -> list[Increment]:
        groups = self._instances.get(slo.name) or {(): {}}
        if slo.group_by:
            groups = {k: v for k, v in groups.items() if k != ()}
        return [
            Increment(
                slo.name,
                instance_id(slo.name, labels),
                labels,
                b,
                b + self.resolution,
                known=False,
                reason=reason,
            )
            for labels in groups.values()
            for b in bucket_starts(start, end, self.resolution)
        ]


def _series_name(labels: Mapping[str, str]) -> str:
    """``name{label="value",...}`` of a series in a query result."""
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}" if inner else name


def _timed_out(exc: BaseException) -> bool:
    """Whether a request failed by a timeout, also when urllib3 retried it first."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, requests.Timeout | TimeoutError):
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException) and (
            isinstance(reason, TimeoutError) or "timed out" in str(reason)
        ):
            return True
        first = current.args[0] if current.args else None
        current = first if isinstance(first, BaseException) else None
    return False
