"""Who may use the web dashboard: the login secret, sessions with their CSRF tokens, and
the login rate limit. Sessions and the limiter are pure (an injected clock); the secret is
one private file in the home.

The secret is generated once (``wdbot web`` on first run, or ``--new-secret``), kept in
``web/secret`` (0600, folder 0700), and compared in constant time. Sessions live in the web
process only (a restart of it means logging in again) and are bound to the secret they were
made with: a new secret logs every browser out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..common.durable import atomic_write_bytes

SECRET_BYTES = 32
SESSION_TTL_S = 7 * 24 * 3600.0
"""A session ends a week after login, whatever happens."""
MAX_SESSIONS = 1000
"""The oldest session goes when a new one would pass this (memory stays bounded)."""


def secret_file(home_root: Path) -> Path:
    return home_root / "web" / "secret"


def load_secret(home_root: Path, create: bool = True) -> str:
    """The login secret, generated (once) when there is none and ``create``."""
    path = secret_file(home_root)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    if not text and create:
        return new_secret(home_root)
    return text


def new_secret(home_root: Path) -> str:
    """Replace the login secret with a fresh random one (every session ends)."""
    path = secret_file(home_root)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(SECRET_BYTES)
    atomic_write_bytes(path, value.encode() + b"\n", mode=0o600)
    return value


def fingerprint(secret: str) -> str:
    """What a session remembers of the secret it was made with (never the secret)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Session:
    """One logged-in browser."""

    csrf: str
    """The token every action of this session must carry."""
    secret_fp: str
    created: float


class Sessions:
    """Session ids (random, 256 bits) to sessions; bounded in number and age."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, ttl_s: float = SESSION_TTL_S,
                 limit: int = MAX_SESSIONS) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self.limit = limit
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def create(self, secret_fp: str) -> str:
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = Session(secrets.token_urlsafe(32), secret_fp, self.clock())
        while len(self._by_id) > self.limit:
            self._by_id.popitem(last=False)
        return sid

    def get(self, sid: str | None, secret_fp: str) -> Session | None:
        """The live session of ``sid``; None when unknown, expired or of an older secret."""
        session = self._by_id.get(sid) if sid else None
        if session is None or sid is None:
            return None
        if self.clock() - session.created > self.ttl_s or not same(session.secret_fp, secret_fp):
            del self._by_id[sid]
            return None
        return session

    def end(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)

    def __len__(self) -> int:
        return len(self._by_id)


class LoginLimiter:
    """Failed logins per client address within a sliding window, plus a cap for all
    addresses together (a guess from many addresses is slowed too).

    >>> t = [0.0]
    >>> lim = LoginLimiter(clock=lambda: t[0], per_client=2, overall=10, window_s=60)
    >>> lim.fail("a"); lim.fail("a"); lim.retry_after("a") > 0, lim.retry_after("b")
    (True, 0.0)
    >>> t[0] = 61.0; lim.retry_after("a")
    0.0
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, per_client: int = 5,
                 overall: int = 30, window_s: float = 300.0, max_clients: int = 10000) -> None:
        self.clock = clock
        self.per_client = per_client
        self.overall = overall
        self.window_s = window_s
        self.max_clients = max_clients
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()

    def retry_after(self, client: str) -> float:
        """0 when ``client`` may try now; else the seconds until it may."""
        now = self.clock()
        self._expire(now)
        waits = [0.0]
        failures = self._clients.get(client)
        if failures and len(failures) >= self.per_client:
            waits.append(failures[0] + self.window_s - now)
        if len(self._all) >= self.overall:
            waits.append(self._all[0] + self.window_s - now)
        return max(waits)

    def fail(self, client: str) -> None:
        now = self.clock()
        self._clients.setdefault(client, deque()).append(now)
        self._clients.move_to_end(client)
        self._all.append(now)
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)

    def succeed(self, client: str) -> None:
        self._clients.pop(client, None)

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_s
        while self._all and self._all[0] <= cutoff:
            self._all.popleft()
        for client in list(self._clients):
            failures = self._clients[client]
            while failures and failures[0] <= cutoff:
                failures.popleft()
            if not failures:
                del self._clients[client]
