"""Pure: a status snapshot (the ``status --json`` document, events, log lines, a bot's spec)
to the plain values the templates show. No clock, no file, no socket: tests feed documents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..common.advice import Urgency, advice
from ..common.figures import figures_text
from ..common.units import duration, size
from ..events import event_line, last_exit_text

Bot = Mapping[str, Any]
EVENTS_SHOWN = 8
HIDDEN_SPEC_FIELDS = frozenset({"name", "env", "notify"})
"""Spec fields shown otherwise: ``env`` by its keys only and ``notify`` by count (both can
hold tokens)."""


@dataclass(frozen=True)
class Chart:
    """An SVG line chart's geometry (a ``viewBox`` of ``width`` × ``height``)."""

    width: int
    height: int
    line: str
    """``points`` of the polyline; empty without two readings."""
    area: str
    """``points`` of the filled polygon under the line."""
    low: str
    high: str
    limit_y: float | None = None
    """Where the limit's line goes, when the limit is within the chart."""


def chart(values: Sequence[float], width: int = 600, height: int = 160,
          limit: float | None = None) -> Chart:
    """Readings (oldest first) scaled to their own range with a margin, so a slow climb shows;
    a limit within reach widens the range to show it too.

    >>> c = chart([100, 150, 200], width=100, height=10)
    >>> c.line, c.low, c.high
    ('0.0,8.3 50.0,5.0 100.0,1.7', '100B', '200B')
    """
    values = [float(v) for v in values]
    if len(values) < 2:
        return Chart(width, height, "", "", "-", "-")
    low, high = min(values), max(values)
    span = max(high - low, high * 0.05, 1.0)
    bottom, top = max(0.0, low - span / 4), high + span / 4
    if limit and limit <= max(top + 2 * span, high * 1.5):
        top = max(top, limit + span / 4)
    scale = height / (top - bottom)
    step = width / (len(values) - 1)
    points = [(round(i * step, 1), round(height - (v - bottom) * scale, 1)) for i, v in enumerate(values)]
    line = " ".join(f"{x},{y}" for x, y in points)
    area = f"0,{height} {line} {width},{height}"
    limit_y = round(height - (limit - bottom) * scale, 1) if limit and bottom <= limit <= top else None
    return Chart(width, height, line, area, size(low), size(high), limit_y)


def bot_row(bot: Bot) -> dict[str, Any]:
    """One bot as the overview shows it."""
    from ..common.modetext import mode_full
    leak = bot.get("leak")
    diagnosis = (bot.get("last_exit") or {}).get("diagnosis") or {}
    return {
        "name": bot["name"],
        "state": bot["state"],
        "pid": _dash(bot.get("pid")),
        "uptime": duration(bot.get("uptime_s")),
        "restarts": bot.get("restarts", 0),
        "rss": size(bot.get("rss_bytes")),
        "spark": chart(bot.get("rss_history") or [], width=80, height=18),
        "leak": leak["detail"] if leak else None,
        "cpu": "-" if bot.get("cpu_percent") is None else f"{bot['cpu_percent']:.0f}%",
        "fds": _dash(bot.get("num_fds")),
        "heartbeat": ("-" if bot.get("heartbeat_age_s") is None
                      else f"{duration(bot['heartbeat_age_s'])} ago"),
        "next_start": ("-" if bot.get("next_start_in_s") is None
                       else f"in {duration(bot['next_start_in_s'])}"),
        "last_exit": last_exit_text(bot.get("last_exit")),
        "hint": diagnosis.get("hint") if diagnosis.get("pattern") not in (None, "unknown") else None,
        "mode": bot.get("mode") or "active",  # issue 27
        "mode_text": mode_full(bot),
    }


def attention(bots: Sequence[Bot]) -> list[dict[str, str]]:
    """What needs a person (the terminal dashboard's own list), as text and a level."""
    return [{"text": a.text.strip(), "level": "bad" if a.urgency is Urgency.ALERT else "warn"}
            for a in advice(bots)]


