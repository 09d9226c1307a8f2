"""Configuration: versioned YAML files mapped onto validated dataclasses.

One file or a folder of files (``*.yaml``/``*.yml``, merged in name order) is loaded in
three steps, keeping the on-disk spec apart from the model:

1. *parse*: ``yaml.compose`` with the safe loader, so every value keeps its line;
2. *map*: each section is read into the dataclasses below, and SLOs into
   :class:`sentinel.model.SLO`, collecting every error rather than stopping at the
   first;
3. *validate*: rules that span fields or files (unique names, sources that exist,
   windows the data can fill, histogram bounds).

Every error is a :class:`ConfigError` naming the file, the line, the field path
(``slos[2].objective``), the rule broken and the value received; unknown keys suggest
the nearest known one. A load with errors raises them all at once as
:class:`ConfigErrors`. What loads but cannot work as meant (a tier that can never fire
at its objective) is returned as :class:`ConfigWarning` on the :class:`Config`.

Relative paths in a file (rule globs, secret and CA files, a runbook folder) are taken
from that file's folder (a rule glob that matches nothing there is tried in the shipped
``rules/`` folder, so ``optional/maintenance.yaml`` names the optional pack);
``state_dir`` is taken from the working directory, as a daemon's data directory
usually is.
"""

from __future__ import annotations

import datetime
import difflib
import glob
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sentinel.errors import ConfigError
from sentinel.model import (
    DEFAULT_TIERS,
    SLO,
    LatencySLI,
    RatioSLI,
    TierSpec,
    format_duration,
    parse_duration,
)

VERSION = "sentinel/v1"
TIERS_VERSION = "sentinel/tiers/v1"


def _shipped(folder: str) -> Path:
    """A folder shipped beside the package: the source tree's, else the installed one.

    An editable install or a checkout reads ``rules/`` and ``runbooks/`` from the
    repository; a wheel installs them under ``<prefix>/share/sentinel/``.
    """
    here = Path(__file__).resolve().parent.parent / folder
    installed = Path(sys.prefix) / "share" / "sentinel" / folder
    return here if here.is_dir() or not installed.is_dir() else installed


SHIPPED_RULES_DIR = _shipped("rules")
SHIPPED_RUNBOOKS_DIR = _shipped("runbooks")
TIERS_FILE = SHIPPED_RULES_DIR / "tiers.yaml"
MAINTENANCE_RULES = SHIPPED_RULES_DIR / "optional" / "maintenance.yaml"

DEFAULT_INTERVAL = 60.0
DEFAULT_STATE_DIR = "./sentinel-state"
DEFAULT_LISTEN = "127.0.0.1:9099"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MIN_EVENTS = 20
DEFAULT_PERIOD = 30 * 86400.0

_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]+")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RUNBOOK_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_SELECTOR_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?")
_MISSING: Any = object()


# -- results ---------------------------------------------------------------------------


class ConfigErrors(ConfigError):
    """Every error of one load. ``errors`` holds them in file and line order."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(
            first.reason, file=first.file, line=first.line, field=first.field
        )
        self.value = first.value
        self.args = ("\n".join(str(e) for e in self.errors),)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ConfigWarning:
    """A setting that loads but cannot work as meant."""

    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        at = f"{self.field}: " if self.field else ""
        return f"{where}{at}{self.message}"


@dataclass(frozen=True)
class Location:
    """Where a named item was defined."""

    file: str
    line: int
    field: str


@dataclass(frozen=True)
class GlobalConfig:
    interval: float = DEFAULT_INTERVAL
    state_dir: str = DEFAULT_STATE_DIR
    listen: str = DEFAULT_LISTEN
    runbook_base_url: str = SHIPPED_RUNBOOKS_DIR.as_uri() + "/"
    rules: tuple[str, ...] = ()  # user rule files or globs, resolved to absolute
    default_rules: bool = True
    external_url: str | None = None
    retention: float | None = None  # history kept; None lets the store derive it
    # Width of a history bucket in seconds; at most the interval (see _read_global).
    resolution: int = int(DEFAULT_INTERVAL)


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password_file: str | None = None
    password_env: str | None = None


@dataclass(frozen=True)
class BearerAuth:
    token_file: str | None = None
    token_env: str | None = None


@dataclass(frozen=True)
class TLSConfig:
    ca_file: str | None = None
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class PrometheusSourceConfig:
    """A Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics)."""

    name: str
    url: str
    auth: BasicAuth | BearerAuth | None = None
    tls: TLSConfig = field(default_factory=TLSConfig)
    timeout: float = DEFAULT_TIMEOUT
    retries: int = 2
    scrape_interval: float = 60.0  # the server's, for the minimum-window check
    default: bool = False
    type: str = "prometheus"


@dataclass(frozen=True)
class ScrapeTarget:
    url: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScrapeSourceConfig:
    """The embedded scraper: reads Prometheus-format ``/metrics`` endpoints itself."""

    name: str
    targets: tuple[ScrapeTarget, ...]
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    default: bool = False
    type: str = "scrape"

    @property
    def scrape_interval(self) -> float:
        return self.interval


SourceConfig = PrometheusSourceConfig | ScrapeSourceConfig


@dataclass(frozen=True)
class AlertmanagerNotifierConfig:
    name: str
    urls: tuple[str, ...]  # every replica; each push goes to all of them
    timeout: float = DEFAULT_TIMEOUT
    type: str = "alertmanager"


@dataclass(frozen=True)
class WebhookNotifierConfig:
    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    type: str = "webhook"


@dataclass(frozen=True)
class SlackNotifierConfig:
    name: str
    webhook_url: str | None = None
    webhook_url_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    type: str = "slack"


@dataclass(frozen=True)
class LogNotifierConfig:
    name: str
    type: str = "log"


NotifierConfig = (
    AlertmanagerNotifierConfig
    | WebhookNotifierConfig
    | SlackNotifierConfig
    | LogNotifierConfig
)


@dataclass(frozen=True)
class Maintenance:
    """Planned work on an SLO: its burn and data alerts are muted until ``until``.

    ``slo`` is an SLO name (every instance) or one instance id. Muting is done by the
    rule pack ``rules/optional/maintenance.yaml``, loaded whenever one is configured.
    """

    slo: str
    until: float
    reason: str = ""
    starts: float = 0.0


@dataclass(frozen=True)
class Config:
    """A loaded, validated configuration."""

    global_: GlobalConfig
    sources: tuple[SourceConfig, ...]
    notifiers: tuple[NotifierConfig, ...]
    slos: tuple[SLO, ...]
    tiers: tuple[TierSpec, ...] = DEFAULT_TIERS  # the default tier table in use
    files: tuple[str, ...] = ()
    warnings: tuple[ConfigWarning, ...] = ()
    origins: Mapping[str, Location] = field(default_factory=dict)  # SLO name -> def
    maintenance: tuple[Maintenance, ...] = ()

    def source(self, name: str | None) -> SourceConfig:
        """The source called ``name`` (every loaded SLO names one)."""
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def rule_files(self) -> tuple[Path, ...]:
        """Shipped rule packs (unless ``default_rules: false``) then the user's."""
        files = list(shipped_rule_files()) if self.global_.default_rules else []
        for pattern in self.global_.rules:
            files.extend(Path(p) for p in sorted(glob.glob(pattern)))
        if self.maintenance:
            files.append(MAINTENANCE_RULES)
        return tuple(dict.fromkeys(files))

    def runbook_url(self, name: str) -> str:
        """The link an alert carries: a full URL as is, else base URL + name."""
        if "://" in name:
            return name
        return self.global_.runbook_base_url.rstrip("/") + f"/{name}.md"


