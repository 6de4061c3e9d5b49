"""The home's global settings (``config.toml``) and the operator's auto-install pairs
(``allow.json``, written by ``wdbot allow``).

Both are read when they are used, so an edit takes effect without restarting the
supervisor. A bad config never stops the supervisor from running bots: what needs the
setting fails with the config error as its reason, and everything else goes on.

``config.toml``::

    [auto_install]
    policy = "allowlist"          # allowlist | any | off (a bot's --auto-install wins)
    allow_sdist = false           # wheels only (unset, the default: an allowlisted name may
                                  # build from source when no wheel fits; true: any name may)
    timeout = 300                 # seconds for one install
    [auto_install.allow]          # import name = distribution, beside 'wdbot allow'
    mymodule = "my-dist"

    [index]                       # where uv finds packages (venvs and auto-install)
    url = "https://pypi.example/simple"
    extra_urls = []
    find_links = ["/srv/wheels"]
    no_index = false

    [resources]                   # the resource watch
    interval = 2                  # seconds between samples of every bot's process tree
    consecutive = 2               # samples in a row over a limit before a restart
    window = 1200                 # seconds of history a leak trend looks at
    min_span = 120                # seconds of samples before any trend or leak verdict
    memory_leak_per_hour = "30M"  # the slowest memory growth called a leak
    fds_leak_per_hour = 20        # the slowest open-file growth called a leak

    [logs]                        # every bot's stdout.log and stderr.log, and supervisor.log
    max_size = "10M"              # rotate a log when it reaches this size
    backups = 5                   # rotated copies kept (.1 is the newest)

    [alerts]                      # apprise URLs (a bot's --notify adds its own)
    urls = ["tgram://TOKEN/CHAT", "json://localhost:8080/hook"]
    crashes = 5                   # this many crashes ...
    window = 600                  # ... within this many seconds is a crash loop
    min_interval = 900            # seconds between two alerts of one kind for one bot

    [uptime]                      # "watch the watcher": pinged while all is well
    url = "https://hc-ping.com/UUID"
    interval = 60
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import Any

from .common.durable import atomic_write_json
from .common.leandataclass import dataclass
from .common.logrotate import RotationPolicy
from .modnames import TableError, pairs_to_entries
from .spec import AutoInstall, SpecError, parse_size
from .supervision import AlertSettings, WatchSettings
from .tomlread import TomlError
from .tomlread import loads as toml_loads


class ConfigError(ValueError):
    """The config cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class IndexOptions:
    """Where uv looks for packages. Environment variables (``UV_INDEX_URL``,
    ``UV_FIND_LINKS``, ``UV_NO_INDEX``) reach uv too; these settings add to them."""

    url: str | None = None
    extra_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    def uv_args(self) -> list[str]:
        args: list[str] = []
        if self.url:
            args += ["--index-url", self.url]
        for url in self.extra_urls:
            args += ["--extra-index-url", url]
        for place in self.find_links:
            args += ["--find-links", place]
        if self.no_index:
            args.append("--no-index")
        return args


@dataclass(frozen=True)
class Config:
    """Everything ``config.toml`` can set, with its defaults."""

    auto_install: AutoInstall = AutoInstall.ALLOWLIST
    allow_sdist: bool | None = None
    """None: source builds for allowlisted names when no wheel fits; True: for every name;
    False: never (wheels only)."""
    install_timeout_s: float = 300.0
    allow: Mapping[str, str] = field(default_factory=dict)
    index: IndexOptions = IndexOptions()
    resources: WatchSettings = WatchSettings()
    logs: RotationPolicy = RotationPolicy()
    alerts: AlertSettings = AlertSettings()
    uptime_url: str | None = None
    uptime_interval_s: float = 60.0


