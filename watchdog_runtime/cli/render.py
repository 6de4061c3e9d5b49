"""The terminal side of ``wdbot status`` and ``wdbot events``: pure functions from a status
snapshot (the ``status --json`` document and the latest events) to rich renderables.

Nothing here reads a clock, a file or the terminal: the width is a parameter, so the same
snapshot renders the same text, which is what the tests compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..common.advice import Urgency
from ..common.advice import advice as bot_advice
from ..common.figures import figures_text
from ..common.units import duration, size
from ..events import event_line, last_exit_text
from ..installs.causes import uv_decisive_line
from .moderender import any_mode, mode_cell, mode_full

STATE_STYLE = {
    "running": "green", "starting": "cyan", "recovering": "cyan", "backoff": "yellow",
    "stopping": "yellow", "stopped": "dim", "exited": "blue", "errored": "bold red",
}
SPARKS = "▁▂▃▄▅▆▇█"
WIDE, MEDIUM = 150, 100
"""Terminal widths from which the dashboard shows every column, or the resource columns."""
EVENTS_SHOWN = 8


Bot = Mapping[str, Any]


# --------------------------------------------------------------- cell texts
def sparkline(values: Sequence[float], width: int = 12) -> str:
    """The last ``width`` values as bars scaled between their minimum and maximum.

    >>> sparkline([10, 10, 20, 30, 40]), sparkline([5, 5, 5]), sparkline([])
    ('▁▁▃▆█', '▁▁▁', '')
    """
    shown = list(values)[-width:]
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    span = high - low
    return "".join(SPARKS[0] if not span else SPARKS[round((v - low) / span * (len(SPARKS) - 1))]
                   for v in shown)


def rss_text(bot: Bot, spark: bool = True) -> Text:
    """``152M ▁▂▃▅``, with the rate in red when a leak is suspected: ``152M ↑600M/h leak``."""
    if bot.get("rss_bytes") is None:
        return Text("-")
    text = Text(size(bot["rss_bytes"]))
    history = bot.get("rss_history") or []
    if spark and len(history) > 1:
        text.append(" " + sparkline(history, 8), style="cyan")
    leak = bot.get("leak")
    if leak:
        rate = leak.get("rate_per_hour")
        shown = (f"{size(rate)}/h" if leak["resource"] == "memory" else f"{rate:.0f} fds/h") if rate else ""
        text.append(f" ↑{shown} leak", style="bold red")
    return text


def auto_installed_text(items: Sequence[Mapping[str, Any]] | None, notes: bool = False) -> str:
    """``PyYAML 6.0.2 (yaml)``, one per line; ``-`` when nothing was installed. ``notes``:
    with why an older release than the newest was installed or pinned (issue 26)."""
    if not items:
        return "-"
    return "\n".join(f"{i['package']} {i['version']} ({i['module']})".replace(" ()", "")
                     + (f": {i['note']}" if notes and i.get("note") else "") for i in items)


def last_exit_headline(last: Mapping[str, Any] | None) -> str:
    """The table's one line of an exit: for a failed install, uv's decisive line rather than
    the traceback's (the whole of both is behind ``status NAME``)."""
    if last and last.get("detail"):
        last = {**last, "error": f"uv: {uv_decisive_line(last['detail'])}"}
    return last_exit_text(last).split("\n", 1)[0]


def _last_exit_and_repair(bot: Bot) -> str:
    """The last exit, and under it the last repair (issue 26: a repair is not an exit)."""
    repaired = bot.get("repaired")
    text = last_exit_text(bot.get("last_exit"))
    return f"{text}\n{repaired['text']} ({repaired['at']})" if repaired else text


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else duration(seconds)


# ------------------------------------------------------------------ columns
COLUMNS: list[tuple[str, int, Any]] = [
    # (header, narrowest terminal that shows it, cell)
    ("NAME", 0, lambda b: b["name"]),
    ("STATE", 0, lambda b: Text(b["state"], style=STATE_STYLE.get(b["state"], ""))),
    ("PID", MEDIUM, lambda b: _or_dash(b.get("pid"))),
    ("UPTIME", 0, lambda b: duration(b.get("uptime_s"))),
    ("RESTARTS", 0, lambda b: str(b.get("restarts", 0))),
    ("RSS", MEDIUM, lambda b: rss_text(b)),
    ("FDS", WIDE, lambda b: _or_dash(b.get("num_fds"))),
    ("CPU", MEDIUM, lambda b: "-" if b.get("cpu_percent") is None else f"{b['cpu_percent']:.0f}%"),
    ("HEARTBEAT", WIDE, lambda b: _age(b.get("heartbeat_age_s"))),
    ("NEXT START", 0, lambda b: f"in {duration(b['next_start_in_s'])}"
     if b.get("next_start_in_s") is not None else "-"),
    ("LAST EXIT", 0, lambda b: last_exit_headline(b.get("last_exit")) if b.get("last_exit")
     else (b.get("repaired") or {}).get("text") or last_exit_headline(None)),
]
_ONE_LINE = frozenset({"NAME", "STATE", "MODE", "RSS", "LAST EXIT"})
"""Columns never wrapped: one line per bot (the whole error is behind ``status NAME``)."""