def shipped_rule_files() -> tuple[Path, ...]:
    """The rule packs in ``rules/`` (not ``rules/optional/``, not the tier table)."""
    found = sorted(SHIPPED_RULES_DIR.glob("*.yaml"))
    return tuple(p for p in found if p.name != TIERS_FILE.name)


# -- reading nodes ---------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: object) -> str:
    if isinstance(value, MappingNode):
        return "a mapping"
    if isinstance(value, SequenceNode):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _suggest(key: str, allowed: Iterable[str], known: str = "keys") -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known {known}: {', '.join(sorted(allowed))})"


class _Reader:
    """Reads one file's node tree into Python values, collecting errors and warnings."""

    def __init__(
        self,
        file: str,
        errors: list[ConfigError],
        warnings: list[ConfigWarning],
    ) -> None:
        self.file = file
        self.base = Path(file).resolve().parent
        self.errors = errors
        self.warnings = warnings
        self.declared: set[str] = set()  # source names seen, read or not
        self._constructor = SafeConstructor()

    # reporting

    def fail(
        self, node: Node | None, path: str, rule: str, value: object = _MISSING
    ) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        message = rule if value is _MISSING else f"{rule}, got {_show(value)}"
        shown = None if value is _MISSING or isinstance(value, Node) else value
        self.errors.append(
            ConfigError(message, file=self.file, line=line, field=path, value=shown)
        )

    def warn(self, node: Node | None, path: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.warnings.append(ConfigWarning(message, self.file, line, path))

    # structure

    def mapping(
        self,
        node: Node,
        path: str,
        allowed: Sequence[str],
        required: Sequence[str] = (),
    ) -> dict[str, Node] | None:
        """The mapping's values by key; unknown, duplicate and missing keys fail."""
        if not isinstance(node, MappingNode):
            self.fail(node, path, "must be a mapping", self.value(node))
            return None
        values: dict[str, Node] = {}
        suggested: set[str] = set()
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str):
                self.fail(key_node, path, "keys must be strings", key)
            elif key in values:
                self.fail(key_node, _join(path, key), "duplicate key")
            elif key not in allowed:
                hint = _suggest(key, allowed)
                self.fail(key_node, _join(path, key), "unknown key" + hint)
                suggested.update(difflib.get_close_matches(key, allowed, 1, 0.6))
            else:
                values[key] = value_node
        for key in required:
            if key not in values and key not in suggested:  # a typo says it already
                self.fail(node, _join(path, key), "is required")
        return values

    def sequence(self, node: Node, path: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.fail(node, path, "must be a list", self.value(node))
            return None
        return list(node.value)

    def value(self, node: Node) -> object:
        if isinstance(node, ScalarNode):
            return self._constructor.construct_object(node)
        return node

    # scalars

    def string(
        self,
        node: Node,
        path: str,
        pattern: re.Pattern[str] | None = None,
        rule: str = "",
    ) -> str | None:
        v = self.value(node)
        if not isinstance(v, str) or not v:
            self.fail(node, path, "must be a non-empty string", v)
            return None
        if pattern is not None and not pattern.fullmatch(v):
            self.fail(node, path, rule, v)
            return None
        return v

    def url(
        self, node: Node, path: str, schemes: Sequence[str] = ("http", "https")
    ) -> str | None:
        v = self.string(node, path)
        if v is None:
            return None
        parts = urlsplit(v)
        if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "file"):
            want = " or ".join(f"{s}://" for s in schemes)
            self.fail(node, path, f"must be a URL starting with {want}", v)
            return None
        return v

    def number(self, node: Node, path: str) -> float | None:
        v = self.value(node)
        if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
            self.fail(node, path, "must be a number", v)
            return None
        return float(v)

    def integer(self, node: Node, path: str, minimum: int = 0) -> int | None:
        v = self.value(node)
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            self.fail(node, path, f"must be a whole number >= {minimum}", v)
            return None
        return v

    def boolean(self, node: Node, path: str) -> bool | None:
        v = self.value(node)
        if not isinstance(v, bool):
            self.fail(node, path, "must be true or false", v)
            return None
        return v

    def duration(self, node: Node, path: str, positive: bool = True) -> float | None:
        v = self.value(node)
        try:
            if isinstance(v, Node):
                raise ValueError(v)
            seconds = parse_duration(v)  # type: ignore[arg-type]
        except ValueError:
            self.fail(
                node, path, "must be a duration such as 30s, 5m, 1h, 30d or 4w", v
            )
            return None
        if positive and seconds <= 0:
            self.fail(node, path, "must be a positive duration", v)
            return None
        return seconds

    def fraction(self, node: Node, path: str) -> float | None:
        """A budget share: ``0.02`` or ``"2%"``; must be in (0, 1]."""
        v = self.value(node)
        share = _percent_or_number(v, percent_divisor=100)
        if share is None or not 0 < share <= 1:
            self.fail(
                node, path, 'must be a fraction in (0, 1] such as 0.02 or "2%"', v
            )
            return None
        return share

    def string_map(self, node: Node, path: str) -> dict[str, str] | None:
        if not isinstance(node, MappingNode):
            self.fail(node, path, "must be a mapping of strings", self.value(node))
            return None
        out: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            value = self.value(value_node)
            if not isinstance(key, str) or not isinstance(value, str):
                self.fail(value_node, _join(path, str(key)), "must be a string", value)
            else:
                out[key] = value
        return out

    def path(self, node: Node, path: str) -> str | None:
        """A file path, made absolute against this file's folder."""
        v = self.string(node, path)
        return None if v is None else str(self.base / Path(v).expanduser())


