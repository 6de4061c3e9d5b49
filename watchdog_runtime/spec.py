"""A bot's specification: the one typed source of truth for every per-bot option.

Each option is a field of :class:`BotSpec`; its command-line flag, parser and help live in the
field's metadata, and the CLI is generated from them (``add_spec_options``), so an option is
written once. Parsers raise :class:`SpecError` with a message fit for the user.
"""

from __future__ import annotations

import dataclasses
import math
import re
import signal
from collections.abc import Callable, Mapping
from dataclasses import field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .common.leandataclass import dataclass

if TYPE_CHECKING:  # annotations only: the supervisor imports this module, never argparse (issue 29)
    import argparse


class RestartPolicy(Enum):
    """When an exited bot is started again."""

    ON_FAILURE = "on-failure"
    """Restart after a crash; a clean exit (code 0) ends in ``exited``."""
    ALWAYS = "always"
    """Restart after any exit, clean or not."""
    NEVER = "never"
    """Never restart: a clean exit ends in ``exited``, a crash in ``errored``."""


class AutoInstall(Enum):
    """What a bot's missing module may be auto-installed from (CONTRACT section 6)."""

    ALLOWLIST = "allowlist"
    """The shipped table, the bot's declared dependencies and the operator's pairs."""
    ANY = "any"
    """Also a name in none of them, installed under its own name. Never the unsafe cases."""
    OFF = "off"
    """Never: a missing module leaves the bot ``errored`` with a hint."""


class StopSignal(Enum):
    """The signal a stop sends to the bot's processes (supervisord's ``stopsignal``)."""

    TERM = "TERM"
    """The default: the bot gets ``SystemExit(0)`` in its main thread (the SDK's shutdown)."""
    INT = "INT"
    """What PM2 sends: ``KeyboardInterrupt``, for bots that clean up in ``except KeyboardInterrupt``."""
    HUP = "HUP"
    QUIT = "QUIT"

    @property
    def signum(self) -> signal.Signals:
        """The signal's number.

        >>> StopSignal.INT.signum == signal.SIGINT
        True
        """
        return signal.Signals[f"SIG{self.value}"]



class SpecError(ValueError):
    """An option value the user must correct; the message says what is wrong and what to do."""


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """Bytes from a size like ``500M``, ``2G``, ``1.5GiB`` or ``1048576`` (binary units).

    >>> parse_size("500M"), parse_size("2G")
    (524288000, 2147483648)
    """
    match = _SIZE_RE.fullmatch(text)
    if not match:
        raise SpecError(f"bad size {text!r}: use a number with an optional unit, like 500M or 2G")
    number, unit, _ = match.groups()
    value = int(float(number) * _SIZE_UNITS[unit.lower()])
    if value <= 0:
        raise SpecError(f"bad size {text!r}: it must be more than zero")
    return value


