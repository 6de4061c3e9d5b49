"""Alerts: which supervisor events tell a person, rate-limited and de-duplicated (pure, with
an injected clock), and sending them through apprise in a worker thread.

What alerts: a bot ``errored``; a crash loop (``crashes`` crashes within ``window_s``); a
suspected leak; a memory, fd or hang restart; a failed recovery; an auto-install done or
failed; the supervisor starting after an unclean stop; the registry file unreadable, and
readable again; a trading mode set, and a halted bot stopped for not listening; a bot's
``wd.notify()`` note (limited by ``botnotes``). Per (bot, kind) at most one alert per
``min_interval_s``; what is held back is counted and told in the next one, so a crash loop
sends one alert, then a summary, not hundreds.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Any

from ..common.leandataclass import dataclass
from ..common.units import duration
from ..supervision import AlertSettings as AlertSettings  # config reads it, so it lives below

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One message for people, and where it goes."""

    key: tuple[str, str]
    title: str
    body: str
    urls: tuple[str, ...]


@dataclass
class _Held:
    sent_at: float
    held: int = 0


@dataclass
class AlertPolicy:
    """Turns events into alerts (pure: the clock is the caller's)."""

    settings: AlertSettings
    bot_urls: Callable[[str], Sequence[str]] = lambda bot: ()
    _crashes: dict[str, deque[float]] = field(default_factory=dict)
    _sent: dict[tuple[str, str], _Held] = field(default_factory=dict)

    def on_event(self, event: Mapping[str, Any], now: float) -> Alert | None:
        """The alert ``event`` calls for now, if any.

        >>> policy = AlertPolicy(AlertSettings(urls=("json://localhost",), crashes=2, window_s=60))
        >>> crash = {"kind": "exit", "bot": "grid", "reason": "crash", "error": "boom",
        ...          "next_state": "backoff"}
        >>> policy.on_event(crash, 0.0) is None, policy.on_event(crash, 1.0).title
        (True, 'wdbot: grid is in a crash loop')
        """
        if event.get("kind") == "notify":
            return self._note(event)
        found = self._classify(event, now)
        if found is None:
            return None
        kind, title, body = found
        bot = str(event.get("bot") or "")
        urls = tuple(dict.fromkeys([*self.settings.urls, *self.bot_urls(bot)]))
        if not urls:
            return None
        key = (bot, kind)
        held = self._sent.get(key)
        if held is not None and now - held.sent_at < self.settings.min_interval_s:
            held.held += 1
            return None
        if held is not None and held.held:
            body += (f"\n(and {held.held} more like it in the last "
                     f"{duration(now - held.sent_at)}, held back)")
        self._sent[key] = _Held(now)
        return Alert(key, title, body, urls)

    def _note(self, event: Mapping[str, Any]) -> Alert | None:
        """A ``wd.notify()`` note: ``botnotes`` has already de-duplicated and rate-limited it."""
        bot = str(event.get("bot") or "")
        urls = tuple(dict.fromkeys([*self.settings.urls, *self.bot_urls(bot)]))
        held = event.get("held")
        body = str(event.get("text")) + (f"\n({held} more held back)" if held else "")
        return Alert((bot, "notify"), f"wdbot: {bot} ({event.get('level')})", body, urls) if urls else None

    def _classify(self, event: Mapping[str, Any], now: float) -> tuple[str, str, str] | None:
        kind, bot = event.get("kind"), event.get("bot") or "the supervisor"
        diagnosis = (event.get("diagnosis") or {}).get("hint")
        if kind == "exit":
            if event.get("next_state") == "errored":
                why = event.get("error") or event.get("reason")
                return "errored", f"wdbot: {bot} gave up (errored)", _with(f"{bot} stopped for good: {why}",
                                                                          diagnosis)
            if event.get("reason") in ("crash", "recovery_failed", "unknown"):
                return self._crash(bot, event, now, diagnosis)
            return None
        if kind in ("mode", "mode_stop"):
            return _mode(event)
        simple = {
            "leak_suspected": ("leak", f"wdbot: {bot} is leaking", str(event.get("detail"))),
            "limit_restart": ("limit", f"wdbot: {bot} restarted ({event.get('reason')})",
                              str(event.get("detail"))),
            "recovery_failed": ("recovery", f"wdbot: {bot} could not recover",
                                f"recover(ctx) failed ({event.get('failures')} in a row): "
                                f"{event.get('error')}"),
            "auto_install": ("install", f"wdbot: installed {event.get('package')} for {bot}",
                             f"{bot} imports {event.get('module')}: wdbot installed "
                             f"{event.get('package')} {event.get('version')} into its venv"),
            "degraded": ("degraded", f"wdbot: {bot} is running but repeating an error",
                         f"{bot} wrote this {event.get('count')} times in "
                         f"{duration(float(event.get('window_s') or 0))}: {event.get('error')}"),
            "auto_install_failed": ("install", f"wdbot: could not install for {bot}",
                                    str(event.get("error"))),
            "supervisor_unclean": ("unclean", "wdbot: the supervisor restarted after an unclean stop",
                                   str(event.get("message"))),
            "registry_unreadable": ("registry", "wdbot: registry.json unreadable",
                                    str(event.get("message"))),
            "registry_readable": ("registry_ok", "wdbot: registry.json readable again",
                                  str(event.get("message"))),
        }
        found = simple.get(str(kind))
        return (found[0], found[1], _with(found[2], diagnosis)) if found else None

    def _crash(self, bot: str, event: Mapping[str, Any], now: float,
               diagnosis: str | None) -> tuple[str, str, str] | None:
        times = self._crashes.setdefault(bot, deque())
        times.append(now)
        while times and now - times[0] > self.settings.window_s:
            times.popleft()
        if len(times) < self.settings.crashes:
            return None
        body = (f"{bot} crashed {len(times)} times in {duration(self.settings.window_s)}; "
                f"last: {event.get('error') or event.get('reason')}")
        return "crash_loop", f"wdbot: {bot} is in a crash loop", _with(body, diagnosis)


