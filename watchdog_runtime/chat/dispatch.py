"""What the chat answers: a command from an allowed chat becomes a reply, a change waits for
its button, and the button does it through the control socket. Blocking (the control socket
is), so the Telegram side calls it in a worker thread. Chats not on the allow-list get
nothing: not even an error, which would tell a stranger the bot is there."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..common.durable import atomic_write_json, read_regular
from ..web.backend import Backend, Unavailable
from . import texts
from .commands import HELP, MODES, Change, CommandError, Read, parse
from .confirm import Confirmations
from .totp import verify

log = logging.getLogger(__name__)
CODE_REUSE_S = 120.0


@dataclass(frozen=True)
class Reply:
    """A message to send (or the new text of the message whose button was pressed)."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()
    """(label, callback data), shown in one row."""


MAX_BUTTON_DATA = 64
"""Telegram refuses a button whose data is longer (in bytes)."""


def status_buttons(bot: str | None) -> tuple[tuple[str, str], ...]:
    """The button that opens ``bot``'s status; none for a name too long for a button."""
    if not bot or len(f"s:{bot}".encode()) > MAX_BUTTON_DATA:
        return ()
    return ((f"status {bot}", f"s:{bot}"),)


class Dispatcher:
    """Answers commands and button presses of the allowed chats."""

    def __init__(self, backend: Backend, allowed: frozenset[int],
                 totp_secret: Callable[[], str | None] | None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 used_codes_file: Path | None = None) -> None:
        self.backend = backend
        self.allowed = allowed
        self.totp_secret = totp_secret
        """None: no one-time codes; else reads the secret (None when it is not set)."""
        self.clock = clock
        self.wall = wall
        self.pending = Confirmations()
        self.used_codes_file = used_codes_file
        """Where the used one-time codes are kept: a restart must not make them good again."""
        self._used_codes: dict[str, float] = _load_codes(used_codes_file)

    def on_text(self, chat: int, text: str) -> Reply | None:
        """The reply to a message; None for a chat that is not allowed (logged)."""
        if chat not in self.allowed:
            log.warning("message from chat %s ignored: not in [telegram] allow", chat)
            return None
        try:
            command = parse(text)
            return self._read(command) if isinstance(command, Read) else self._ask(chat, command)
        except CommandError as exc:
            return Reply(str(exc))
        except Unavailable as exc:
            return Reply(f"wdbot: {exc}")

    def on_button(self, chat: int, data: str) -> tuple[Reply, bool] | None:
        """(reply, whether it replaces the pressed message's text); None for a chat that is
        not allowed."""
        if chat not in self.allowed:
            log.warning("button press from chat %s ignored: not in [telegram] allow", chat)
            return None
        kind, _, rest = data.partition(":")
        try:
            if kind == "s":
                return self._read(Read("bot", rest)), False
            if kind == "n":
                return Reply("cancelled" if self.pending.drop(rest, chat) else "nothing to cancel"), True
            if kind == "y":
                change = self.pending.take(rest, chat, self.clock())
                if change is None:
                    return Reply("this confirmation expired or was used: send the command again"), True
                return Reply(self._do(chat, change)), True
        except CommandError as exc:
            return Reply(str(exc)), False
        except Unavailable as exc:
            return Reply(f"wdbot: {exc}"), True
        return Reply("unknown button"), True

    def _read(self, command: Read) -> Reply:
        if command.what == "help":
            return Reply(HELP)
        if command.what == "events":
            return Reply(texts.events_text(self.backend.events(15)))
        if command.what == "logs" and command.name:
            self._bot(command.name)
            return Reply(texts.logs_text(command.name, self.backend.log_tail(command.name, command.lines)))
        if command.what == "bot" and command.name:
            return Reply(texts.bot_text(self._bot(command.name)), status_buttons(command.name))
        doc = self.backend.status()
        if doc is None:
            raise Unavailable(f"no supervisor is running for {self.backend.home.root}")
        return Reply(texts.status_text(doc))

    def _bot(self, name: str) -> dict[str, Any]:
        try:
            doc = self.backend.status(name)
        except KeyError:
            raise CommandError(f"no bot named {name!r} (see /status)") from None
        if doc is None:
            raise Unavailable(f"no supervisor is running for {self.backend.home.root}")
        bot: dict[str, Any] = doc["bots"][0]
        return bot

    def _ask(self, chat: int, change: Change) -> Reply:
        if change.name is not None:
            self._bot(change.name)
        if self.totp_secret is not None and change.guarded():
            self._check_code(change)
        token = self.pending.add(chat, change, self.clock())
        return Reply(f"{change.describe().capitalize()}? Confirm within 2 minutes.",
                     ((f"Yes, {change.describe()}", f"y:{token}"), ("Cancel", f"n:{token}")))

    def _check_code(self, change: Change) -> None:
        assert self.totp_secret is not None
        secret = self.totp_secret()
        usage = f"/{change.verb} {change.name or 'all'} CODE"
        if not secret:
            raise CommandError("one-time codes are on, but no TOTP secret is stored: run "
                               "'wdbot telegram --new-totp' on the machine")
        now = self.wall()
        self._used_codes = {c: at for c, at in self._used_codes.items() if now - at < CODE_REUSE_S}
        if not change.code:
            raise CommandError(f"this needs the one-time code from your authenticator: {usage}")
        if change.code in self._used_codes or not verify(secret, change.code, now):
            raise CommandError(f"wrong or used one-time code; send {usage} with a fresh one")
        self._used_codes[change.code] = now
        if self.used_codes_file is not None:
            try:  # before the confirmation is offered: a code is spent even if we die next
                atomic_write_json(self.used_codes_file, self._used_codes)
            except OSError as exc:
                del self._used_codes[change.code]
                raise CommandError(f"cannot record the used code ({exc}); try again") from None

    def _do(self, chat: int, change: Change) -> str:
        origin = f"telegram:{chat}"
        if change.verb in MODES:
            from ..common.control import NoSupervisor, RequestFailed, request

            args: dict[str, Any] = {"names": None, "all": True} if change.name is None else {
                "names": [change.name], "all": False}
            try:
                result = request(self.backend.home, "mode", timeout_s=30.0, mode=MODES[change.verb],
                                 reason=f"/{change.verb} from Telegram", source=origin, **args)
            except (NoSupervisor, RequestFailed) as exc:
                return f"{change.describe()} failed: {exc or 'no supervisor runs'}"
            return "\n".join(f"{r['name']}: {r['mode']}{'' if r.get('changed') else ' (already)'}"
                             for r in result) or "no bots"
        brief = self.backend.act(change.verb, str(change.name), origin)
        return (f"{change.describe()}: done, {brief.get('name')} is {brief.get('state')} "
                f"(pid {brief.get('pid')})")


def _load_codes(path: Path | None) -> dict[str, float]:
    """The used codes kept in ``path`` (code to wall time); none when it is missing or damaged."""
    if path is None:
        return {}
    try:
        data = json.loads(read_regular(path, 65536))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {c: float(at) for c, at in data.items()
            if isinstance(at, (int, float)) and not isinstance(at, bool)}
