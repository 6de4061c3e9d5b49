"""What the chat says (pure): the status, one bot, events, log lines, and the alert an
event calls for. Plain text (no Markdown to escape), short enough for a phone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..common.figures import figures_text
from ..common.units import duration
from ..events import event_line, last_exit_text

MAX_MESSAGE = 4000
"""Telegram takes 4096 characters a message; the rest is cut."""
MARK = {"running": "🟢", "recovering": "🟡", "starting": "🟡", "backoff": "🟠", "stopping": "⚪",
        "stopped": "⚪", "exited": "⚪", "errored": "🔴"}


def cut(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 2] + " …"


def _mode(bot: Mapping[str, Any]) -> str:
    """`` [halted]`` when the bot's trading mode is not active (the mode field, issue 27)."""
    mode = bot.get("mode")
    return f" [{mode}]" if mode and mode != "active" else ""


def status_text(doc: Mapping[str, Any]) -> str:
    """``/status``: one line per bot.

    >>> status_text({"bots": [{"name": "grid", "state": "running", "uptime_s": 65, "restarts": 0}]})
    '🟢 grid running, up 1m05s, 0 restarts'
    """
    bots = doc.get("bots") or []
    if not bots:
        return "no bots registered"
    return cut("\n".join(
        f"{MARK.get(b['state'], '?')} {b['name']} {b['state']}{_mode(b)}, up {duration(b.get('uptime_s'))}, "
        f"{b.get('restarts', 0)} restarts" for b in bots))


def bot_text(bot: Mapping[str, Any]) -> str:
    """``/bot NAME``: the facts a person acts on."""
    lines = [f"{MARK.get(bot['state'], '?')} {bot['name']}: {bot['state']}{_mode(bot)}",
             f"pid {bot.get('pid') or '-'}, up {duration(bot.get('uptime_s'))}, "
             f"{bot.get('restarts', 0)} restarts",
             f"last exit: {last_exit_text(bot.get('last_exit'))}",
             f"figures: {figures_text(bot)}"]
    if bot.get("mode_reason"):
        lines.append(f"mode reason: {bot['mode_reason']}")
    if bot.get("mode") and bot.get("mode") != "active" and bot.get("mode_acknowledged") is False:
        lines.append("mode not acknowledged: this bot does not read wd.mode()")
    if bot.get("attention"):
        lines.append(f"attention: {bot['attention']}")
    return cut("\n".join(lines))


def events_text(events: Sequence[Mapping[str, Any]]) -> str:
    return cut("\n".join(event_line(e) for e in events) or "no events yet")


def logs_text(name: str, lines: Sequence[str]) -> str:
    if not lines:
        return f"{name}: no output yet"
    return cut(f"{name}, last {len(lines)} lines:\n" + "\n".join(lines))


@dataclass(frozen=True)
class ChatAlert:
    """One alert for the allowed chats, about ``bot`` (its status one button away)."""

    bot: str | None
    text: str


def alert_for(event: Mapping[str, Any]) -> ChatAlert | None:
    """The alert an event calls for: a crash, an errored bot, a degraded one, a change of
    trading mode, a bot's ``wd.notify()``; None for the rest.

    >>> alert_for({"kind": "notify", "bot": "grid", "level": "info", "text": "filled"}).text
    'ℹ️ grid: filled'
    """
    kind, bot = event.get("kind"), event.get("bot")
    name = str(bot or "the supervisor")
    if kind == "exit":
        if event.get("next_state") == "errored":
            return ChatAlert(bot, f"🔴 {name} gave up (errored): {last_exit_text(event)}")
        if event.get("reason") in ("crash", "recovery_failed", "unknown", "hang"):
            then = f", restarting in {duration(event['delay_s'])}" if event.get("delay_s") is not None else ""
            return ChatAlert(bot, f"💥 {name} crashed: {last_exit_text(event)}{then}")
        return None
    if kind == "degraded":
        return ChatAlert(bot, f"⚠️ {name} is running but repeating an error: {event.get('error')}")
    if kind == "mode":
        if bot is not None and event.get("all"):
            return None  # '--all': the home's own event (bot None) says it once for every bot
        why = f" ({event['reason']})" if event.get("reason") else ""
        who = "every bot" if bot is None else name
        return ChatAlert(bot, f"🛑 {who} is now {event.get('mode')}{why}, by {event.get('source') or '?'}")
    if kind == "mode_stop":
        return ChatAlert(bot, f"🛑 {name} stopped: halted, and it does not read wd.mode() (--on-halt stop)")
    if kind == "notify":
        icon = {"warning": "⚠️", "error": "🔴"}.get(str(event.get("level")), "ℹ️")
        held = f" ({event['held']} more held back)" if event.get("held") else ""
        return ChatAlert(bot, f"{icon} {name}: {event.get('text')}{held}")
    return None
