"""``wdbot telegram``: checks what it needs (the extra installed, a chat allowed), then runs
the link until SIGTERM or Ctrl-C. ``--new-totp`` stores a fresh one-time-code secret and
prints it for an authenticator app."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..common.home import Home
from .settings import (
    SECRET_SCOPE,
    TOKEN_NAME,
    TOTP_NAME,
    ChatSettings,
    ChatUsageError,
    load_settings,
    read_secret,
)

EXTRA_HINT = "python-telegram-bot is not installed: pip install 'wdbot[telegram]'"


class AlreadyRunning(Exception):
    """Another ``wdbot telegram`` serves this home (two would answer and alert twice)."""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The command's options (argparse only: nothing heavy is imported here)."""
    parser.add_argument("--allow", metavar="CHAT_ID", type=int, action="append", default=[],
                        help="also allow this chat id (beside [telegram] allow in config.toml)")
    parser.add_argument("--new-totp", action="store_true",
                        help="store a new one-time-code secret, print it for your authenticator, exit")


def missing_extra() -> bool:
    """The ``telegram`` extra (python-telegram-bot) is not installed (``EXTRA_HINT`` says so)."""
    import importlib.util

    return importlib.util.find_spec("telegram") is None


def run(ns: argparse.Namespace, home: Home) -> int:
    """Run until stopped; ChatUsageError for what the user must fix first."""
    if ns.new_totp:
        return _new_totp(home)
    settings = load_settings(home, tuple(ns.allow))
    if missing_extra():
        raise ChatUsageError(EXTRA_HINT)
    lock = _only_one(home)  # held (open) until the process exits
    logging.getLogger().setLevel(logging.INFO)
    for noisy in ("httpx", "httpcore", "telegram"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # every poll would be a line
    import asyncio  # here, not at the top: 'wdbot --help' imports this module

    try:
        return asyncio.run(_serve(home, settings))
    finally:
        os.close(lock)


def _only_one(home: Home) -> int:
    import fcntl

    folder = home.root / "telegram"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(f"wdbot telegram already runs for {home.root} (two would answer and "
                             f"alert twice); stop that one first") from None
    return fd


async def _serve(home: Home, settings: ChatSettings) -> int:
    from ..web.backend import Backend
    from .dispatch import Dispatcher
    from .follow import EventFollower
    from .link import Link
    folder = home.root / "telegram"
    dispatcher = Dispatcher(Backend(home), settings.allowed,
                            (lambda: read_secret(home, TOTP_NAME)) if settings.totp else None,
                            used_codes_file=folder / "used_codes.json")
    link = Link(settings, dispatcher, EventFollower(home.events, folder / "position.json"),
                lambda: read_secret(home, TOKEN_NAME), folder / "state.json")
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"wdbot telegram: serving {len(settings.allowed)} chat(s) for {home.root}", file=sys.stderr,
          flush=True)
    await link.run(stop)
    return 0


def _new_totp(home: Home) -> int:
    from ..secretstore import SecretError, SecretStore
    from .totp import new_secret

    secret = new_secret()
    try:
        SecretStore(home.secrets).set(SECRET_SCOPE, TOTP_NAME, secret)
    except SecretError as exc:
        raise ChatUsageError(str(exc)) from None
    print(f"one-time-code secret stored; add it to your authenticator app:\n  {secret}\n"
          f"  otpauth://totp/wdbot?secret={secret}&issuer=wdbot\n"
          f"then set [telegram] totp = true in {home.config}")
    return 0


__all__ = ["EXTRA_HINT", "SECRET_SCOPE", "TOKEN_NAME", "add_options", "missing_extra", "run"]