def _percent_or_number(v: object, percent_divisor: int) -> float | None:
    """``"2%"`` -> 0.02; a number as is; anything else -> None. Exact decimals."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            return float(Decimal(v.strip()[:-1].strip()) / percent_divisor)
        except InvalidOperation:
            return None
    return None


def _pick(
    values: Mapping[str, Node],
    key: str,
    read: Callable[[Node, str], Any],
    path: str,
    default: Any = None,
) -> Any:
    """Read ``values[key]`` with ``read``, or return ``default`` when absent or bad."""
    if key not in values:
        return default
    got = read(values[key], _join(path, key))
    return default if got is None else got


# -- sections --------------------------------------------------------------------------

_GLOBAL_KEYS = (
    "interval",
    "state_dir",
    "listen",
    "runbook_base_url",
    "rules",
    "default_rules",
    "external_url",
    "retention",
    "resolution",
)


def _read_global(r: _Reader, node: Node) -> GlobalConfig | None:
    path = "global"
    v = r.mapping(node, path, _GLOBAL_KEYS)
    if v is None:
        return None
    g = GlobalConfig()
    interval = _pick(v, "interval", r.duration, path, g.interval)
    listen = _pick(v, "listen", r.string, path, g.listen)
    if "listen" in v and listen != g.listen and not _valid_listen(listen):
        r.fail(
            v["listen"], "global.listen", "must be host:port with port 0-65535", listen
        )
    # Each tick writes the buckets since the last one; a bucket wider than the
    # interval would be written twice and the second write would replace the first.
    resolution = _pick(v, "resolution", r.duration, path, min(interval, 60.0))
    if resolution != int(resolution) or resolution < 1:
        r.fail(
            v.get("resolution", node),
            "global.resolution",
            "must be a whole number of seconds, at least 1s",
            format_duration(resolution),
        )
    elif resolution > interval:
        r.fail(
            v.get("resolution", node),
            "global.resolution",
            f"must not exceed global.interval ({format_duration(interval)})",
            format_duration(resolution),
        )
    rules: list[str] = []
    if "rules" in v:
        for i, item in enumerate(r.sequence(v["rules"], "global.rules") or []):
            pattern = r.path(item, f"global.rules[{i}]")
            if pattern is None:
                continue
            shipped = str(SHIPPED_RULES_DIR / str(r.value(item)))
            if not glob.glob(pattern) and glob.glob(shipped):
                pattern = shipped  # e.g. optional/maintenance.yaml
            if not glob.glob(pattern):
                r.fail(item, f"global.rules[{i}]", "matches no file", r.value(item))
            rules.append(pattern)
    return GlobalConfig(
        interval=interval,
        state_dir=_pick(v, "state_dir", r.string, path, g.state_dir),
        listen=listen,
        runbook_base_url=_pick(
            v,
            "runbook_base_url",
            lambda n, p: _read_base_url(r, n, p),
            path,
            g.runbook_base_url,
        ),
        rules=tuple(rules),
        default_rules=_pick(v, "default_rules", r.boolean, path, True),
        external_url=_pick(v, "external_url", r.url, path),
        retention=_pick(v, "retention", r.duration, path),
        resolution=int(resolution),
    )


def _valid_listen(text: str) -> bool:
    _host, sep, port = text.rpartition(":")
    return bool(sep) and port.isdigit() and 0 <= int(port) <= 65535


def _read_base_url(r: _Reader, node: Node, path: str) -> str | None:
    """An http(s) or file URL, or a folder (made a file URL), ending in ``/``."""
    v = r.string(node, path)
    if v is None:
        return None
    scheme = urlsplit(v).scheme
    if scheme in ("http", "https", "file"):
        return v if v.endswith("/") else v + "/"
    if scheme and len(scheme) > 1:
        r.fail(node, path, "must be an http(s) or file URL, or a folder", v)
        return None
    return (r.base / v).resolve().as_uri() + "/"


_SOURCE_KEYS = {
    "prometheus": (
        "name", "type", "url", "auth", "tls", "timeout", "retries",
        "scrape_interval", "default",
    ),
    "scrape": ("name", "type", "targets", "interval", "timeout", "default"),
}  # fmt: skip


def _read_sources(r: _Reader, node: Node, interval: float) -> list[tuple[Any, Node]]:
    out: list[tuple[Any, Node]] = []
    for i, item, name in _named_items(r, node, "sources"):
        path = f"sources[{i}]" if isinstance(node, SequenceNode) else f"sources.{name}"
        r.declared.add(name or _scalar_at(item, "name"))
        kind = _item_type(r, item, path, _SOURCE_KEYS)
        if kind is None:
            continue
        v = r.mapping(item, path, _SOURCE_KEYS[kind], required=_required(kind, node))
        if v is None:
            continue
        name = name or _pick(
            v, "name", lambda n, p: r.string(n, p, _NAME_RE, _NAME_RULE), path
        )
        if name is None:
            continue
        if kind == "prometheus":
            src: Any = _read_prometheus(r, v, path, name)
        else:
            src = _read_scrape(r, v, path, name, interval)
        if src is not None:
            out.append((src, item))
    return out


_NAME_RULE = "must match [a-zA-Z0-9_.-]+"


def _scalar_at(node: Node, key: str) -> str:
    """The text of ``node[key]`` when it is a scalar, else ``""``."""
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key and isinstance(value_node, ScalarNode):
                return str(value_node.value)
    return ""


def _required(kind: str, container: Node) -> tuple[str, ...]:
    named = ("name",) if isinstance(container, SequenceNode) else ()
    need = {"prometheus": ("url",), "scrape": ("targets",), "alertmanager": ("urls",),
            "webhook": ("url",), "slack": (), "log": ()}  # fmt: skip
    return named + need[kind]


def _named_items(
    r: _Reader, node: Node, path: str
) -> Iterable[tuple[int, Node, str | None]]:
    """A section's items, as a list (names inside) or a mapping (names as keys)."""
    if isinstance(node, MappingNode):
        for i, (key_node, value_node) in enumerate(node.value):
            name = r.string(key_node, path, _NAME_RE, _NAME_RULE)
            if name is not None:
                yield i, value_node, name
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            yield i, item, None
    elif r.value(node) is not None:
        r.fail(node, path, "must be a list or a mapping", r.value(node))