def parse_seconds(text: str) -> float:
    """Non-negative seconds (``10``, ``0.5``); a suffix ``s``, ``m`` or ``h`` is accepted."""
    match = re.fullmatch(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$", text)
    if not match:
        raise SpecError(f"bad duration {text!r}: use seconds like 10 or 0.5, or 5m, 1h")
    value = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if not math.isfinite(value):
        raise SpecError(f"bad duration {text!r}")
    return value


def parse_positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SpecError(f"bad number {text!r}: use a whole number like 1024") from None
    if value <= 0:
        raise SpecError(f"bad number {text!r}: it must be more than zero")
    return value


def parse_env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
        raise SpecError(f"bad --env {text!r}: use KEY=VALUE with KEY a variable name")
    return key, value


E = TypeVar("E", bound=Enum)
MIN_HEARTBEAT_TIMEOUT_S = 1.0
"""Heartbeats are coalesced to one per 0.25 s; a shorter timeout would be noise."""


def parse_on_halt(text: str) -> str:
    """``--on-halt warn|stop``.

    >>> parse_on_halt("STOP")
    'stop'
    """
    if text.strip().lower() not in ("warn", "stop"):
        raise SpecError(f"--on-halt {text!r}: use warn or stop")
    return text.strip().lower()


def parse_reduce_after(text: str) -> str:
    """``--reduce-after N/MINUTES``, normalised (``common.tradingmode``)."""
    from .common.tradingmode import parse_reduce_after as parse

    try:
        return parse(text)
    except ValueError as exc:
        raise SpecError(str(exc)) from None


def _choice(kind: type[E], flag: str) -> Callable[[str], E]:
    """A parser for an option whose values are those of the enum ``kind``."""
    def parse(text: str) -> E:
        try:
            return kind(text)
        except ValueError:
            choices = ", ".join(str(p.value) for p in kind)
            raise SpecError(f"bad {flag} {text!r}: choose one of {choices}") from None
    return parse


parse_restart = _choice(RestartPolicy, "--restart")
parse_auto_install = _choice(AutoInstall, "--auto-install")
_parse_stop_signal = _choice(StopSignal, "--stop-signal")


def parse_stop_signal(text: str) -> StopSignal:
    """``TERM``, ``INT``, ``HUP`` or ``QUIT``; any case, with or without ``SIG``.

    >>> parse_stop_signal("sigint"), parse_stop_signal("TERM")
    (<StopSignal.INT: 'INT'>, <StopSignal.TERM: 'TERM'>)
    """
    name = text.strip().upper()
    try:
        return _parse_stop_signal(name[3:] if name.startswith("SIG") else name)
    except SpecError:
        raise SpecError(f"bad --stop-signal {text!r}: choose one of "
                        f"{', '.join(s.value for s in StopSignal)}") from None


@dataclass(frozen=True)
class CliOption:
    """How a spec field appears on the command line."""

    flag: str
    help: str
    parse: Callable[[str], Any] | None = None
    metavar: str | None = None
    flag_value: Any = None
    """For a flag without argument: the value it stores."""
    repeat: bool = False
    aliases: tuple[tuple[str, Any, str], ...] = ()
    """Extra flags without argument that store a fixed value: (flag, value, help)."""


def _opt(default: Any, **cli: Any) -> Any:
    return field(default=default, metadata={"cli": CliOption(**cli)})


@dataclass(frozen=True)
class BotSpec:
    """Everything the supervisor needs to run one bot. Paths are absolute."""

    name: str
    path: str
    args: tuple[str, ...] = ()
    python: str | None = _opt(
        None, flag="--python", metavar="VERSION", help="interpreter for the bot's venv (3.12, a path)"
    )
    requirements: str | None = _opt(
        None, flag="--requirements", metavar="FILE", help="requirements file of the bot's dependencies"
    )
    env: tuple[tuple[str, str], ...] = _opt(
        (), flag="--env", metavar="KEY=VALUE", parse=parse_env_pair, repeat=True,
        help="environment variable for the bot (repeatable)",
    )
    restart: RestartPolicy = _opt(
        RestartPolicy.ON_FAILURE, flag="--restart", parse=parse_restart,
        metavar="on-failure|always|never", help="when to restart it (default on-failure)",
    )
    stop_timeout_s: float = _opt(
        10.0, flag="--stop-timeout", parse=parse_seconds, metavar="SECONDS",
        help="SIGKILL after this long when the stop signal is not enough (default 10)",
    )
    stop_signal: StopSignal = _opt(
        StopSignal.TERM, flag="--stop-signal", parse=parse_stop_signal, metavar="TERM|INT|HUP|QUIT",
        help="the signal a stop sends the bot (default TERM; INT for bots written for PM2)",
    )
    backoff_initial_s: float = _opt(
        1.0, flag="--backoff-initial", parse=parse_seconds, metavar="SECONDS",
        help="ceiling of the first restart delay (default 1)",
    )
    backoff_max_s: float = _opt(
        300.0, flag="--backoff-max", parse=parse_seconds, metavar="SECONDS",
        help="largest restart delay (default 300)",
    )
    min_uptime_s: float = _opt(
        60.0, flag="--min-uptime", parse=parse_seconds, metavar="SECONDS",
        help="staying up this long resets the backoff (default 60)",
    )
    max_memory_bytes: int | None = _opt(
        None, flag="--max-memory", parse=parse_size, metavar="SIZE",
        help="memory limit of the bot's process tree (500M, 2G)",
    )
    max_fds: int | None = _opt(
        None, flag="--max-fds", parse=parse_positive_int, metavar="N",
        help="open-file limit of the bot's process tree",
    )
    heartbeat_timeout_s: float | None = _opt(
        None, flag="--heartbeat-timeout", parse=parse_seconds, metavar="SECONDS",
        help="restart (reason hang) when the bot's wd.heartbeat() is silent this long",
    )
    max_recovery_failures: int = _opt(
        5, flag="--max-recovery-failures", parse=parse_positive_int, metavar="N",
        help="consecutive failed recover(ctx) calls before the bot is errored (default 5)",
    )
    auto_install: AutoInstall | None = _opt(
        None, flag="--auto-install", parse=parse_auto_install, metavar="allowlist|any|off",
        help="what a missing module may be installed from (default: the home's config, allowlist)",
        aliases=(("--no-auto-install", AutoInstall.OFF, "never install missing modules"),),
    )
    watch: bool = _opt(False, flag="--watch", flag_value=True, help="restart when the bot's files change")
    timestamps: bool = _opt(False, flag="--timestamps", flag_value=True,
                            help="start every line the bot prints with the time it was written")
    warm_spare: bool = _opt(
        False, flag="--warm-spare", flag_value=True,
        help="keep the bot's next process started ahead, its interpreter and top-level imports "
             "loaded, so a crash restart skips them",
    )
    notify: tuple[str, ...] = _opt(
        (), flag="--notify", metavar="URL", repeat=True,
        help="an apprise URL for this bot's alerts, beside config.toml's (repeatable)",
    )
    on_halt: str = _opt(
        "warn", flag="--on-halt", parse=parse_on_halt, metavar="warn|stop",
        help="a halted bot that does not read wd.mode() within 5 s: shown as not acknowledged "
             "(warn, the default) or stopped (stop)",
    )
    reduce_after: str | None = _opt(
        None, flag="--reduce-after", parse=parse_reduce_after, metavar="N/MINUTES",
        help="circuit breaker: after N crashes within MINUTES the bot restarts in reducing mode "
             "and stays so until 'wdbot resume' (off by default)",
    )

    def __post_init__(self) -> None:
        if self.backoff_max_s < self.backoff_initial_s:
            raise SpecError("--backoff-max must not be below --backoff-initial")
        if self.heartbeat_timeout_s is not None and self.heartbeat_timeout_s < MIN_HEARTBEAT_TIMEOUT_S:
            raise SpecError(f"--heartbeat-timeout must be at least {MIN_HEARTBEAT_TIMEOUT_S:g} s")

    @property
    def env_map(self) -> dict[str, str]:
        return dict(self.env)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as their values, tuples as lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (RestartPolicy, AutoInstall, StopSignal)):
                value = value.value
            elif f.name == "env":
                value = [list(pair) for pair in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BotSpec:
        """The inverse of :meth:`to_json`; unknown keys (from a newer version) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for f in dataclasses.fields(cls):  # JSON lists back to the spec's tuples
            if isinstance(values.get(f.name), list):
                values[f.name] = tuple(values[f.name])
        values["env"] = tuple((str(k), str(v)) for k, v in values.get("env", ()))
        if "restart" in values:
            values["restart"] = RestartPolicy(values["restart"])
        if "stop_signal" in values:  # a registry from before the option has none: TERM
            values["stop_signal"] = parse_stop_signal(str(values["stop_signal"]))
        auto = values.get("auto_install")
        if isinstance(auto, bool):  # registries before the three-way policy stored a flag
            values["auto_install"] = None if auto else AutoInstall.OFF
        elif auto is not None:
            values["auto_install"] = AutoInstall(auto)
        _check_types(cls, values)
        return cls(**values)


def _check_types(cls: type, values: Mapping[str, Any]) -> None:
    """A value read back from a file is of its field's type (a hand edit can put a string
    where a number belongs, which would only fail much later, in the middle of a stop)."""
    import math

    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value, kind = values[f.name], str(f.type)
        if value is None and "None" in kind:
            continue
        if kind.startswith(("int", "float")):
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value < 0 or value > 1e12:
                raise SpecError(f"{f.name} must be a number in range, not {value!r}")
        elif kind.startswith("str") and not isinstance(value, str):
            raise SpecError(f"{f.name} must be a string, not {value!r}")
        elif kind.startswith("bool") and not isinstance(value, bool):
            raise SpecError(f"{f.name} must be true or false, not {value!r}")
        elif kind.startswith("tuple[str") and not all(isinstance(v, str) for v in value):
            raise SpecError(f"{f.name} must be a list of strings, not {value!r}")


def bot_file(raw: str, base: Path | None = None) -> Path:
    """The absolute path of a bot file given as ``raw`` (relative to ``base``); SpecError
    when it is not an existing ``.py`` file."""
    path = Path(raw).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if not path.exists():
        raise SpecError(f"{raw}: no such file; give the path of a bot's .py file")
    if path.is_dir():
        raise SpecError(f"{raw} is a folder; give the path of a bot's .py file")
    if path.suffix != ".py":
        raise SpecError(f"{raw} is not a Python file (.py); give the path of a bot's .py file")
    return path.absolute()


def requirements_file(raw: str, base: Path | None = None) -> str:
    """The absolute path of a ``--requirements`` file; SpecError when there is none."""
    path = Path(raw).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise SpecError(f"--requirements {raw}: no such file")
    return str(path.absolute())


def toml_key(opt: CliOption) -> str:
    """The key of an option in a ``wdbot up`` file: ``--max-memory`` is ``max_memory``."""
    return opt.flag.lstrip("-").replace("-", "_")


def cli_fields() -> list[tuple[dataclasses.Field[Any], CliOption]]:
    """The spec fields that have a command-line option, in declaration order."""
    return [(f, f.metadata["cli"]) for f in dataclasses.fields(BotSpec) if "cli" in f.metadata]


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """Add one option per spec field. Values stay raw strings; ``spec_options`` parses them,
    so a bad value becomes one clear error line instead of argparse's usage dump."""
    for f, opt in cli_fields():
        if opt.flag_value is not None:
            parser.add_argument(opt.flag, dest=f.name, action="store_const", const=opt.flag_value,
                                default=None, help=opt.help)
        else:
            parser.add_argument(opt.flag, dest=f.name, metavar=opt.metavar, help=opt.help,
                                action="append" if opt.repeat else "store", default=None)
        for flag, value, helptext in opt.aliases:
            parser.add_argument(flag, dest=f.name, action="store_const", const=value, help=helptext)


def spec_options(ns: argparse.Namespace) -> dict[str, Any]:
    """The spec fields the user set on the command line, parsed and validated."""
    values: dict[str, Any] = {}
    for f, opt in cli_fields():
        raw = getattr(ns, f.name, None)
        if raw is None:
            continue
        if opt.flag_value is not None or not isinstance(raw, (str, list)):
            values[f.name] = raw  # a flag's fixed value, already typed
        elif isinstance(raw, list):
            values[f.name] = tuple(opt.parse(item) if opt.parse else item for item in raw)
        else:
            values[f.name] = opt.parse(raw) if opt.parse else raw
    return values
