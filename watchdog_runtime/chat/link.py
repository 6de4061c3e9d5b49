"""The Telegram side of ``wdbot telegram`` (python-telegram-bot, imported here only): one
session at a time polls for messages and button presses and sends alerts; a session that
fails (the network gone, the Bot API down, the token refused) ends, is reported (a log line,
``telegram/state.json``), and a new one starts after a backoff, reading the token afresh. So
a dropped network or a revoked token never makes a crash loop, and a new token needs no
restart."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, TelegramError
from telegram.request import HTTPXRequest

from ..common.durable import atomic_write_json
from ..events import wall_iso
from .dispatch import Dispatcher, Reply, status_buttons
from .follow import CrashQuiet, EventFollower, Position
from .settings import ChatSettings
from .texts import ChatAlert, alert_for

log = logging.getLogger("wdbot.telegram")
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 300.0
FOLLOW_INTERVAL_S = 0.5


class NoToken(Exception):
    """No token is stored (yet): retried like a refused one."""


class Backoff:
    """Doubling delays, capped; reset once a session works (pure)."""

    def __init__(self, initial_s: float = BACKOFF_INITIAL_S, max_s: float = BACKOFF_MAX_S) -> None:
        self.initial_s, self.max_s = initial_s, max_s
        self.failures = 0

    def next(self) -> float:
        """The delay before the next try.

        >>> b = Backoff(1, 5)
        >>> [b.next() for _ in range(5)]
        [1.0, 2.0, 4.0, 5.0, 5.0]
        """
        self.failures += 1
        return float(min(self.max_s, self.initial_s * 2.0 ** (self.failures - 1)))

    def reset(self) -> None:
        self.failures = 0


def keyboard(buttons: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)
                                  for label, data in buttons]])


class Link:
    """Sessions with the Bot API, one after another, until ``stop`` is set."""

    def __init__(self, settings: ChatSettings, dispatcher: Dispatcher, follower: EventFollower,
                 token: Callable[[], str | None], state_file: Path) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.follower = follower
        self.token = token
        self.state_file = state_file
        self.backoff = Backoff()
        self.quiet = CrashQuiet()
        self._connected: bool | None = None
        self._offset: int | None = None
        """The next update to read, kept across sessions. An update whose answer the network
        cut is read again (a change needs a button's one-time token, so none is done twice);
        one whose handling failed otherwise (a bug) is skipped, never retried forever."""

    async def run(self, stop: asyncio.Event) -> None:
        """Sessions until ``stop``; each failure reported, then a backoff."""
        while not stop.is_set():
            try:
                await self._session(stop)
            except Exception as exc:  # noqa: BLE001 - a failure ends the session, never the process
                delay = self.backoff.next()
                if not isinstance(exc, (TelegramError, NoToken, OSError)):
                    log.exception("unexpected failure (a bug: please report it)")
                self._report(False, _why(exc), delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except asyncio.TimeoutError:
                    pass

    async def _session(self, stop: asyncio.Event) -> None:
        # Where the alerts start, before "connected" is said: an event written meanwhile (a
        # bot's first note, right after the start) is sent, not skipped as the log's old end.
        position = await asyncio.to_thread(self.follower.load)
        token = await asyncio.to_thread(self.token)
        if not token:
            raise NoToken()
        base = self.settings.api_url
        bot = Bot(token, base_url=base, base_file_url=base.replace("/bot", "/file/bot"),
                  request=HTTPXRequest(connection_pool_size=4),
                  get_updates_request=HTTPXRequest(read_timeout=self.settings.poll_timeout_s + 10))
        async with bot:  # getMe: a refused token fails here (InvalidToken)
            await bot.delete_webhook()  # a webhook set elsewhere would refuse getUpdates
            self._report(True, f"connected as @{bot.username}", None)
            tasks = [asyncio.create_task(self._poll(bot)), asyncio.create_task(self._alerts(bot, position))]
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (*tasks, stopper):
                    task.cancel()
                await asyncio.gather(*tasks, stopper, return_exceptions=True)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]  # checked not None just above

    async def _poll(self, bot: Bot) -> None:
        while True:
            updates = await bot.get_updates(offset=self._offset, timeout=int(self.settings.poll_timeout_s),
                                            allowed_updates=["message", "callback_query"])
            self.backoff.reset()
            for update in updates:
                try:
                    await _quietly(self._handle(bot, update))
                except TelegramError:
                    raise  # the network or the API: read it again in the next session
                except Exception:  # noqa: BLE001 - one bad update must not stop the chat
                    log.exception("handling update %s failed; skipped", update.update_id)
                self._offset = update.update_id + 1

    async def _handle(self, bot: Bot, update: Update) -> None:
        message, query = update.message, update.callback_query
        if message is not None and message.text:
            reply = await asyncio.to_thread(self.dispatcher.on_text, message.chat.id, message.text)
            if reply is not None:
                await bot.send_message(message.chat.id, reply.text, reply_markup=keyboard(reply.buttons))
        elif query is not None and query.data:
            chat = query.message.chat.id if query.message else query.from_user.id
            answer = await asyncio.to_thread(self.dispatcher.on_button, chat, query.data)
            if answer is None:
                return  # a stranger's press: not even the spinner is answered
            await bot.answer_callback_query(query.id)
            await self._answer(bot, chat, query.message.message_id if query.message else None, *answer)

    async def _answer(self, bot: Bot, chat: int, message_id: int | None, reply: Reply, replace: bool) -> None:
        if replace and message_id is not None:
            await bot.edit_message_text(reply.text, chat_id=chat, message_id=message_id,
                                        reply_markup=keyboard(reply.buttons))
        else:
            await bot.send_message(chat, reply.text, reply_markup=keyboard(reply.buttons))

    async def _alerts(self, bot: Bot, position: Position) -> None:
        while True:
            found = await asyncio.to_thread(_all, self.follower, position)
            for event, after in found:
                alert = self._alert(event)
                if alert is not None:
                    for chat in sorted(self.settings.allowed):
                        await _quietly(bot.send_message(chat, alert.text,
                                                        reply_markup=keyboard(status_buttons(alert.bot))))
                position = after
                await asyncio.to_thread(self.follower.commit, position)
            if not found:
                await asyncio.sleep(FOLLOW_INTERVAL_S)

    def _alert(self, event: dict[str, Any]) -> ChatAlert | None:
        alert = alert_for(event)
        if alert is None or not alert.text.startswith("💥") or alert.bot is None:
            return alert
        quiet = self.quiet.admit(alert.bot, time.monotonic())
        if quiet is None:
            return None
        more = f" ({quiet} more crashes since the last alert)" if quiet else ""
        return ChatAlert(alert.bot, alert.text + more)

    def _report(self, connected: bool, detail: str, retry_in_s: float | None) -> None:
        if connected != self._connected or not connected:
            level = logging.INFO if connected else logging.WARNING
            then = f"; retrying in {retry_in_s:g} s" if retry_in_s is not None else ""
            log.log(level, "%s%s", detail, then)
        self._connected = connected
        try:
            self.state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write_json(self.state_file, {"connected": connected, "detail": detail, "at": wall_iso(),
                                                "retry_in_s": retry_in_s})
        except OSError as exc:
            log.warning("cannot write %s: %s", self.state_file, exc)


async def _quietly(action: Awaitable[Any]) -> None:
    """One update's answer, one alert to one chat: a chat that blocked the bot, or a message
    Telegram refuses, is logged and skipped; a network failure ends the session."""
    try:
        await action
    except (BadRequest, Forbidden) as exc:
        if isinstance(exc, InvalidToken):
            raise
        log.warning("telegram refused a message: %s", exc)


def _all(follower: EventFollower, position: Position) -> list[tuple[dict[str, Any], Position]]:
    return list(follower.read(position))


def _why(exc: BaseException) -> str:
    if isinstance(exc, NoToken):
        from .settings import token_help

        return token_help()
    if isinstance(exc, InvalidToken):
        return "the Bot API refused the token (revoked?): set a new one with 'wdbot secret set'"
    if isinstance(exc, (TelegramError, OSError)):
        return f"cannot reach the Bot API ({type(exc).__name__}: {exc})"
    return f"session failed ({type(exc).__name__}: {exc})"


__all__ = ["Backoff", "Link", "NoToken", "Position"]