def _mode(event: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """A trading mode set (issue 27): who, where from, why. ``--all`` alerts once, not once
    per bot; the key holds the mode, so a halt is never held back behind a resume."""
    bot, mode = event.get("bot"), event.get("mode")
    if event.get("kind") == "mode_stop":
        return "mode_stop", f"wdbot: {bot} stopped: halted but not listening", str(event.get("detail"))
    if bot is not None and event.get("all"):
        return None  # the home's own event (bot None) says it for every bot
    what = "every bot" if bot is None else str(bot)
    why = f": {event['reason']}" if event.get("reason") else ""
    return (f"mode:{mode}", f"wdbot: {what} {mode}",
            f"{what} set to {mode} by {event.get('source')}{why}")


def _with(body: str, hint: str | None) -> str:
    return f"{body}\nFix: {hint}" if hint else body


def send(alert: Alert, notify: Callable[[Alert], bool] | None = None) -> None:
    """Send in a daemon thread: a slow or dead notification service never stalls the
    supervisor; a failure is logged."""
    deliver = notify or deliver_with_apprise

    def work() -> None:
        try:
            if not deliver(alert):
                log.warning("alert %r was not delivered to %d URL(s)", alert.title, len(alert.urls))
        except Exception:  # noqa: BLE001 - an alert must never take the supervisor down
            log.exception("sending alert %r failed", alert.title)

    threading.Thread(target=work, name="wdbot-alert", daemon=True).start()


def deliver_with_apprise(alert: Alert) -> bool:
    """Blocking: one notification to every URL; True when at least one took it."""
    import apprise  # only when there is something to send: it is slow to import

    sender = apprise.Apprise()
    for url in alert.urls:
        sender.add(url)
    return bool(sender.notify(title=alert.title, body=alert.body))