def bots_table(bots: Sequence[Bot], width: int) -> Table:
    """One row per bot; columns that do not fit ``width`` are left out, least useful first."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    shown = [(header, cell) for header, narrowest, cell in COLUMNS if width >= narrowest]
    if any_mode(bots):  # issue 27: only when some bot is not active
        shown.insert(2, ("MODE", mode_cell))
    # Only when something was auto-installed: the column names what wdbot put in a venv.
    if width >= MEDIUM and any(b.get("auto_installed") for b in bots):
        shown.append(("AUTO-INSTALLED", lambda b: auto_installed_text(b.get("auto_installed"))))
    for header, _ in shown:
        table.add_column(header, overflow="ellipsis" if header == "LAST EXIT" else "fold",
                         no_wrap=header in _ONE_LINE)
    last = [header for header, _ in shown].index("LAST EXIT")
    rows = [[_text(cell(bot)) for _, cell in shown] for bot in bots]
    # One line per bot: LAST EXIT gets what the other columns leave and is cut with an
    # ellipsis there (the whole of it is behind 'status NAME').
    others = sum(max([len(header), *(max((len(x) for x in r[i].plain.split("\n")), default=0)
                                     for r in rows)]) + 2
                 for i, (header, _) in enumerate(shown) if i != last)
    room = max(20, width - others)
    for cells in rows:
        cells[last].truncate(room, overflow="ellipsis")
        table.add_row(*cells)
    return table


def _text(value: str | Text) -> Text:
    """Cells as Text: a bot's error like ``[payload]`` must not be read as rich markup."""
    return value if isinstance(value, Text) else Text(value)


# --------------------------------------------------------------- dashboard
def header(doc: Mapping[str, Any]) -> Text:
    sup, bots = doc["supervisor"], doc["bots"]
    running = sum(1 for b in bots if b["state"] == "running")
    return Text.assemble(
        ("wdbot ", "bold"), f"{sup['version']}  supervisor pid {sup['pid']}  up ",
        duration(sup["uptime_s"]), f"  home {sup['home']}  ", (f"{running}/{len(bots)} running", "bold"),
    )


_ADVICE_STYLE = {Urgency.ALERT: "bold red", Urgency.WARNING: "bold yellow", Urgency.HINT: "yellow"}


def advice(bots: Iterable[Bot]) -> list[Text]:
    """What needs a person, then the fix for each bot that is down (``common.advice``)."""
    return [Text(f"  {a.text}", style=_ADVICE_STYLE[a.urgency]) for a in bot_advice(bots)]


def dashboard(doc: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = (),
              width: int = 120) -> Group:
    """The whole ``wdbot status`` screen for a terminal ``width`` columns wide."""
    bots = doc["bots"]
    parts: list[RenderableType] = [header(doc)]
    parts.append(bots_table(bots, width) if bots else Text("no bots: add one with 'wdbot start BOT.py'"))
    parts += [Text(f"warning: {w}", style="bold red") for w in doc["supervisor"].get("warnings", [])]
    lines = advice(bots)
    slept = doc["supervisor"].get("last_sleep")
    if slept:
        lines.append(Text(f"  {str(slept['at'])[11:16]} {slept['message']}", style="yellow"))
    if lines:
        parts += [Text(""), Text("needs a look", style="bold"), *lines]
    if events:
        parts += [Text(""), Text("latest events", style="bold")]
        parts += [Text("  " + event_line(e), style="dim", overflow="ellipsis", no_wrap=True)
                  for e in list(events)[-EVENTS_SHOWN:]]
    return Group(*parts)


status_renderable = dashboard
"""The name the first status table had."""


