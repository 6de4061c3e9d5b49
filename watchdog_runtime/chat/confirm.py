"""Changes waiting for a person's button press (pure, with the caller's clock): each has a
random token (the button's data), belongs to the chat that asked, and expires."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from .commands import Change

TTL_S = 120.0
MAX_PENDING = 100


@dataclass(frozen=True)
class Pending:
    chat: int
    change: Change
    expires: float


@dataclass
class Confirmations:
    """The pending changes; a token is good once, in its own chat, until it expires."""

    ttl_s: float = TTL_S
    _pending: dict[str, Pending] = field(default_factory=dict)

    def add(self, chat: int, change: Change, now: float) -> str:
        """A new token for ``change``.

        >>> c = Confirmations()
        >>> token = c.add(7, Change("restart", "grid"), 0.0)
        >>> c.take(token, 8, 1.0), c.take(token, 7, 1.0), c.take(token, 7, 2.0)
        (None, Change(verb='restart', name='grid', code=None), None)
        """
        self._pending = {t: p for t, p in self._pending.items() if p.expires > now}
        while len(self._pending) >= MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))
        token = secrets.token_urlsafe(9)
        self._pending[token] = Pending(chat, change, now + self.ttl_s)
        return token

    def take(self, token: str, chat: int, now: float) -> Change | None:
        """The change of ``token`` (forgotten from now on), or None: unknown, expired, or
        another chat's."""
        found = self._pending.get(token)
        if found is None or found.chat != chat:
            return None
        del self._pending[token]
        return found.change if found.expires > now else None

    def drop(self, token: str, chat: int) -> bool:
        """Cancel: True when the token was this chat's."""
        found = self._pending.get(token)
        if found is None or found.chat != chat:
            return False
        del self._pending[token]
        return True
