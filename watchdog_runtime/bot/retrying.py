"""``wd.retry``: retry transient failures with exponential backoff and full jitter. Stdlib only.

Only failures that a later attempt can heal are retried: a dropped connection, a timeout, an
exchange that is down or in maintenance, a rate limit, an HTTP 429 or 5xx. Everything else is
raised at once, above all a rejected key (retrying it hammers the exchange with a bad key and
risks a lockout) and a rejected order (it stays rejected).

Library errors are recognised by class name along the MRO, qualified by their top-level
module, so that neither ccxt nor requests, httpx or aiohttp is ever imported here.

**Placing an order is not safe to retry blindly.** A timeout on ``create_order`` does not say
whether the exchange received the order: a retry can open the position twice. Give each order
a client order id (ccxt: ``params={"clientOrderId": ...}``) and after a failure look for it
with ``fetch_open_orders`` before sending it again; the paper-trading example in ``bots/``
does exactly that. Use ``wd.retry`` for reads (balances, positions, tickers) and cancels.
"""

from __future__ import annotations

import email.utils
import errno
import functools
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

# Not ``wait``: that declares the bot cooperative, and a bot that only retries must still
# unwind on a stop (SystemExit at once, see ``shutdown``).
from .shutdown import sleep_unless_stopping as _interruptible_sleep

log = logging.getLogger("watchdog_runtime.retry")

T = TypeVar("T")

_TRANSIENT = {
    "ccxt": {"NetworkError", "RequestTimeout", "ExchangeNotAvailable", "DDoSProtection",
             "RateLimitExceeded", "OnMaintenance", "InvalidNonce"},
    "requests": {"ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout", "ChunkedEncodingError"},
    "urllib3": {"ProtocolError", "NewConnectionError", "TimeoutError", "ReadTimeoutError",
                "MaxRetryError"},
    "httpx": {"TimeoutException", "NetworkError", "RemoteProtocolError", "ConnectError", "ReadTimeout"},
    "aiohttp": {"ClientConnectionError", "ClientConnectorError", "ServerDisconnectedError",
                "ServerTimeoutError", "ClientPayloadError", "ClientOSError"},
    "websockets": {"ConnectionClosed", "ConnectionClosedError", "InvalidStatus"},
    "websocket": {"WebSocketConnectionClosedException", "WebSocketTimeoutException"},
    "http": {"RemoteDisconnected", "IncompleteRead"},
    "ssl": {"SSLEOFError", "SSLZeroReturnError"},
}
"""Transient error classes of common libraries, by top-level module."""

_NEVER = {
    "ccxt": {"AuthenticationError", "PermissionDenied", "AccountSuspended", "InvalidOrder",
             "InsufficientFunds", "BadRequest", "BadSymbol", "ArgumentsRequired", "NotSupported"},
}
"""Classes that are never retried even when they also derive from a transient one."""

_NETWORK_ERRNOS = frozenset(
    getattr(errno, name) for name in (
        "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH",
        "ENETDOWN", "ENETRESET", "EPIPE", "EHOSTDOWN",
    ) if hasattr(errno, name)
)


def is_transient(exc: BaseException) -> bool:
    """Whether a later attempt may succeed where ``exc`` failed: what ``wd.retry`` retries,
    and what wdbot's diagnosis calls a network failure. Use it with another retry library
    (tenacity, stamina) to retry exactly that::

        @tenacity.retry(retry=tenacity.retry_if_exception(wd.is_transient))

    The standard library's own are recognised, ``urllib``'s wrapped ones too:

    >>> import http.client, socket, urllib.error
    >>> is_transient(urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")))
    True
    >>> is_transient(http.client.RemoteDisconnected("Remote end closed connection"))
    True
    >>> is_transient(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    True
    >>> is_transient(ConnectionResetError()), is_transient(TimeoutError())
    (True, True)
    >>> is_transient(ValueError("bad symbol")), is_transient(KeyError("bids"))
    (False, False)
    """
    for _ in range(8):  # urlopen wraps a refused connection, a DNS failure, a timeout: unwrap
        reason = getattr(exc, "reason", None)
        if ("urllib", "URLError") not in _library_names(exc) or not isinstance(reason, BaseException):
            break
        if http_status(exc) is not None:
            break  # an HTTPError: its status decides
        exc = reason
    names = _library_names(exc)
    if names & _NEVER_NAMES:
        return False
    status = http_status(exc)
    if status is not None:
        return status == 429 or 500 <= status <= 599
    if names & _TRANSIENT_NAMES:
        return True
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return True  # a DNS failure included: a resolver hiccup heals, and a typo fails fast
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS


_TRANSIENT_NAMES = {(mod, name) for mod, names in _TRANSIENT.items() for name in names}
_NEVER_NAMES = {(mod, name) for mod, names in _NEVER.items() for name in names}


