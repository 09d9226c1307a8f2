"""``sentinel check``: validate a configuration without contacting any server.

What it reads, in order:

1. the configuration (one file or a folder), with every error and warning of
   :func:`sentinel.config.load_config`;
2. every rule file the configuration loads (the shipped packs unless
   ``default_rules: false``, then the user's), through the engine's loader;
3. every runbook an alert or an SLO links to by name, which must exist as
   ``<name>.md`` in the runbook folder: the folder ``runbook_base_url`` points to
   when it is a ``file://`` URL, else the shipped ``runbooks/`` (the source of the
   published pages). Full URLs are not fetched.

The result is a :class:`CheckReport`; the command prints it and exits 1 when it holds
an error, 0 otherwise (warnings allowed).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sentinel import config as cfg
from sentinel.errors import ConfigError
from sentinel.model import HOST_FACT_TYPES


@dataclass
class CheckReport:
    """What a check found. ``errors`` and ``warnings`` are printable lines."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    slos: int = 0
    rule_files: int = 0
    runbooks: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class RunbookLink:
    """A runbook named by an alert action or an SLO, and where it was named."""

    name: str
    file: str
    line: int
    owner: str  # "rule 'x'" or "SLO 'y'"


def check(path: str | Path, extra_rules: Sequence[str | Path] = ()) -> CheckReport:
    """Check the configuration at ``path`` and every rule file and runbook it uses."""
    report = CheckReport()

    # configuration
    config: cfg.Config | None = None
    try:
        config = cfg.load_config(path)
    except cfg.ConfigErrors as exc:
        report.errors.extend(str(e) for e in exc.errors)
    if config is not None:
        report.warnings.extend(str(w) for w in config.warnings)
        report.slos = len(config.slos)
        rule_files = list(config.rule_files())
        runbook_dir = runbook_folder(config.global_.runbook_base_url)
    else:
        rule_files = list(cfg.shipped_rule_files())
        runbook_dir = cfg.SHIPPED_RUNBOOKS_DIR
    rule_files.extend(Path(p) for p in extra_rules)

    # rule files
    rule_files = list(dict.fromkeys(rule_files))
    report.rule_files = len(rule_files)
    report.errors.extend(check_rule_files(rule_files))
    links: list[RunbookLink] = []
    for rule_file in rule_files:
        links.extend(alert_runbooks(rule_file))
    if config is not None:
        links.extend(_slo_runbooks(config))

    # runbooks
    report.runbooks = len({link.name for link in links})
    report.errors.extend(missing_runbooks(links, runbook_dir))
    return report


def check_rule_files(paths: Sequence[Path]) -> list[str]:
    """Load the rule files with the engine's loader; their errors as lines.

    Each file is loaded alone first, so every broken file is named; then, if all
    load, together, which finds what spans files: duplicate rule or metric names
    and fact types that no rule makes and the evaluator does not assert.
    """
    from sentinel.rete import RuleError, load_rules

    errors = []
    for path in paths:
        try:
            load_rules(path)
        except RuleError as exc:
            errors.append(str(exc))
    if not errors and paths:
        try:
            load_rules(list(paths), known_types=HOST_FACT_TYPES)
        except RuleError as exc:
            errors.append(str(exc))
    return errors


def runbook_folder(base_url: str) -> Path:
    """The local folder that holds the runbooks ``base_url`` publishes."""
    parts = urlsplit(base_url)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return cfg.SHIPPED_RUNBOOKS_DIR


def missing_runbooks(links: Sequence[RunbookLink], folder: Path) -> list[str]:
    """One error line per link whose ``<name>.md`` is not in ``folder``."""
    errors = []
    for link in links:
        if not link.name:
            errors.append(
                f"{link.file}:{link.line}: {link.owner}: alert has no runbook"
            )
            continue
        if "://" in link.name or "$" in link.name:
            continue  # full URLs are not fetched; variables resolve at run time
        expected = folder / f"{link.name}.md"
        if not expected.is_file():
            errors.append(
                f"{link.file}:{link.line}: {link.owner}: runbook {link.name!r} "
                f"not found (expected {expected})"
            )
    return errors


def alert_runbooks(path: Path) -> list[RunbookLink]:
    """The ``runbook`` of every ``alert:`` action in a rule file, with its line."""
    try:
        with open(path, encoding="utf-8") as fh:
            root = yaml.compose(fh, Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return []  # the engine's loader reports these
    links = []
    for rule_name, action in _alert_actions(root):
        runbook = _get(action, "runbook")
        at = runbook if runbook is not None else action
        name = str(runbook.value) if isinstance(runbook, ScalarNode) else ""
        line = at.start_mark.line + 1
        links.append(RunbookLink(name, str(path), line, f"rule {rule_name!r}"))
    return links


def _alert_actions(root: Node | None) -> Iterator[tuple[str, MappingNode]]:
    rules = _get(root, "rules")
    if not isinstance(rules, SequenceNode):
        return
    for rule in rules.value:
        name = _get(rule, "name")
        rule_name = str(name.value) if isinstance(name, ScalarNode) else "?"
        then = _get(rule, "then")
        for action in then.value if isinstance(then, SequenceNode) else []:
            alert = _get(action, "alert")
            if isinstance(alert, MappingNode):
                yield rule_name, alert


def _get(node: Node | None, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return value_node
    return None


def _slo_runbooks(config: cfg.Config) -> list[RunbookLink]:
    links = []
    for slo in config.slos:
        if slo.runbook and "://" not in slo.runbook:
            at = config.origins.get(slo.name)
            file, line = (at.file, at.line) if at else ("?", 0)
            links.append(RunbookLink(slo.runbook, file, line, f"SLO {slo.name!r}"))
    return links


# -- the command -----------------------------------------------------------------------


def run(
    path: str,
    extra_rules: Sequence[str] = (),
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print a check of ``path``; 0 when clean (warnings allowed), 1 on errors."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        report = check(path, extra_rules)
    except ConfigError as exc:  # a config the checker could not even open
        print(f"error: {exc}", file=err)
        return 1
    for line in report.errors:
        print(f"error: {line}", file=err)
    for line in report.warnings:
        print(f"warning: {line}", file=err)
    counts = (
        f"{report.slos} SLOs, {report.rule_files} rule files, "
        f"{report.runbooks} runbooks linked"
    )
    if report.ok:
        print(f"{path}: OK ({counts}; {len(report.warnings)} warnings)", file=out)
        return 0
    print(
        f"{path}: FAILED ({len(report.errors)} errors, "
        f"{len(report.warnings)} warnings; {counts})",
        file=out,
    )
    return 1
