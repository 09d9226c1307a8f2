"""SLO instance ids round-trip whatever the group_by label values hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sentinel.config import shipped_rule_files
from sentinel.daemon import load_rule_files
from sentinel.evaluator import Evaluator, parse_group
from sentinel.history import History
from sentinel.model import SLO, RatioSLI, instance_id
from sentinel.rete import Engine
from sentinel.sources.base import Increment
from sentinel.store import Store

names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)


@given(st.dictionaries(names, st.text(max_size=12), max_size=4))
def test_parse_group_inverts_instance_id(group: dict[str, str]) -> None:
    assert parse_group(instance_id("checkout", group), "checkout") == group


def test_label_values_with_quotes_and_backslashes_still_alert() -> None:
    slo = SLO(
        "api",
        "shop",
        0.999,
        RatioSLI(total="t", bad="b"),
        group_by=("region",),
    )
    history = History(Store(":memory:"), resolution=60)
    t0 = 1_800_000_000
    regions = ['eu"west', "back\\", "plain"]
    for k in range(1, 11):
        history.apply(
            Increment(
                "api",
                instance_id("api", {"region": r}),
                {"region": r},
                t0 + (k - 1) * 60,
                t0 + k * 60,
                bad=500,
                total=1000,
            )
            for r in regions
        )
    rules, _ = load_rule_files(shipped_rule_files())
    engine = Engine(rules)
    Evaluator([slo], history, engine).evaluate(t0 + 600)
    paged = {
        f["labels"]["slo"]
        for f in engine.facts("alert")
        if f["name"] == "SLOBurnRateHigh" and f["labels"]["tier"] == "page-1h"
    }
    assert paged == {instance_id("api", {"region": r}) for r in regions}