def _item_type(
    r: _Reader, item: Node, path: str, kinds: Mapping[str, object]
) -> str | None:
    if not isinstance(item, MappingNode):
        r.fail(item, path, "must be a mapping", r.value(item))
        return None
    for key_node, value_node in item.value:
        if r.value(key_node) == "type":
            kind = r.value(value_node)
            if kind in kinds:
                return str(kind)
            rule = "must be one of " + ", ".join(kinds)
            r.fail(value_node, _join(path, "type"), rule, kind)
            return None
    r.fail(item, _join(path, "type"), "is required (one of " + ", ".join(kinds) + ")")
    return None


def _read_prometheus(
    r: _Reader, v: dict[str, Node], path: str, name: str
) -> PrometheusSourceConfig | None:
    url = _pick(v, "url", r.url, path)
    auth = _read_auth(r, v["auth"], _join(path, "auth")) if "auth" in v else None
    tls = TLSConfig()
    if "tls" in v:
        t = r.mapping(v["tls"], _join(path, "tls"), ("ca_file", "insecure_skip_verify"))
        if t is not None:
            tls = TLSConfig(
                ca_file=_pick(t, "ca_file", r.path, _join(path, "tls")),
                insecure_skip_verify=_pick(
                    t, "insecure_skip_verify", r.boolean, _join(path, "tls"), False
                ),
            )
    if url is None:
        return None
    return PrometheusSourceConfig(
        name=name,
        url=url,
        auth=auth,
        tls=tls,
        timeout=_pick(v, "timeout", r.duration, path, DEFAULT_TIMEOUT),
        retries=_pick(v, "retries", r.integer, path, 2),
        scrape_interval=_pick(v, "scrape_interval", r.duration, path, 60.0),
        default=_pick(v, "default", r.boolean, path, False),
    )


def _read_auth(r: _Reader, node: Node, path: str) -> BasicAuth | BearerAuth | None:
    v = r.mapping(node, path, ("basic", "bearer"))
    if v is None:
        return None
    if len(v) != 1:
        r.fail(node, path, "must hold exactly one of basic, bearer")
        return None
    if "basic" in v:
        p = _join(path, "basic")
        b = r.mapping(v["basic"], p, ("username", "password_file", "password_env"),
                      required=("username",))  # fmt: skip
        if b is None or not _one_of(
            r, v["basic"], p, b, "password_file", "password_env"
        ):
            return None
        return BasicAuth(
            username=_pick(b, "username", r.string, p, ""),
            password_file=_pick(b, "password_file", r.path, p),
            password_env=_pick(b, "password_env", r.string, p),
        )
    p = _join(path, "bearer")
    b = r.mapping(v["bearer"], p, ("token_file", "token_env"))
    if b is None or not _one_of(r, v["bearer"], p, b, "token_file", "token_env"):
        return None
    return BearerAuth(
        token_file=_pick(b, "token_file", r.path, p),
        token_env=_pick(b, "token_env", r.string, p),
    )


def _one_of(
    r: _Reader, node: Node, path: str, v: Mapping[str, Node], *keys: str
) -> bool:
    if sum(k in v for k in keys) == 1:
        return True
    r.fail(node, path, "must set exactly one of " + ", ".join(keys))
    return False


def _read_scrape(
    r: _Reader, v: dict[str, Node], path: str, name: str, interval: float
) -> ScrapeSourceConfig | None:
    targets: list[ScrapeTarget] = []
    items = r.sequence(v["targets"], _join(path, "targets")) if "targets" in v else None
    if items is not None and not items:
        r.fail(v["targets"], _join(path, "targets"), "must list at least one target")
    for i, item in enumerate(items or []):
        p = f"{path}.targets[{i}]"
        t = r.mapping(item, p, ("url", "labels"), required=("url",))
        if t is None:
            continue
        url = _pick(t, "url", r.url, p)
        labels = _pick(t, "labels", r.string_map, p, {})
        if url is not None:
            targets.append(ScrapeTarget(url, labels))
    scrape_interval = _pick(v, "interval", r.duration, path, interval)
    timeout = _pick(
        v, "timeout", r.duration, path, min(DEFAULT_TIMEOUT, scrape_interval)
    )
    if "timeout" in v and timeout > scrape_interval:
        r.fail(
            v["timeout"], _join(path, "timeout"),
            f"must not exceed the scrape interval ({format_duration(scrape_interval)})",
            r.value(v["timeout"]),
        )  # fmt: skip
    if items is None or not targets:
        return None
    return ScrapeSourceConfig(
        name=name,
        targets=tuple(targets),
        interval=scrape_interval,
        timeout=timeout,
        default=_pick(v, "default", r.boolean, path, False),
    )


_NOTIFIER_KEYS = {
    "alertmanager": ("name", "type", "urls", "timeout"),
    "webhook": ("name", "type", "url", "headers", "timeout"),
    "slack": ("name", "type", "webhook_url", "webhook_url_file", "timeout"),
    "log": ("name", "type"),
}


def _read_notifiers(r: _Reader, node: Node) -> list[tuple[Any, Node]]:
    out: list[tuple[Any, Node]] = []
    for i, item, key_name in _named_items(r, node, "notifiers"):
        path = (
            f"notifiers[{i}]"
            if isinstance(node, SequenceNode)
            else f"notifiers.{key_name}"
        )
        kind = _item_type(r, item, path, _NOTIFIER_KEYS)
        if kind is None:
            continue
        required = _required(kind, item)  # names are optional: the type is the default
        v = r.mapping(item, path, _NOTIFIER_KEYS[kind], required=required)
        if v is None:
            continue
        name = key_name or _pick(
            v, "name", lambda n, p: r.string(n, p, _NAME_RE, _NAME_RULE), path, kind
        )
        timeout = _pick(v, "timeout", r.duration, path, DEFAULT_TIMEOUT)
        notifier: Any = None
        if kind == "alertmanager":
            urls = [
                r.url(u, f"{path}.urls[{j}]")
                for j, u in enumerate(r.sequence(v["urls"], _join(path, "urls")) or [])
            ]
            valid = tuple(u for u in urls if u is not None)
            if urls and len(valid) == len(urls):
                notifier = AlertmanagerNotifierConfig(name, valid, timeout)
            elif not urls and isinstance(v["urls"], SequenceNode):
                r.fail(v["urls"], _join(path, "urls"), "must list at least one URL")
        elif kind == "webhook":
            url = _pick(v, "url", r.url, path)
            headers = _pick(v, "headers", r.string_map, path, {})
            if url is not None:
                notifier = WebhookNotifierConfig(name, url, headers, timeout)
        elif kind == "slack":
            if _one_of(r, item, path, v, "webhook_url", "webhook_url_file"):
                notifier = SlackNotifierConfig(
                    name,
                    _pick(v, "webhook_url", r.url, path),
                    _pick(v, "webhook_url_file", r.path, path),
                    timeout,
                )
        else:
            notifier = LogNotifierConfig(name)
        if notifier is not None:
            out.append((notifier, item))
    return out


