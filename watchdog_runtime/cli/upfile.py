"""``wdbot up wdbot.toml``: several bots from one TOML file, mapped onto :class:`BotSpec`
through the same option table as ``wdbot start`` (one source of truth: a key is an option's
flag without dashes, ``--max-memory`` is ``max_memory``, parsed by the same parser)::

    [bots.grid]
    path = "bots/grid.py"          # relative to this file's folder
    args = ["--symbol", "BTC/USDT"]
    restart = "always"
    max_memory = "500M"
    heartbeat_timeout = 60
    env = { EXCHANGE = "binance" } # or ["EXCHANGE=binance"]

An unknown key or a bad value is an error naming the file, the line and the key; nothing is
started until the whole file is right.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..common.home import BOT_NAME_RE
from ..config import read_toml
from ..spec import BotSpec, CliOption, SpecError, bot_file, cli_fields, requirements_file, toml_key

OPTIONS: dict[str, tuple[str, CliOption]] = {toml_key(opt): (f.name, opt) for f, opt in cli_fields()}
"""TOML key -> (BotSpec field, its command-line option)."""
OWN_KEYS = ("path", "args")


class UpFileError(ValueError):
    """The file cannot be used; the message is ``FILE:LINE: bots.NAME.KEY: what is wrong``."""


def load(path: Path) -> list[BotSpec]:
    """Every bot of the file as a spec, in file order; raises :class:`UpFileError`."""
    try:
        text, doc = read_toml(path, UpFileError)
    except FileNotFoundError:
        raise UpFileError(f"{path}: no such file") from None
    where = _Locator(path, text)
    unknown = sorted(set(doc) - {"bots"})
    if unknown:
        raise UpFileError(f"{where.line(unknown[0])}: unknown table or key {unknown[0]!r}; "
                          f"bots go in [bots.NAME] tables")
    bots = doc.get("bots")
    if not isinstance(bots, dict) or not bots:
        raise UpFileError(f"{path}: no bots; add a [bots.NAME] table with at least a path")
    return [_spec(name, table, path.parent, where) for name, table in bots.items()]


def _spec(name: str, table: Any, base: Path, where: _Locator) -> BotSpec:
    if not BOT_NAME_RE.fullmatch(name):
        raise UpFileError(f"{where.line('bots', name)}: bad bot name {name!r}: use letters, digits, "
                          f"'.', '_' or '-'")
    if not isinstance(table, dict):
        raise UpFileError(f"{where.line('bots', name)}: bots.{name} must be a table")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        at = f"{where.line('bots', name, key)}: bots.{name}.{key}"
        try:
            if key == "path":
                values["path"] = str(bot_file(_text(raw), base))
            elif key == "args":
                if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
                    raise SpecError("must be a list of strings")
                values["args"] = tuple(raw)
            elif key in OPTIONS:
                field, opt = OPTIONS[key]
                values[field] = _option(opt, raw, base)
            else:
                known = ", ".join(sorted([*OWN_KEYS, *OPTIONS]))
                raise SpecError(f"unknown key; known: {known}")
        except SpecError as exc:
            raise UpFileError(f"{at}: {exc}") from None
    if "path" not in values:
        raise UpFileError(f"{where.line('bots', name)}: bots.{name}: no path; add path = \"BOT.py\"")
    try:
        return BotSpec(name=name, **values)
    except SpecError as exc:
        raise UpFileError(f"{where.line('bots', name)}: bots.{name}: {exc}") from None


def _option(opt: CliOption, raw: Any, base: Path) -> Any:
    """A TOML value through the option's own parser (as if typed after its flag)."""
    if opt.flag_value is not None:
        if not isinstance(raw, bool):
            raise SpecError("must be true or false")
        # ``watch = false``: the field's False, not None (a None failed the registry's reload).
        return opt.flag_value if raw else (False if opt.flag_value is True else None)
    if opt.repeat:
        items = [f"{k}={_text(v)}" for k, v in raw.items()] if isinstance(raw, Mapping) else raw
        if not isinstance(items, list):
            raise SpecError("must be a table of KEY = \"VALUE\" or a list of \"KEY=VALUE\"")
        return tuple(opt.parse(_text(i)) if opt.parse else _text(i) for i in items)
    text = _text(raw)
    if opt.flag == "--requirements":
        return requirements_file(text, base)
    return opt.parse(text) if opt.parse else text


def _text(raw: Any) -> str:
    """A scalar as the command line would have it (``60`` -> ``"60"``); never a boolean."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise SpecError(f"bad value {raw!r}: use a string or a number")
    return str(raw)


class _Locator:
    """Line numbers of tables and keys (tomllib gives none), for error messages."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line(self, *names: str) -> str:
        """``FILE:LINE`` of ``[bots.NAME]`` (``line("bots", name)``), of a key in it
        (``line("bots", name, key)``) or of a top-level key or table (``line(key)``)."""
        if len(names) == 1:
            return self._first(rf"^\s*(\[\s*)?\"?{re.escape(names[0])}\"?\s*[\]=.]")
        header = rf"^\s*\[\s*{names[0]}\s*\.\s*\"?{re.escape(names[1])}\"?\s*\]"
        start = self._index(header)
        if start is None or len(names) == 2:
            return f"{self.path}:{start + 1}" if start is not None else str(self.path)
        for number in range(start + 1, len(self.lines)):
            text = self.lines[number]
            if re.match(r"^\s*\[", text):
                break
            if re.match(rf"^\s*\"?{re.escape(names[2])}\"?\s*=", text):
                return f"{self.path}:{number + 1}"
        return f"{self.path}:{start + 1}"

    def _index(self, pattern: str) -> int | None:
        return next((i for i, text in enumerate(self.lines) if re.match(pattern, text)), None)

    def _first(self, pattern: str) -> str:
        found = self._index(pattern)
        return f"{self.path}:{found + 1}" if found is not None else str(self.path)
