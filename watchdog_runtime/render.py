"""The status table: a pure function from a ``status --json`` document to a rich renderable."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .units import duration, size

STATE_STYLE = {
    "running": "green", "starting": "cyan", "recovering": "cyan", "backoff": "yellow",
    "stopping": "yellow", "stopped": "dim", "exited": "blue", "errored": "bold red",
}


def last_exit_text(last: dict[str, Any] | None) -> str:
    if not last:
        return "-"
    if last.get("signal") is not None:
        how = f"signal {last['signal']}"
    elif last.get("code") is not None:
        how = f"exit {last['code']}"
    else:
        how = "?"
    text = f"{last['reason']} ({how})"
    return f"{text} {last['error']}" if last.get("error") else text


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def rss_text(bot: dict[str, Any]) -> Text:
    """``152M``, with the rate in red when a leak is suspected: ``152M ↑600M/h leak``."""
    if bot.get("rss_bytes") is None:
        return Text("-")
    text = Text(size(bot["rss_bytes"]))
    leak = bot.get("leak")
    if leak:
        rate = leak.get("rate_per_hour")
        shown = (f"{size(rate)}/h" if leak["resource"] == "memory" else f"{rate:.0f} fds/h") if rate else ""
        text.append(f" ↑{shown} leak", style="bold red")
    return text


def auto_installed_text(items: list[dict[str, Any]] | None) -> str:
    """``PyYAML 6.0.2 (yaml)``, one per line; ``-`` when nothing was installed."""
    if not items:
        return "-"
    return "\n".join(f"{i['package']} {i['version']} ({i['module']})".replace(" ()", "")
                      for i in items)


def status_renderable(doc: dict[str, Any]) -> Group:
    """Header plus one row per bot."""
    sup = doc["supervisor"]
    bots = doc["bots"]
    running = sum(1 for b in bots if b["state"] == "running")
    header = Text.assemble(
        ("wdbot ", "bold"), f"{sup['version']}  supervisor pid {sup['pid']}  up ",
        duration(sup["uptime_s"]), f"  home {sup['home']}  ", (f"{running}/{len(bots)} running", "bold"),
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    columns = ["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "RSS", "FDS", "CPU", "NEXT START",
               "LAST EXIT"]
    # Only when something was auto-installed: the column names what wdbot put in a venv.
    installed = any(b.get("auto_installed") for b in bots)
    for column in columns + (["AUTO-INSTALLED"] if installed else []):
        table.add_column(column, overflow="fold")
    for bot in bots:
        extra = [auto_installed_text(bot.get("auto_installed"))] if installed else []
        table.add_row(
            bot["name"], Text(bot["state"], style=STATE_STYLE.get(bot["state"], "")),
            str(bot["pid"]) if bot["pid"] is not None else "-", duration(bot["uptime_s"]),
            str(bot["restarts"]),
            rss_text(bot), _or_dash(bot.get("num_fds")),
            "-" if bot.get("cpu_percent") is None else f"{bot['cpu_percent']:.0f}%",
            f"in {duration(bot['next_start_in_s'])}" if bot["next_start_in_s"] is not None else "-",
            last_exit_text(bot["last_exit"]),
            *extra,
        )
    parts: list[Any] = [header, table if bots else Text("no bots: add one with 'wdbot start BOT.py'")]
    parts += [Text(f"warning: {w}", style="bold red") for w in sup.get("warnings", [])]
    return Group(*parts)