# -- SLOs ------------------------------------------------------------------------------

_SLO_KEYS = (
    "name", "service", "description", "labels", "objective", "period", "sli",
    "group_by", "alerting", "min_events", "runbook", "source",
)  # fmt: skip
_TIER_KEYS = ("name", "fraction", "long", "short", "severity", "min_events")


@dataclass
class _SLOEntry:
    """An SLO read from a file, with what cross-file validation needs to point at."""

    slo: SLO
    reader: _Reader
    path: str
    node: Node
    fields: dict[str, Node]
    tier_nodes: list[Node]


def _read_slo(
    r: _Reader, node: Node, path: str, default_tiers: tuple[TierSpec, ...]
) -> _SLOEntry | None:
    v = r.mapping(
        node, path, _SLO_KEYS, required=("name", "service", "objective", "sli")
    )
    if v is None:
        return None
    name = _pick(v, "name", lambda n, p: r.string(n, p, _NAME_RE, _NAME_RULE), path)
    objective = _pick(v, "objective", lambda n, p: _read_objective(r, n, p), path)
    period = _pick(
        v, "period", lambda n, p: _read_period(r, n, p), path, DEFAULT_PERIOD
    )
    sli = _pick(v, "sli", lambda n, p: _read_sli(r, n, p, name), path)
    tiers = default_tiers
    tier_nodes: list[Node] = []
    timing = (0.0, 0.0, False)
    if "alerting" in v:
        read = _read_alerting(r, v["alerting"], _join(path, "alerting"), period)
        if read is not None:
            custom, tier_nodes, timing = read
            tiers = custom if custom is not None else default_tiers
    else:
        _check_tier_windows(r, node, path, tiers, period, [])
    service = _pick(v, "service", r.string, path)
    description = _pick(v, "description", _any_string(r), path, "")
    labels = _pick(v, "labels", r.string_map, path, {})
    group_by = _pick(v, "group_by", lambda n, p: _read_group_by(r, n, p), path, ())
    min_events = _pick(v, "min_events", r.integer, path, DEFAULT_MIN_EVENTS)
    runbook = _pick(v, "runbook", lambda n, p: _read_runbook(r, n, p), path)
    source = _pick(v, "source", r.string, path)
    if None in (name, objective, sli, service):
        return None
    slo = SLO(
        name=name,
        service=service,
        objective=objective,
        sli=sli,
        period=period,
        description=description,
        labels=labels,
        group_by=group_by,
        tiers=tiers,
        min_events=min_events,
        runbook=runbook,
        source=source,
        pending_for=timing[0],
        keep_firing_for=timing[1],
        alerting_disabled=timing[2],
    )
    return _SLOEntry(slo, r, path, node, v, tier_nodes)


def _any_string(r: _Reader) -> Callable[[Node, str], str | None]:
    def read(node: Node, path: str) -> str | None:
        v = r.value(node)
        if not isinstance(v, str):
            r.fail(node, path, "must be a string", v)
            return None
        return v

    return read


def _read_objective(r: _Reader, node: Node, path: str) -> float | None:
    """A percentage, ``99.9`` or ``"99.9%"``, as the fraction 0.999 (exact decimals)."""
    v = r.value(node)
    text = v.strip().rstrip("%") if isinstance(v, str) else v
    try:
        if isinstance(text, bool) or not isinstance(text, int | float | str):
            raise InvalidOperation
        percent = Decimal(str(text))
    except InvalidOperation:
        percent = Decimal("NaN")
    if percent.is_nan() or not 0 < percent < 100:
        r.fail(node, path, "must be a percentage between 0 and 100, exclusive", v)
        return None
    return float(percent / 100)


def _read_period(r: _Reader, node: Node, path: str) -> float | None:
    seconds = r.duration(node, path)
    if seconds is None:
        return None
    if seconds < 86400 or seconds % 86400:
        rule = "must be a whole number of days, such as 7d, 28d, 30d or 4w"
        r.fail(node, path, rule, r.value(node))
        return None
    return seconds


def _read_group_by(r: _Reader, node: Node, path: str) -> tuple[str, ...] | None:
    items = r.sequence(node, path)
    if items is None:
        return None
    labels = []
    for i, item in enumerate(items):
        label = r.string(item, f"{path}[{i}]", _LABEL_RE, "must be a label name")
        if label in labels:
            r.fail(item, f"{path}[{i}]", "duplicate label", label)
        elif label is not None:
            labels.append(label)
    return tuple(labels)


def _read_runbook(r: _Reader, node: Node, path: str) -> str | None:
    v = r.string(node, path)
    if v is None:
        return None
    if "://" in v:
        return r.url(node, path)
    if not _RUNBOOK_RE.fullmatch(v):
        rule = "must be a runbook name (lowercase words joined by -) or an http(s) URL"
        r.fail(node, path, rule, v)
        return None
    return v


def _read_sli(
    r: _Reader, node: Node, path: str, slo_name: str | None
) -> RatioSLI | LatencySLI | None:
    v = r.mapping(node, path, ("ratio", "latency"))
    if v is None:
        return None
    if len(v) != 1:
        r.fail(node, path, "must hold exactly one of ratio, latency")
        return None
    if "ratio" in v:
        p = _join(path, "ratio")
        s = r.mapping(v["ratio"], p, ("total", "good", "bad"), required=("total",))
        if s is None or not _one_of(r, v["ratio"], p, s, "good", "bad"):
            return None
        read = _selector(r)
        total = _pick(s, "total", read, p)
        good = _pick(s, "good", read, p)
        bad = _pick(s, "bad", read, p)
        if total is None or (good or bad) is None:
            return None
        return RatioSLI(total=total, good=good, bad=bad)
    return _read_latency(r, v["latency"], _join(path, "latency"), slo_name)


def _selector(r: _Reader) -> Callable[[Node, str], str | None]:
    rule = 'must be a series selector such as http_requests_total{job="api"}'

    def read(node: Node, path: str) -> str | None:
        v = r.string(node, path)
        if v is not None and not _SELECTOR_RE.fullmatch(v.strip()):
            r.fail(node, path, rule, v)
            return None
        return v

    return read