def overview(doc: Mapping[str, Any] | None, events: Sequence[Mapping[str, Any]],
             unreadable: str | None = None) -> dict[str, Any]:
    """The overview page; ``doc`` None when no supervisor answers; ``unreadable``: why the
    registry file cannot be read, as read beside the supervisor (which says it too)."""
    if doc is None:
        return {"supervisor": None, "bots": [], "attention": [], "events": _events(events),
                "registry": unreadable}
    sup, bots = doc["supervisor"], doc["bots"]
    registry = (sup.get("registry_unreadable") or {}).get("message") or unreadable
    slept = sup.get("last_sleep")
    notes = attention(bots) + ([{"text": slept["message"], "level": "warn"}] if slept else [])
    return {
        "supervisor": {"pid": sup["pid"], "version": sup["version"], "home": sup["home"],
                       "uptime": duration(sup["uptime_s"]),
                       "warnings": [w for w in sup.get("warnings") or [] if w != registry],
                       "running": sum(1 for b in bots if b["state"] == "running"), "total": len(bots)},
        "bots": [bot_row(b) for b in bots],
        "attention": notes,
        "events": _events(events),
        "registry": registry,
    }


def bot_page(bot: Bot, exits: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]],
             spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """One bot in detail: facts, the resource chart, exits, events and settings."""
    from ..common.modetext import mode_full

    limits = bot.get("limits") or {}
    diagnosis = (bot.get("last_exit") or {}).get("diagnosis")
    facts = [
        ("pid", _dash(bot.get("pid"))),
        ("uptime", duration(bot.get("uptime_s"))),
        ("restarts", str(bot.get("restarts", 0))),
        ("started for", bot.get("start_reason") or "-"),
        ("next start", bot_row(bot)["next_start"]),
        ("memory", size(bot.get("rss_bytes"))),
        ("cpu", bot_row(bot)["cpu"]),
        ("open files", _dash(bot.get("num_fds"))),
        ("threads / procs", f"{_dash(bot.get('threads'))} / {_dash(bot.get('procs'))}"),
        ("heartbeat", bot_row(bot)["heartbeat"]),
        ("trading mode", mode_full(bot)),
        ("figures", figures_text(bot)),  # wd.report(); its notes (wd.notify) are events
        ("last exit", last_exit_text(bot.get("last_exit"))),
    ]
    if diagnosis:
        facts.append(("diagnosis", f"{diagnosis['pattern']}: {diagnosis['hint']}"))
    installed = bot.get("auto_installed") or []
    if installed:
        facts.append(("auto-installed", ", ".join(f"{i['package']} {i['version']}" for i in installed)))
    return {
        "row": bot_row(bot),
        "facts": facts,
        "attention": attention([bot]),
        "chart": chart(bot.get("rss_history") or [], limit=limits.get("max_memory_bytes")),
        "readings": len(bot.get("rss_history") or []),
        "limit": size(limits.get("max_memory_bytes")) if limits.get("max_memory_bytes") else None,
        "exits": [event_line(e) for e in exits],
        "events": [event_line(e) for e in events],
        "settings": settings(bot, spec),
    }


def settings(bot: Bot, spec: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The bot's options as registered, with values that may hold tokens left out."""
    spec = spec or {}
    rows: list[tuple[str, str]] = [("path", str(bot.get("path", "-")))]
    limits = bot.get("limits") or {}
    rows.append(("limits", f"memory {size(limits.get('max_memory_bytes'))}, "
                           f"open files {_dash(limits.get('max_fds'))}, "
                           f"heartbeat timeout {duration(limits.get('heartbeat_timeout_s'))}"))
    for key, value in sorted(spec.items()):
        if key in HIDDEN_SPEC_FIELDS or key == "path" or value in (None, [], ""):
            continue
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        rows.append((key.replace("_", " "), text))
    env = spec.get("env") or []
    if env:
        rows.append(("env", ", ".join(sorted(str(pair[0]) for pair in env)) + " (values not shown)"))
    if spec.get("notify"):
        rows.append(("notify", f"{len(spec['notify'])} URL(s) (not shown: they hold tokens)"))
    rows += [("venv", str(bot.get("venv", "-")))]
    rows += [(f"{k} log", str(v)) for k, v in (bot.get("logs") or {}).items()]
    return rows


def _events(events: Sequence[Mapping[str, Any]]) -> list[str]:
    return [event_line(e) for e in list(events)[-EVENTS_SHOWN:]]


def _dash(value: object) -> str:
    return "-" if value is None else str(value)
