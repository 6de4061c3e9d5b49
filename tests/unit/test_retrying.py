"""``wd.retry``: what is transient (a corpus of library errors, recognised without importing
the libraries), the backoff, ``Retry-After``, and the limits. Sleeps are injected."""

from __future__ import annotations

import asyncio
import email.utils
import errno
import socket
import urllib.error
from typing import Any

import pytest

from watchdog_runtime.bot.ratelimit import RateLimiter
from watchdog_runtime.bot.retrying import Retry, http_status, is_transient, retry, retry_after_s


def library_error(module: str, *chain: str, **attrs: Any) -> Exception:
    """An instance of a class hierarchy named like a library's (``chain`` from the base)."""
    base: type = Exception
    for name in chain:
        base = type(name, (base,), {"__module__": module})
    exc = base("simulated")
    for key, value in attrs.items():
        setattr(exc, key, value)
    return exc


class Response:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}


CCXT = "ccxt.base.errors"
TRANSIENT = [
    library_error(CCXT, "BaseError", "OperationFailed", "NetworkError", "RequestTimeout"),
    library_error(CCXT, "BaseError", "OperationFailed", "NetworkError", "ExchangeNotAvailable",
                  "OnMaintenance"),
    library_error(CCXT, "BaseError", "OperationFailed", "NetworkError", "DDoSProtection"),
    library_error(CCXT, "BaseError", "OperationFailed", "NetworkError", "RateLimitExceeded"),
    library_error("requests.exceptions", "RequestException", "ConnectionError"),
    library_error("requests.exceptions", "RequestException", "Timeout", "ReadTimeout"),
    library_error("httpx", "HTTPError", "TransportError", "TimeoutException", "ReadTimeout"),
    library_error("httpx", "HTTPError", "TransportError", "NetworkError", "ConnectError"),
    library_error("aiohttp.client_exceptions", "ClientError", "ClientConnectionError",
                  "ServerDisconnectedError"),
    library_error("requests.exceptions", "RequestException", "HTTPError", response=Response(429)),
    library_error("requests.exceptions", "RequestException", "HTTPError", response=Response(503)),
    library_error("aiohttp.client_exceptions", "ClientError", "ClientResponseError", status=502),
    urllib.error.HTTPError("https://api.exchange/x", 500, "Server Error", None, None),  # type: ignore[arg-type]
    ConnectionResetError(errno.ECONNRESET, "reset by peer"),
    BrokenPipeError(errno.EPIPE, "broken pipe"),
    TimeoutError("read timed out"),
    OSError(errno.ENETUNREACH, "network is unreachable"),
    socket.gaierror(socket.EAI_AGAIN, "temporary failure in name resolution"),
    # Regression (issue 24): DNS failures the diagnosis calls network were not retried.
    socket.gaierror(socket.EAI_NONAME, "name or service not known"),
    urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "name or service not known")),
]
NEVER = [
    library_error(CCXT, "BaseError", "ExchangeError", "AuthenticationError"),
    library_error(CCXT, "BaseError", "ExchangeError", "AuthenticationError", "PermissionDenied"),
    library_error(CCXT, "BaseError", "ExchangeError", "InvalidOrder"),
    library_error(CCXT, "BaseError", "ExchangeError", "InsufficientFunds"),
    library_error(CCXT, "BaseError", "ExchangeError", "BadSymbol"),
    library_error(CCXT, "BaseError", "ExchangeError"),
    library_error("requests.exceptions", "RequestException", "HTTPError", response=Response(401)),
    library_error("requests.exceptions", "RequestException", "HTTPError", response=Response(403)),
    library_error("requests.exceptions", "RequestException", "HTTPError", response=Response(400)),
    library_error("requests.exceptions", "RequestException", "HTTPError", response=Response(418)),
    library_error("myapp", "ConnectionError"),  # a name alone, from another module, is not enough
    KeyError("bids"), TypeError("'NoneType' object is not subscriptable"), ValueError("x"),
    FileNotFoundError(errno.ENOENT, "no such file"), PermissionError(errno.EACCES, "denied"),
    urllib.error.URLError("unknown url type: htps"),  # a typo in the URL stays one
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_failures_are_retried(exc: Exception) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", NEVER, ids=lambda e: type(e).__name__)
def test_permanent_failures_are_not(exc: Exception) -> None:
    assert not is_transient(exc)


def test_an_auth_error_that_also_derives_from_a_network_one_is_never_retried() -> None:
    exc = library_error(CCXT, "NetworkError", "AuthenticationError")
    assert not is_transient(exc)


def test_retry_after_in_seconds_and_as_a_date() -> None:
    limited = library_error("requests.exceptions", "HTTPError",
                            response=Response(429, {"Retry-After": "12"}))
    assert retry_after_s(limited) == 12.0
    when = email.utils.formatdate(1_000_030.0, usegmt=True)
    dated = library_error("x", "E", headers={"Retry-After": when})
    assert retry_after_s(dated, now=lambda: 1_000_000.0) == 30.0
    assert retry_after_s(library_error("x", "E", headers={"Retry-After": "soon"})) is None
    assert http_status(limited) == 429 and http_status(KeyError()) is None


class Script:
    """A callable failing with the given errors in turn, then returning ``"ok"``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(**kw: Any) -> tuple[Retry, list[float]]:
    slept: list[float] = []
    defaults: dict[str, Any] = {"sleep": lambda s: slept.append(s) or False, "uniform01": lambda: 1.0}
    return Retry(**{**defaults, **kw}), slept


def test_exponential_backoff_capped_with_full_jitter() -> None:
    retry_policy, slept = policy(attempts=6, base_delay_s=1, max_delay_s=5)
    fn = Script(*[TimeoutError()] * 5)
    assert retry_policy.call(fn) == "ok" and fn.calls == 6
    assert slept == [1, 2, 4, 5, 5]
    jittered, slept = policy(attempts=3, base_delay_s=1, uniform01=lambda: 0.25)
    jittered.call(Script(TimeoutError(), TimeoutError()))
    assert slept == [0.25, 0.5]


def test_attempts_run_out_and_the_last_error_is_raised() -> None:
    retry_policy, slept = policy(attempts=3, base_delay_s=0)
    last = ConnectionResetError("third")
    fn = Script(TimeoutError("first"), TimeoutError("second"), last)
    with pytest.raises(ConnectionResetError) as caught:
        retry_policy.call(fn)
    assert caught.value is last and fn.calls == 3 and len(slept) == 2


def test_a_permanent_error_is_raised_at_once() -> None:
    retry_policy, slept = policy()
    fn = Script(NEVER[0])
    with pytest.raises(Exception, match="simulated"):
        retry_policy.call(fn)
    assert fn.calls == 1 and slept == []


def test_retry_after_is_honoured_and_slows_the_shared_limiter() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=10, burst=10, clock=lambda: now[0])
    retry_policy, slept = policy(base_delay_s=0.1, max_delay_s=60, limiter=limiter)
    limited = library_error("requests.exceptions", "HTTPError",
                            response=Response(429, {"Retry-After": "20"}))
    assert retry_policy.call(Script(limited)) == "ok"
    assert slept == [20.0]
    assert limiter.reserve() == pytest.approx(20.1)  # every other caller waits too


def test_a_retry_after_beyond_the_maximum_delay_is_raised_not_shortened() -> None:
    retry_policy, slept = policy(max_delay_s=10)
    limited = library_error("x", "E", response=Response(429, {"Retry-After": "3600"}))
    with pytest.raises(Exception, match="simulated"):
        retry_policy.call(Script(limited))
    assert slept == []


def test_a_stop_during_the_wait_ends_the_retries() -> None:
    fn = Script(TimeoutError("down"), TimeoutError("down"))
    with pytest.raises(TimeoutError):
        Retry(attempts=5, sleep=lambda s: True).call(fn)
    assert fn.calls == 1


def test_decorator_forms_and_async() -> None:
    fn = Script(TimeoutError())
    wrapped = retry(attempts=2, base_delay_s=0)(fn)
    assert wrapped() == "ok"

    @retry
    def named() -> str:
        """Docs kept."""
        return "ok"

    assert named() == "ok" and named.__name__ == "named" and named.__doc__ == "Docs kept."

    calls = []

    @retry(attempts=3, base_delay_s=0)
    async def fetch() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError()
        return "ok"

    assert asyncio.run(fetch()) == "ok" and len(calls) == 3


def test_bad_attempts_are_refused() -> None:
    with pytest.raises(ValueError, match="attempts"):
        Retry(attempts=0)