def _read_latency(
    r: _Reader, node: Node, path: str, slo_name: str | None
) -> LatencySLI | None:
    s = r.mapping(node, path, ("histogram", "threshold", "buckets"),
                  required=("histogram", "threshold"))  # fmt: skip
    if s is None:
        return None
    histogram = _pick(s, "histogram", _selector(r), path)
    if histogram is not None:
        base = histogram.split("{", 1)[0]
        for suffix in ("_bucket", "_count", "_sum"):
            if base.endswith(suffix):
                rule = f"must be the histogram's base name, without {suffix!r}"
                r.fail(s["histogram"], _join(path, "histogram"), rule, histogram)
                histogram = None
                break
    threshold = _pick(s, "threshold", r.duration, path)
    buckets: tuple[float, ...] = ()
    if "buckets" in s:
        buckets = _read_buckets(r, s["buckets"], _join(path, "buckets")) or ()
    # C11: the threshold must be one of the known bounds, compared as numbers
    # (1 == 1.0); rounding to a neighbouring bound would change the SLI silently.
    if threshold is not None and buckets and not _is_bound(threshold, buckets):
        bounds = ", ".join(_bound(b) for b in buckets)
        r.fail(
            s["threshold"],
            _join(path, "threshold"),
            f"SLO {slo_name!r}: threshold {_bound(threshold)}s is not one of the "
            f"histogram's bucket bounds [{bounds}]",
            r.value(s["threshold"]),
        )
        return None
    if histogram is None or threshold is None:
        return None
    return LatencySLI(histogram=histogram, threshold=threshold, buckets=buckets)


def _read_buckets(r: _Reader, node: Node, path: str) -> tuple[float, ...] | None:
    items = r.sequence(node, path)
    if items is None:
        return None
    bounds: list[float] = []
    for i, item in enumerate(items):
        v = r.value(item)
        try:
            if isinstance(v, bool) or not isinstance(v, int | float | str):
                raise ValueError(v)
            bounds.append(float(v))
        except ValueError:
            r.fail(item, f"{path}[{i}]", 'must be a number or "+Inf"', v)
    if bounds != sorted(bounds):
        r.fail(node, path, "must be in increasing order")
    return tuple(bounds)


def _is_bound(value: float, bounds: Iterable[float]) -> bool:
    return any(math.isclose(value, b, rel_tol=1e-9, abs_tol=1e-12) for b in bounds)


def _bound(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(int(value)) if value == int(value) else repr(value)


def _read_alerting(
    r: _Reader, node: Node, path: str, period: float
) -> tuple[tuple[TierSpec, ...] | None, list[Node], tuple[float, float, bool]] | None:
    v = r.mapping(node, path, ("tiers", "for", "keep_firing_for", "disabled"))
    if v is None:
        return None
    timing = (
        _pick(v, "for", lambda n, p: r.duration(n, p, positive=False), path, 0.0),
        _pick(
            v,
            "keep_firing_for",
            lambda n, p: r.duration(n, p, positive=False),
            path,
            0.0,
        ),
        _pick(v, "disabled", r.boolean, path, False),
    )
    if "tiers" not in v:
        return None, [], timing
    tiers_path = _join(path, "tiers")
    nodes = r.sequence(v["tiers"], tiers_path)
    if nodes is None:
        return None
    tiers = _read_tier_list(r, nodes, tiers_path)
    if tiers is None:
        return None
    _check_tier_windows(r, v["tiers"], tiers_path, tiers, period, nodes)
    return tiers, nodes, timing


def _read_tier_list(
    r: _Reader, nodes: list[Node], path: str
) -> tuple[TierSpec, ...] | None:
    tiers: list[TierSpec] = []
    ok = True
    for i, item in enumerate(nodes):
        tier = _read_tier(r, item, f"{path}[{i}]")
        if tier is None:
            ok = False
        elif any(t.name == tier.name for t in tiers):
            r.fail(item, f"{path}[{i}].name", "duplicate tier name", tier.name)
            ok = False
        else:
            tiers.append(tier)
    return tuple(tiers) if ok else None


def _read_tier(r: _Reader, node: Node, path: str) -> TierSpec | None:
    required = ("name", "fraction", "long", "short", "severity")
    v = r.mapping(node, path, _TIER_KEYS, required=required)
    if v is None:
        return None
    name = _pick(v, "name", lambda n, p: r.string(n, p, _NAME_RE, _NAME_RULE), path)
    fraction = _pick(v, "fraction", r.fraction, path)
    long = _pick(v, "long", r.duration, path)
    short = _pick(v, "short", r.duration, path)
    severity = _pick(v, "severity", r.string, path)
    min_events = _pick(v, "min_events", r.integer, path)
    if long is not None and short is not None and short >= long:
        rule = f"must be shorter than the long window ({format_duration(long)})"
        r.fail(v["short"], _join(path, "short"), rule, r.value(v["short"]))
        return None
    if None in (name, fraction, long, short, severity):
        return None
    return TierSpec(name, fraction, long, short, severity, min_events)


def _check_tier_windows(
    r: _Reader,
    node: Node,
    path: str,
    tiers: Sequence[TierSpec],
    period: float | None,
    nodes: Sequence[Node],
) -> None:
    if period is None:
        return
    for i, tier in enumerate(tiers):
        if tier.long > period:
            at = nodes[i] if nodes else node
            rule = (
                f"tier {tier.name!r}: long window {format_duration(tier.long)} "
                f"is longer than the period {format_duration(period)}"
            )
            r.fail(at, f"{path}[{i}].long" if nodes else path, rule)


# -- loading ---------------------------------------------------------------------------


def load_config(path: str | Path) -> Config:
    """Load and validate a config file, or every ``*.yaml``/``*.yml`` in a folder.

    Raises :class:`ConfigErrors` (a :class:`ConfigError`) listing every error found.
    """
    files = _config_files(Path(path))
    errors: list[ConfigError] = []
    warnings: list[ConfigWarning] = []
    tiers = load_tier_table()
    loaded = [_load_file(f, errors, warnings, tiers) for f in files]
    config = _merge(
        [x for x in loaded if x is not None], errors, warnings, files, tiers
    )
    if errors:
        errors.sort(key=lambda e: (e.file or "", e.line or 0))
        raise ConfigErrors(errors)
    assert config is not None
    return config


def _config_files(path: Path) -> list[str]:
    if path.is_dir():
        found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not found:
            raise ConfigErrors(
                [ConfigError("folder holds no *.yaml file", file=str(path))]
            )
        return [str(f) for f in found]
    if not path.exists():
        raise ConfigErrors([ConfigError("no such file or folder", file=str(path))])
    return [str(path)]


def _compose(file: str, errors: list[ConfigError]) -> Node | None:
    try:
        with open(file, encoding="utf-8") as fh:
            return yaml.compose(fh, Loader=yaml.SafeLoader)
    except OSError as exc:
        errors.append(ConfigError(f"cannot read: {exc.strerror}", file=file))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        errors.append(ConfigError(f"invalid YAML: {problem}", file=file, line=line))
    except yaml.YAMLError as exc:
        errors.append(ConfigError(f"invalid YAML: {exc}", file=file))
    return None


@dataclass
class _FileParts:
    reader: _Reader
    global_: tuple[GlobalConfig, Node] | None
    sources: list[tuple[Any, Node]]
    notifiers: list[tuple[Any, Node]]
    slos: list[_SLOEntry]
    has_sources: bool = False
    maintenance: list[tuple[Maintenance, Node]] = field(default_factory=list)


def _load_file(
    file: str,
    errors: list[ConfigError],
    warnings: list[ConfigWarning],
    tiers: tuple[TierSpec, ...],
) -> _FileParts | None:
    root = _compose(file, errors)
    if root is None:
        if not any(e.file == file for e in errors):
            errors.append(ConfigError("file is empty", file=file))
        return None
    r = _Reader(file, errors, warnings)
    top = r.mapping(
        root,
        "",
        ("version", "global", "sources", "notifiers", "slos", "maintenance"),
        ("version",),
    )
    if top is None:
        return None
    if "version" in top and r.value(top["version"]) != VERSION:
        r.fail(
            top["version"], "version", f"must be {VERSION!r}", r.value(top["version"])
        )
        return None
    g = None
    if "global" in top:
        read = _read_global(r, top["global"])
        g = (read, top["global"]) if read is not None else None
    interval = g[0].interval if g else DEFAULT_INTERVAL
    sources = _read_sources(r, top["sources"], interval) if "sources" in top else []
    notifiers = _read_notifiers(r, top["notifiers"]) if "notifiers" in top else []
    slos: list[_SLOEntry] = []
    if "slos" in top:
        for i, item in enumerate(r.sequence(top["slos"], "slos") or []):
            entry = _read_slo(r, item, f"slos[{i}]", tiers)
            if entry is not None:
                slos.append(entry)
    maintenance = (
        _read_maintenance(r, top["maintenance"]) if "maintenance" in top else []
    )
    return _FileParts(r, g, sources, notifiers, slos, "sources" in top, maintenance)


_MAINTENANCE_KEYS = ("slo", "until", "starts", "reason")


def _read_maintenance(r: _Reader, node: Node) -> list[tuple[Maintenance, Node]]:
    out = []
    for i, item in enumerate(r.sequence(node, "maintenance") or []):
        path = f"maintenance[{i}]"
        v = r.mapping(item, path, _MAINTENANCE_KEYS, required=("slo", "until"))
        if v is None:
            continue
        slo = _pick(v, "slo", r.string, path)
        until = _pick(v, "until", lambda n, p: _timestamp(r, n, p), path)
        starts = _pick(v, "starts", lambda n, p: _timestamp(r, n, p), path, 0.0)
        reason = _pick(v, "reason", r.string, path, "")
        if slo is None or until is None or starts is None:
            continue
        if until <= starts:
            r.fail(
                v["until"], f"{path}.until", "must be after starts", r.value(v["until"])
            )
            continue
        out.append((Maintenance(slo, until, reason or "", starts), item))
    return out


def _timestamp(r: _Reader, node: Node, path: str) -> float | None:
    """Unix seconds, or an ISO 8601 time with a zone (``2026-12-03T18:00:00Z``)."""
    v = r.value(node)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, datetime.datetime):
        v = v.isoformat()
    if isinstance(v, str):
        try:
            t = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            t = None
        if t is not None and t.tzinfo is not None:
            return t.timestamp()
    r.fail(
        node,
        path,
        "must be Unix seconds or an ISO 8601 time with a zone, "
        "e.g. 2026-12-03T18:00:00Z",
        v,
    )
    return None