_KNOWN = {
    "auto_install": {"policy", "allow_sdist", "timeout", "allow"},
    "index": {"url", "extra_urls", "find_links", "no_index"},
    "resources": {"interval", "consecutive", "window", "min_span", "memory_leak_per_hour",
                  "fds_leak_per_hour"},
    "logs": {"max_size", "backups"},
    "alerts": {"urls", "crashes", "window", "min_interval"},
    "uptime": {"url", "interval"},
    "telegram": {"allow", "totp", "api_url", "poll_timeout"},  # read by wdbot telegram (chat.settings)
}


def read_toml(path: Path, error: type[ValueError]) -> tuple[str, dict[str, Any]]:
    """The text and the document of a TOML file. A missing file raises FileNotFoundError;
    an unreadable or invalid one raises ``error`` with a message naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 TOML") from None
    try:
        return text, toml_loads(text)
    except TomlError as exc:
        raise error(f"{path}: not valid TOML ({exc}); fix the file") from None


def load_config(path: Path) -> Config:
    """Read ``config.toml``; a missing file means the defaults."""
    try:
        _, doc = read_toml(path, ConfigError)
    except FileNotFoundError:
        return Config()
    for section, value in doc.items():
        if section not in _KNOWN or not isinstance(value, dict):
            raise ConfigError(f"{path}: unknown section [{section}]; known: "
                              f"{', '.join(sorted(_KNOWN))}")
        unknown = set(value) - _KNOWN[section]
        if unknown:
            raise ConfigError(f"{path}: unknown key {section}.{sorted(unknown)[0]}; known: "
                              f"{', '.join(sorted(_KNOWN[section]))}")
    auto = doc.get("auto_install", {})
    index = doc.get("index", {})
    try:
        policy = AutoInstall(auto.get("policy", "allowlist"))
    except ValueError:
        raise ConfigError(f"{path}: auto_install.policy must be one of "
                          f"{', '.join(p.value for p in AutoInstall)}") from None
    allow = auto.get("allow", {})
    if not isinstance(allow, dict) or not all(isinstance(v, str) for v in allow.values()):
        raise ConfigError(f"{path}: auto_install.allow must map import names to distribution names")
    try:
        pairs_to_entries(allow)
    except TableError as exc:
        raise ConfigError(f"{path}: auto_install.allow: {exc}") from None
    return Config(
        auto_install=policy,
        allow_sdist=_typed(path, "auto_install.allow_sdist", auto.get("allow_sdist"),
                           (bool, type(None))),
        install_timeout_s=float(_typed(path, "auto_install.timeout", auto.get("timeout", 300), (int, float))),
        allow=dict(allow),
        index=IndexOptions(
            url=_typed(path, "index.url", index.get("url"), (str, type(None))),
            extra_urls=tuple(_strings(path, "index.extra_urls", index.get("extra_urls", []))),
            find_links=tuple(_strings(path, "index.find_links", index.get("find_links", []))),
            no_index=_typed(path, "index.no_index", index.get("no_index", False), bool),
        ),
        resources=_resources(path, doc.get("resources", {})),
        logs=_logs(path, doc.get("logs", {})),
        alerts=_alerts(path, doc.get("alerts", {})),
        uptime_url=_typed(path, "uptime.url", doc.get("uptime", {}).get("url"), (str, type(None))),
        uptime_interval_s=float(_typed(path, "uptime.interval", doc.get("uptime", {}).get("interval", 60),
                                       (int, float))),
    )


def _alerts(path: Path, raw: dict[str, Any]) -> AlertSettings:
    default = AlertSettings()
    crashes = _typed(path, "alerts.crashes", raw.get("crashes", default.crashes), int)
    if isinstance(crashes, bool) or crashes < 1:
        raise ConfigError(f"{path}: alerts.crashes must be a whole number, at least 1")
    return AlertSettings(
        urls=tuple(_strings(path, "alerts.urls", raw.get("urls", []))),
        crashes=crashes,
        window_s=float(_typed(path, "alerts.window", raw.get("window", default.window_s), (int, float))),
        min_interval_s=float(_typed(path, "alerts.min_interval",
                                    raw.get("min_interval", default.min_interval_s), (int, float))),
    )


def _logs(path: Path, raw: dict[str, Any]) -> RotationPolicy:
    default = RotationPolicy()
    max_size = _size_setting(path, "logs.max_size", raw.get("max_size", default.max_bytes))
    backups = _typed(path, "logs.backups", raw.get("backups", default.backups), int)
    if isinstance(backups, bool) or backups < 1:
        raise ConfigError(f"{path}: logs.backups must be a whole number, at least 1")
    return RotationPolicy(max_bytes=int(_typed(path, "logs.max_size", max_size, (int, float))),
                          backups=backups)


def _resources(path: Path, raw: dict[str, Any]) -> WatchSettings:
    default = WatchSettings()

    def number(key: str, fallback: float) -> float:
        return float(_typed(path, f"resources.{key}", raw.get(key, fallback), (int, float)))

    memory = _size_setting(path, "resources.memory_leak_per_hour",
                           raw.get("memory_leak_per_hour", default.memory_leak_per_hour))
    consecutive = _typed(path, "resources.consecutive", raw.get("consecutive", default.consecutive),
                         (int, float))
    if consecutive != int(consecutive):
        raise ConfigError(f"{path}: resources.consecutive must be a whole number")
    return WatchSettings(
        interval_s=number("interval", default.interval_s),
        consecutive=int(consecutive),
        window_s=number("window", default.window_s),
        min_span_s=number("min_span", default.min_span_s),
        memory_leak_per_hour=float(_typed(path, "resources.memory_leak_per_hour", memory, (int, float))),
        fds_leak_per_hour=number("fds_leak_per_hour", default.fds_leak_per_hour),
    )


def _size_setting(path: Path, key: str, value: Any) -> Any:
    """A size written as ``"30M"`` becomes bytes; a number stays as it is (checked by the caller)."""
    if not isinstance(value, str):
        return value
    try:
        return parse_size(value)
    except SpecError as exc:
        raise ConfigError(f"{path}: {key}: {exc}") from None


def _typed(path: Path, key: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    wrong = not isinstance(value, kind)
    if kind == (int, float) and not wrong:
        # A timeout, a period or a size: positive and finite (TOML can spell inf and nan).
        if isinstance(value, bool) or not 0 < value < math.inf:
            raise ConfigError(f"{path}: {key} must be a positive, finite number ({value!r})")
    if wrong:
        raise ConfigError(f"{path}: {key} has a value of the wrong type ({value!r})")
    return value


def _strings(path: Path, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of strings")
    return value


# ------------------------------------------------------------ the operator's pairs
def load_allowed(path: Path) -> dict[str, str]:
    """The pairs added with ``wdbot allow``; an unreadable file raises ConfigError."""
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); fix or remove it and add the pairs "
                          f"again with 'wdbot allow'") from None
    pairs = doc.get("allow") if isinstance(doc, dict) else None
    if not isinstance(pairs, dict) or not all(isinstance(v, str) for v in pairs.values()):
        raise ConfigError(f"{path}: not a wdbot allow file; fix or remove it")
    return pairs


def operator_pairs(config: Config, allow_path: Path) -> dict[str, str]:
    """Every pair the operator allowed: ``config.toml``'s, then ``wdbot allow``'s."""
    return {**config.allow, **load_allowed(allow_path)}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_allowed(path: Path, add: Mapping[str, str] = {}, remove: tuple[str, ...] = ()) -> dict[str, str]:
    """Add and remove pairs atomically (two ``wdbot allow`` at once both land)."""
    pairs_to_entries(add)  # validated before anything changes
    with _locked(path):
        pairs = load_allowed(path)
        missing = [m for m in remove if m not in pairs]
        if missing:
            raise ConfigError(f"{missing[0]} is not in the allow list; see 'wdbot allow --list'")
        for module in remove:
            del pairs[module]
        pairs.update(add)
        atomic_write_json(path, {"allow": dict(sorted(pairs.items()))})
    return pairs
