"""What ``wdbot telegram`` runs with: ``[telegram]`` in ``config.toml`` (the chats allowed,
whether a one-time code guards the riskiest commands, the Bot API's address), and the bot
token and TOTP secret from the home's secret store (never argv, the environment or a file of
its own)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..common.home import Home

SECRET_SCOPE = "wdbot-telegram"
"""The secret store's entry holding the token and the TOTP secret (a name no bot needs)."""
TOKEN_NAME = "telegram.token"
TOTP_NAME = "telegram.totp"
DEFAULT_API_URL = "https://api.telegram.org/bot"
KEYS = frozenset({"allow", "totp", "api_url", "poll_timeout"})


class ChatUsageError(ValueError):
    """A setting or a secret that is missing or wrong; the message says what to do."""


@dataclass(frozen=True)
class ChatSettings:
    """``[telegram]`` in ``config.toml``."""

    allowed: frozenset[int]
    """Chat ids that get answers and alerts; any other chat is logged, never answered."""
    totp: bool = False
    """A one-time code guards ``/stop``, ``/halt all`` and ``/resume all``."""
    api_url: str = DEFAULT_API_URL
    """The Bot API's base (``https://api.telegram.org/bot``; a local Bot API server's, a test's)."""
    poll_timeout_s: float = 25.0
    """How long one ``getUpdates`` long poll waits for news."""


def load_settings(home: Home, extra_allow: tuple[int, ...] = ()) -> ChatSettings:
    """The settings, or ChatUsageError naming what to fix."""
    from ..config import ConfigError, read_toml

    try:
        _, doc = read_toml(home.config, ConfigError)
    except FileNotFoundError:
        doc = {}
    except ConfigError as exc:
        raise ChatUsageError(str(exc)) from None
    raw = doc.get("telegram", {})
    if not isinstance(raw, dict) or set(raw) - KEYS:
        raise ChatUsageError(f"{home.config}: [telegram] takes only {', '.join(sorted(KEYS))}")
    allowed = frozenset([*_chat_ids(home.config, raw.get("allow", [])), *extra_allow])
    if not allowed:
        raise ChatUsageError(f"no chat is allowed: add [telegram] allow = [YOUR_CHAT_ID] to {home.config} "
                             f"(or --allow ID); others are never answered")
    api_url = raw.get("api_url", DEFAULT_API_URL)
    poll = raw.get("poll_timeout", 25)
    if not isinstance(api_url, str) or not api_url.startswith(("https://", "http://")):
        raise ChatUsageError(f"{home.config}: telegram.api_url must be an http(s) URL")
    if isinstance(poll, bool) or not isinstance(poll, (int, float)) or not 0 < poll <= 60:
        raise ChatUsageError(f"{home.config}: telegram.poll_timeout must be seconds, 1 to 60")
    if not isinstance(raw.get("totp", False), bool):
        raise ChatUsageError(f"{home.config}: telegram.totp must be true or false")
    return ChatSettings(allowed, bool(raw.get("totp", False)), api_url, float(poll))


def _chat_ids(path: Path, value: Any) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                              for v in value):
        raise ChatUsageError(f"{path}: telegram.allow must be a list of chat ids (whole numbers)")
    return list(value)


def read_secret(home: Home, name: str) -> str | None:
    """A value of the store's ``wdbot-telegram`` entry, read fresh (a new token needs no
    restart); None when it is not set. Raises ChatUsageError when the store cannot be read."""
    from ..secretstore import SecretError, SecretStore

    connection, _, field = name.partition(".")
    try:
        opened = SecretStore(home.secrets).connection(SECRET_SCOPE, connection)
    except SecretError as exc:
        raise ChatUsageError(str(exc)) from None
    value = opened.values.get(field)
    return value or None


def token_help() -> str:
    return (f"no Telegram bot token: store it with 'wdbot secret set {SECRET_SCOPE} {TOKEN_NAME} "
            f"--force' (from @BotFather; typed at the prompt, never on the command line)")