def _merge(
    parts: list[_FileParts],
    errors: list[ConfigError],
    warnings: list[ConfigWarning],
    files: list[str],
    tiers: tuple[TierSpec, ...],
) -> Config | None:
    # one global section across the files
    global_: GlobalConfig | None = None
    first: Location | None = None
    for p in parts:
        if p.global_ is None:
            continue
        g, node = p.global_
        if first is not None:
            rule = f"defined twice; first at {first.file}:{first.line}"
            p.reader.fail(node, "global", rule)
        else:
            global_ = g
            first = Location(p.reader.file, node.start_mark.line + 1, "global")
    global_ = global_ or GlobalConfig()

    sources = _unique(parts, "sources", lambda p: p.sources)
    global_ = _fit_resolution(global_, sources, parts)
    notifiers = _unique(parts, "notifiers", lambda p: p.notifiers)
    default = _default_source(sources)
    declared = set().union(*(p.reader.declared for p in parts))
    entries = _unique_slos(parts)

    slos: list[SLO] = []
    origins: dict[str, Location] = {}
    for e in entries:
        slo = _resolve_source(e, sources, default, declared)
        if slo is None:
            continue
        src = next(s for s, _, _ in sources if s.name == slo.source)
        _check_windows(e, slo, src)
        _warn_tiers(e, slo, global_)
        slos.append(slo)
        line = e.node.start_mark.line + 1
        origins[slo.name] = Location(e.reader.file, line, e.path)
    if entries and not any(p.has_sources for p in parts):
        e = entries[0]
        e.reader.fail(e.node, "sources", "at least one source is required to read SLOs")
    maintenance = []
    names = {slo.name for slo in slos}
    for p in parts:
        for i, (m, node) in enumerate(p.maintenance):
            if m.slo.split("{", 1)[0] in names:
                maintenance.append(m)
            else:
                rule = "names no SLO" + _suggest(m.slo, sorted(names), "SLOs")
                p.reader.fail(node, f"maintenance[{i}].slo", rule, m.slo)
    return Config(
        global_=global_,
        maintenance=tuple(maintenance),
        sources=tuple(s for s, _, _ in sources),
        notifiers=tuple(n for n, _, _ in notifiers),
        slos=tuple(slos),
        tiers=tiers,
        files=tuple(files),
        warnings=tuple(warnings),
        origins=origins,
    )


_Item = tuple[Any, Node, _Reader]