def _library_names(exc: BaseException) -> set[tuple[str, str]]:
    return {(cls.__module__.partition(".")[0], cls.__name__) for cls in type(exc).__mro__}


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (requests, httpx, aiohttp, urllib), if any.

    >>> import urllib.error
    >>> http_status(urllib.error.HTTPError("https://x", 429, "Too Many Requests", None, None))
    429
    """
    response = getattr(exc, "response", None)
    for holder, attr in ((response, "status_code"), (response, "status"), (exc, "status_code"),
                         (exc, "status"), (exc, "code")):
        value = getattr(holder, attr, None) if holder is not None else None
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    return None


def retry_after_s(exc: BaseException, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asked to wait (``Retry-After``: seconds or an HTTP date), if it did.

    >>> class Limited(Exception):
    ...     headers = {"Retry-After": "7"}
    >>> retry_after_s(Limited())
    7.0
    """
    for holder in (getattr(exc, "response", None), exc):
        headers: Any = getattr(holder, "headers", None)
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
        if value is None:
            continue
        text = str(value).strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            pass  # not seconds: an HTTP date
        try:
            return max(0.0, email.utils.parsedate_to_datetime(text).timestamp() - now())
        except (TypeError, ValueError):
            return None  # unreadable: fall back to our own backoff
    return None


@dataclass(frozen=True)
class Retry:
    """A retry policy; use it as a decorator (sync or async) or through :meth:`call`. When
    the tries run out, the last failure itself is raised, so callers catch what they know.

    >>> attempts = []
    >>> @Retry(attempts=3, base_delay_s=0, sleep=lambda s: False)
    ... def flaky():
    ...     attempts.append(1)
    ...     if len(attempts) < 3:
    ...         raise ConnectionResetError("peer reset")
    ...     return "ok"
    >>> flaky(), len(attempts)
    ('ok', 3)
    """

    attempts: int = 5
    """Tries in all, the first included."""
    base_delay_s: float = 0.5
    """The ceiling of the first delay; it doubles per retry, up to ``max_delay_s``."""
    max_delay_s: float = 60.0
    """No delay is longer. A server asking for a longer ``Retry-After`` gets the error back."""
    retry_on: Callable[[BaseException], bool] = is_transient
    limiter: Any = None
    """A ``wd.RateLimiter`` told about every ``Retry-After``, so one 429 slows every caller."""
    sleep: Callable[[float], bool] = field(default=_interruptible_sleep, repr=False)
    """Waits; returns True when the bot is stopping (the wait ends early and the error is raised)."""
    uniform01: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    @overload
    def __call__(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]: ...
    @overload
    def __call__(self, fn: Callable[..., T]) -> Callable[..., T]: ...

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if _is_async(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(fn, *args, **kwargs)
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.call(fn, *args, **kwargs)
        return wrapper

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, retried by this policy."""
        for attempt in range(1, self.attempts + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                delay = self._delay_or_raise(exc, attempt, fn)
                if self.sleep(delay):
                    raise  # the bot is stopping: no more attempts
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def acall(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await fn(*args, **kwargs)``, retried by this policy (sleeping with asyncio)."""
        import asyncio

        from .shutdown import stop_requested

        for attempt in range(1, self.attempts + 1):
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                delay = self._delay_or_raise(exc, attempt, fn)
                await asyncio.sleep(delay)
                if stop_requested():
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def delay_s(self, attempt: int) -> float:
        """The wait after failed try number ``attempt`` (1-based): full jitter over an
        exponential ceiling.

        >>> Retry(base_delay_s=1, max_delay_s=10, uniform01=lambda: 1.0).delay_s(5)
        10.0
        """
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return float(ceiling * self.uniform01())

    def _delay_or_raise(self, exc: Exception, attempt: int, fn: Callable[..., Any]) -> float:
        """How long to wait before the next try; re-raises ``exc`` when there is none."""
        if attempt >= self.attempts or not self.retry_on(exc):
            raise exc
        asked = retry_after_s(exc)
        if asked is not None:
            if asked > self.max_delay_s:
                raise exc  # never sooner than the server asked, never longer than allowed
            if self.limiter is not None:
                self.limiter.pause(asked)
        delay = max(self.delay_s(attempt), asked or 0.0)
        log.warning("%s failed (%s: %s), try %d of %d; again in %.2f s",
                    getattr(fn, "__qualname__", fn), type(exc).__name__, exc, attempt,
                    self.attempts, delay)
        return delay


@overload
def retry(fn: Callable[..., T], /) -> Callable[..., T]: ...
@overload
def retry(fn: None = None, /, **options: Any) -> Retry: ...


def retry(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Retry transient failures: ``@wd.retry``, ``@wd.retry(attempts=3)``, or the call form
    ``wd.retry(attempts=3).call(exchange.fetch_balance)``; async functions too.

    >>> @retry
    ... def fetch_ticker():
    ...     return {"last": 64000.0}
    >>> fetch_ticker()["last"]
    64000.0
    >>> retry(attempts=3, max_delay_s=10).attempts
    3
    """
    policy = Retry(**options)
    return policy if fn is None else policy(fn)


def _is_async(fn: Callable[..., Any]) -> bool:
    import inspect  # only when decorating: keeps ``import watchdog_runtime`` light

    return inspect.iscoroutinefunction(fn)
