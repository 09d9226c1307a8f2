"""``sentinel check``: exit codes and output, through ``main(argv)``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "sentinel.yaml"
GOOD = Path(__file__).with_name("good.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "sentinel.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_config_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "-c", str(EXAMPLE))

    assert code == 0
    assert err == ""
    assert out == (
        f"{EXAMPLE}: OK (3 SLOs, 4 rule files, 4 runbooks linked; 0 warnings)\n"
    )


def test_errors_exit_1_with_file_line_field_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.read_text().replace("objective: 99.9", "objective: 0"))

    code, out, err = run(capsys, "-c", str(path))

    assert code == 1
    assert err == (
        f"error: {path}:30: slos[0].objective: must be a percentage between 0 and "
        "100, exclusive, got 0\n"
    )
    assert out.startswith(f"{path}: FAILED (1 errors, 0 warnings;")


def test_warnings_alone_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.read_text().replace("objective: 99.9", "objective: 90"))

    code, out, err = run(capsys, "-c", str(path))

    assert code == 0
    assert err.startswith(
        f"warning: {path}:30: slos[0]: SLO 'checkout-availability' tier 'page-1h' "
        "can never fire:"
    )
    assert "OK" in out and "1 warnings" in out


def test_missing_runbook_of_an_slo_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.read_text().replace(
        "runbook: slo-burn-rate-high", "runbook: checkout-latency"
    )
    path = write(tmp_path, text)

    code, _, err = run(capsys, "-c", str(path))

    assert code == 1
    expected = ROOT / "runbooks" / "checkout-latency.md"
    assert err == (
        f"error: {path}:40: SLO 'checkout-latency': runbook 'checkout-latency' not "
        f"found (expected {expected})\n"
    )


def test_runbook_folder_without_the_shipped_runbooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "books").mkdir()
    text = GOOD.read_text().replace(
        "  interval: 1m\n", "  interval: 1m\n  runbook_base_url: books\n"
    )
    path = write(tmp_path, text)

    code, _, err = run(capsys, "-c", str(path))

    assert code == 1
    missing = sorted(
        {line.split("runbook '")[1].split("'")[0] for line in err.splitlines()}
    )
    assert missing == [
        "slo-burn-rate-high",
        "slo-data-incomplete",
        "slo-data-missing",
        "slo-error-budget-exhausted",
    ]


def test_user_rule_file_alert_without_runbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = write(
        tmp_path,
        """\
version: sentinel/rules/v1
rules:
  - name: always
    when:
      - slo: {id: $slo}
    then:
      - alert: {name: Always, severity: page, labels: {slo: $slo}}
""",
        "extra.yaml",
    )

    code, _, err = run(capsys, "-c", str(GOOD), "--rules", str(rules))

    assert code == 1
    assert f"error: {rules}:7: rule 'always': alert has no runbook\n" in err


def test_missing_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "-c", str(tmp_path / "nope.yaml"))

    assert code == 1
    assert err == f"error: {tmp_path / 'nope.yaml'}: no such file or folder\n"


def test_broken_user_rule_names_file_line_and_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = write(
        tmp_path,
        """\
version: sentinel/rules/v1
rules:
  - name: typo
    when:
      - sli: {slo: $slo, total: $total}
      - test: $totl > 0
    then:
      - derive: {busy: {slo: $slo}}
""",
        "extra.yaml",
    )

    code, _, err = run(capsys, "-c", str(GOOD), "--rules", str(rules))

    assert code == 1
    assert err == (
        f"error: {rules}:6: rule 'typo': unbound variable $totl in test \"$totl > 0\"\n"
    )


def test_user_rule_on_a_fact_type_nobody_makes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = write(
        tmp_path,
        """\
version: sentinel/rules/v1
rules:
  - name: reads-nothing
    when:
      - slis: {slo: $slo}
    then:
      - derive: {busy: {slo: $slo}}
""",
        "extra.yaml",
    )

    code, _, err = run(capsys, "-c", str(GOOD), "--rules", str(rules))

    assert code == 1
    assert err == (
        f"error: {rules}:5: rule 'reads-nothing': unknown fact type 'slis' "
        "(did you mean 'sli'?)\n"
    )


def test_rules_from_the_config_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rules.d").mkdir()
    write(tmp_path, "version: sentinel/rules/v2\nrules: []\n", "rules.d/old.yaml")
    text = GOOD.read_text().replace(
        "  interval: 1m\n", "  interval: 1m\n  rules: [rules.d/*.yaml]\n"
    )
    path = write(tmp_path, text)

    code, out, err = run(capsys, "-c", str(path))

    assert code == 1
    assert err.startswith(f"error: {tmp_path / 'rules.d' / 'old.yaml'}:1: ")
    assert "4 rule files" in out