def _fit_resolution(
    g: GlobalConfig, sources: list[_Item], parts: list[_FileParts]
) -> GlobalConfig:
    """A history bucket no wider than any scraper's interval.

    Every scrape writes the bucket it ends in, and a bucket written twice keeps the
    second write only: a bucket wider than the scrape interval would lose counts.
    The default resolution shrinks to fit; a resolution set explicitly is an error.
    """
    explicit = next(
        (
            p.global_[1]
            for p in parts
            if p.global_ is not None
            and isinstance(p.global_[1], MappingNode)
            and any(k.value == "resolution" for k, _ in p.global_[1].value)
        ),
        None,
    )
    for src, node, reader in sources:
        if not isinstance(src, ScrapeSourceConfig) or src.interval >= g.resolution:
            continue
        if explicit is None and src.interval == int(src.interval):
            g = replace(g, resolution=int(src.interval))
            continue
        reader.fail(
            node,
            f"sources.{src.name}.interval",
            f"must be at least global.resolution ({format_duration(g.resolution)})"
            " and a whole number of seconds",
            format_duration(src.interval),
        )
    return g


def _unique(
    parts: list[_FileParts],
    section: str,
    get: Callable[[_FileParts], list[tuple[Any, Node]]],
) -> list[_Item]:
    seen: dict[str, Location] = {}
    out = []
    for p in parts:
        for item, node in get(p):
            if item.name in seen:
                at = seen[item.name]
                rule = f"name {item.name!r} already used at {at.file}:{at.line}"
                p.reader.fail(node, section, rule)
                continue
            seen[item.name] = Location(p.reader.file, node.start_mark.line + 1, section)
            out.append((item, node, p.reader))
    return out


def _unique_slos(parts: list[_FileParts]) -> list[_SLOEntry]:
    seen: dict[str, _SLOEntry] = {}
    for p in parts:
        for e in p.slos:
            if e.slo.name in seen:
                f = seen[e.slo.name]
                rule = (
                    f"SLO name {e.slo.name!r} already used at "
                    f"{f.reader.file}:{f.node.start_mark.line + 1}"
                )
                e.reader.fail(e.fields["name"], _join(e.path, "name"), rule)
            else:
                seen[e.slo.name] = e
    return list(seen.values())


def _default_source(sources: list[_Item]) -> Any:
    """The source marked ``default: true``, else the only one; at most one is marked."""
    marked = [(s, n, r) for s, n, r in sources if s.default]
    for s, node, r in marked[1:]:
        rule = f"only one source may be the default; {marked[0][0].name!r} already is"
        r.fail(node, "sources", f"{s.name!r}: {rule}")
    if marked:
        return marked[0][0]
    return sources[0][0] if len(sources) == 1 else None


def _resolve_source(
    e: _SLOEntry, sources: list[_Item], default: Any, declared: set[str]
) -> SLO | None:
    names = [s.name for s, _, _ in sources]
    if e.slo.source is not None:
        if e.slo.source in names:
            return e.slo
        if e.slo.source in declared:
            return None  # the source itself failed and says so
        rule = "names no configured source" + (
            _suggest(e.slo.source, names, "sources") if names else ""
        )
        e.reader.fail(e.fields["source"], _join(e.path, "source"), rule, e.slo.source)
        return None
    if default is None:
        if sources:
            rule = (
                "is required: several sources are configured and none is marked "
                "default: true"
            )
            e.reader.fail(e.node, _join(e.path, "source"), rule)
        return None
    return replace(e.slo, source=default.name)


def _check_windows(e: _SLOEntry, slo: SLO, src: Any) -> None:
    """C05: every window must hold at least two scrapes, and at least a minute."""
    floor = max(60.0, 2 * src.scrape_interval)
    for i, tier in enumerate(slo.tiers):
        for which in ("short", "long"):
            window = getattr(tier, which)
            if window >= floor:
                continue
            node = e.tier_nodes[i] if e.tier_nodes else e.node
            path = f"{e.path}.alerting.tiers[{i}].{which}" if e.tier_nodes else e.path
            e.reader.fail(
                node,
                path,
                f"SLO {slo.name!r} tier {tier.name!r}: {which} window "
                f"{format_duration(window)} is shorter than "
                f"{format_duration(floor)} (at least 1m and two scrape intervals of "
                f"source {src.name!r})",
            )


def _warn_tiers(e: _SLOEntry, slo: SLO, g: GlobalConfig) -> None:
    percent = _percent(slo.objective)
    for i, tier in enumerate(slo.tiers):
        node = e.tier_nodes[i] if e.tier_nodes else e.fields.get("objective", e.node)
        factor = tier.factor(slo.period)
        path = f"{e.path}.alerting.tiers[{i}]" if e.tier_nodes else e.path
        if not tier.reachable(slo.objective, slo.period):
            need = _percent(1 - 1 / factor) if factor > 1 else "impossible"
            e.reader.warn(
                node,
                path,
                f"SLO {slo.name!r} tier {tier.name!r} can never fire: its burn-rate "
                f"factor {_num(factor)} is not below the highest burn rate possible at "
                f"objective {percent} ({_num(1 / slo.budget)}); it needs an objective "
                f"above {need}",
            )
        elif factor < 1 - 1e-9:
            e.reader.warn(
                node,
                path,
                f"SLO {slo.name!r} tier {tier.name!r}: burn-rate factor {_num(factor)} "
                f"is below 1 for period {format_duration(slo.period)}, so it alerts "
                "while the budget would still last the period",
            )
    kept = slo.period + max([0.0, *(t.long for t in slo.tiers)])
    if g.retention is not None and g.retention < kept:
        e.reader.warn(
            e.node,
            e.path,
            f"SLO {slo.name!r}: history retention {format_duration(g.retention)} is "
            f"shorter than its period plus longest window ({format_duration(kept)})",
        )


def _num(x: float) -> str:
    return f"{x:.4g}"


def _percent(fraction: float) -> str:
    return f"{float(Decimal(repr(fraction)) * 100):.4g}%"


# -- the tier table --------------------------------------------------------------------


def load_tier_table(path: str | Path = TIERS_FILE) -> tuple[TierSpec, ...]:
    """The default tiers from ``rules/tiers.yaml``; the model's copy if it is absent."""
    file = str(path)
    if not Path(file).exists():
        return DEFAULT_TIERS
    errors: list[ConfigError] = []
    r = _Reader(file, errors, [])
    root = _compose(file, errors)
    tiers = None
    if root is not None:
        top = r.mapping(root, "", ("version", "tiers"), ("version", "tiers"))
        if top is not None and r.value(top["version"]) != TIERS_VERSION:
            rule = f"must be {TIERS_VERSION!r}"
            r.fail(top["version"], "version", rule, r.value(top["version"]))
        elif top is not None:
            nodes = r.sequence(top["tiers"], "tiers")
            tiers = _read_tier_list(r, nodes, "tiers") if nodes is not None else None
    if errors or not tiers:
        raise ConfigErrors(errors or [ConfigError("no tiers", file=file)])
    return tiers
