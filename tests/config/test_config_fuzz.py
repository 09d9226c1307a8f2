"""Any value in any field of the good fixture: a Config or ConfigErrors, no crash."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel.config import ConfigErrors, load_config

GOOD = Path(__file__).with_name("good.yaml")
LINES = GOOD.read_text().splitlines()
# lines of the form "key: value" whose value can be swapped
SLOTS = [i for i, line in enumerate(LINES) if re.match(r"\s*[a-z_]+: \S", line)]

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(slot=st.sampled_from(SLOTS), value=values)
def test_any_value_anywhere_loads_or_raises_config_errors(
    tmp_path: Path, slot: int, value: object
) -> None:
    lines = list(LINES)
    key = lines[slot].split(":", 1)[0]
    rendered = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    rendered = rendered.removesuffix("\n...").removesuffix("...").strip()
    lines[slot] = f"{key}: {rendered}"
    path = tmp_path / "sentinel.yaml"
    path.write_text("\n".join(lines) + "\n")

    try:
        load_config(path)
    except ConfigErrors as exc:
        assert exc.errors
        assert all(e.file == str(path) for e in exc.errors)