# ------------------------------------------------------------- one bot
def stray_writers_text(strays: Sequence[Mapping[str, Any]]) -> str:
    """Processes writing to a log the rotation left behind (``logwriters``): where their
    output went, and what to do."""
    lines = [f"pid {w['pid']} writes its {w['stream']} to "
             f"{'a deleted log' if w['deleted'] else 'a rotated copy'} ({w['file']})" for w in strays]
    lines.append("(started before a log rotation; wdbot keeps the file small, but its output is "
                 "not in 'wdbot logs': give the helper its own log file or restart the bot)")
    return "\n".join(lines)


def bot_detail(bot: Bot, exits: Sequence[Mapping[str, Any]] = (), stderr: Sequence[str] = (),
               width: int = 120) -> Group:
    """``wdbot status NAME``: one bot in detail, its recent exits and its last stderr lines."""
    limits = bot.get("limits") or {}
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    rows = [
        ("state", Text(bot["state"], style=STATE_STYLE.get(bot["state"], ""))),
        ("mode", mode_full(bot)),
        ("process", f"pid {_or_dash(bot.get('pid'))}, up {duration(bot.get('uptime_s'))}, "
                    f"{bot.get('restarts', 0)} restarts, started for {bot.get('start_reason') or '-'}"),
        ("next start", f"in {duration(bot['next_start_in_s'])}" if bot.get("next_start_in_s") is not None
         else "-"),
        ("resources", Text.assemble(rss_text(bot, spark=True),
                                    f"  fds {_or_dash(bot.get('num_fds'))}  cpu "
                                    f"{_or_dash(bot.get('cpu_percent'))}%  threads "
                                    f"{_or_dash(bot.get('threads'))}  procs {_or_dash(bot.get('procs'))}")),
        ("heartbeat", f"{_age(bot.get('heartbeat_age_s'))} ago"
         if bot.get("heartbeat_age_s") is not None else "-"),
        ("figures", figures_text(bot)),  # wd.report()
        ("limits", f"memory {size(limits.get('max_memory_bytes'))}, fds {_or_dash(limits.get('max_fds'))}, "
                   f"heartbeat timeout {_age(limits.get('heartbeat_timeout_s'))}"),
        ("policy", f"restart {bot.get('restart_policy', '-')}, "
                   f"recovery failures {bot.get('recovery_failures', 0)}"),
        ("path", bot.get("path", "-")),
        ("venv", bot.get("venv", "-")),
        ("logs", "\n".join(f"{k} {v}" for k, v in (bot.get("logs") or {}).items())),
        ("auto-installed", auto_installed_text(bot.get("auto_installed"), notes=True)),
        ("last exit", _last_exit_and_repair(bot)),
    ]
    for label, value in [*rows, *_detail_notes(bot)]:
        facts.add_row(label, _text(value))
    return Group(Text(bot["name"], style="bold"), facts, *_recent(exits, stderr))


def _detail_notes(bot: Bot) -> list[tuple[str, str | Text]]:
    """The facts of ``status NAME`` shown only when there is something to say (the whole
    error, a diagnosis, a leak, a stray log writer)."""
    last = bot.get("last_exit") or {}
    notes: list[tuple[str, str | Text]] = []
    if last.get("detail"):
        notes.append(("whole error", last["detail"]))
    if last.get("diagnosis"):
        notes.append(("diagnosis", f"{last['diagnosis']['pattern']}: {last['diagnosis']['hint']}"))
    if bot.get("containment"):  # cgroups.describe: what stops exactly this bot's processes
        notes.append(("containment", bot["containment"]))
    if bot.get("leak"):
        notes.append(("leak", Text(bot["leak"]["detail"], style="bold red")))
    if bot.get("attention"):
        notes.append(("attention", Text(bot["attention"], style="bold red")))
    if bot.get("stray_log_writers"):
        notes.append(("log writers", Text(stray_writers_text(bot["stray_log_writers"]), style="bold red")))
    return notes


def _recent(exits: Sequence[Mapping[str, Any]], stderr: Sequence[str]) -> list[Text]:
    """Below the facts of ``status NAME``: its recent exits and its last stderr lines."""
    parts: list[Text] = []
    if exits:
        parts += [Text(""), Text("recent exits", style="bold")]
        parts += [Text("  " + event_line(e)) for e in exits]
    if stderr:
        parts += [Text(""), Text("stderr (last lines)", style="bold")]
        parts += [Text("  " + line, overflow="ellipsis", no_wrap=True) for line in stderr]
    return parts
