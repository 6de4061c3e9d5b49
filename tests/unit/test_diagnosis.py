"""Crash diagnosis on a corpus of realistic tracebacks (as bots print them), on exit records,
and on signals with memory readings. Pure: no processes."""

from __future__ import annotations

import signal

import pytest

from watchdog_runtime.states import ExitReason
from watchdog_runtime.supervisor.degraded import RepeatWatch
from watchdog_runtime.supervisor.diagnosis import Failure, Pattern, diagnose, failure_of
from watchdog_runtime.supervisor.nativecrash import crashed_module
from watchdog_runtime.supervisor.tracebacks import final_traceback


def tb(*frames_and_last: str) -> str:
    *frames, last = frames_and_last
    body = "".join(f'  File "{f}", line 10, in run\n    do()\n' for f in frames)
    return f"Traceback (most recent call last):\n{body}{last}\n"


CORPUS = [
    # requests
    (tb("/bot/bot.py", "/venv/requests/adapters.py",
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.binance.com', port=443): "
        "Max retries exceeded with url: /api/v3/ticker (Caused by NewConnectionError('Failed to "
        "establish a new connection: [Errno 111] Connection refused'))"), Pattern.NETWORK),
    (tb("/bot/bot.py", "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='api.kraken.com', "
        "port=443): Read timed out. (read timeout=10)"), Pattern.NETWORK),
    (tb("/bot/bot.py", "requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: "
        "https://api.exchange.com/v1/account"), Pattern.CREDENTIALS),
    (tb("/bot/bot.py", "requests.exceptions.HTTPError: 403 Client Error: Forbidden for url: "
        "https://api.exchange.com/v1/orders"), Pattern.CREDENTIALS),
    (tb("/bot/bot.py", "requests.exceptions.HTTPError: 429 Client Error: Too Many Requests for url: "
        "https://api.binance.com/api/v3/order"), Pattern.RATE_LIMIT),
    (tb("/bot/bot.py", "requests.exceptions.HTTPError: 418 Client Error: I'm a teapot for url: "
        "https://api.binance.com/api/v3/order"), Pattern.RATE_LIMIT),
    (tb("/bot/bot.py", "requests.exceptions.HTTPError: 502 Server Error: Bad Gateway for url: "
        "https://api.exchange.com/"), Pattern.NETWORK),
    # aiohttp
    (tb("/bot/bot.py", "/venv/aiohttp/connector.py", "aiohttp.client_exceptions.ClientConnectorError: "
        "Cannot connect to host stream.binance.com:9443 ssl:default [Name or service not known]"),
     Pattern.NETWORK),
    (tb("/bot/bot.py", "aiohttp.client_exceptions.ServerDisconnectedError: Server disconnected"),
     Pattern.NETWORK),
    (tb("/bot/bot.py", "aiohttp.client_exceptions.ClientResponseError: 429, message='Too Many "
        "Requests', url=URL('https://api.bybit.com/v5/order/create')"), Pattern.RATE_LIMIT),
    (tb("/bot/bot.py", "aiohttp.client_exceptions.ClientResponseError: 401, message='Unauthorized', "
        "url=URL('https://api.bybit.com/v5/account')"), Pattern.CREDENTIALS),
    # ccxt
    (tb("/bot/bot.py", "/venv/ccxt/base/exchange.py", 'ccxt.base.errors.AuthenticationError: binance '
        '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'), Pattern.CREDENTIALS),
    (tb("/bot/bot.py", 'ccxt.base.errors.ExchangeError: binance {"code":-2014,"msg":"API-key format '
        'invalid."}'), Pattern.CREDENTIALS),
    (tb("/bot/bot.py", "ccxt.base.errors.RateLimitExceeded: binance 429 Too Many Requests "
        '{"code":-1003,"msg":"Too many requests."}'), Pattern.RATE_LIMIT),
    (tb("/bot/bot.py", "ccxt.base.errors.DDoSProtection: kraken {\"error\":[\"EAPI:Rate limit "
        "exceeded\"]}"), Pattern.RATE_LIMIT),
    (tb("/bot/bot.py", "ccxt.base.errors.RequestTimeout: binance GET https://api.binance.com/api/v3/"
        "exchangeInfo request timed out (10000 ms)"), Pattern.NETWORK),
    (tb("/bot/bot.py", "ccxt.base.errors.OnMaintenance: bitmex system maintenance"), Pattern.NETWORK),
    (tb("/bot/bot.py", "ccxt.base.errors.ExchangeNotAvailable: okx GET https://www.okx.com/api/v5 "
        "503 Service Unavailable"), Pattern.NETWORK),
    (tb("/bot/bot.py", "ccxt.base.errors.InsufficientFunds: binance Account has insufficient balance "
        "for requested action."), Pattern.UNKNOWN),
    # payload shape
    (tb("/bot/bot.py", "KeyError: 'bids'"), Pattern.PAYLOAD),
    (tb("/bot/bot.py", "TypeError: 'NoneType' object is not subscriptable"), Pattern.PAYLOAD),
    (tb("/bot/bot.py", "TypeError: string indices must be integers"), Pattern.PAYLOAD),
    (tb("/bot/bot.py", "ValueError: could not convert string to float: ''"), Pattern.PAYLOAD),
    (tb("/bot/bot.py", "/usr/lib/python3.12/json/decoder.py",
        "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"), Pattern.PAYLOAD),
    (tb("/bot/bot.py", "IndexError: list index out of range"), Pattern.PAYLOAD),
    # system and memory
    (tb("/bot/bot.py", "OSError: [Errno 24] Too many open files: '/proc/self/fd'"), Pattern.SYSTEM),
    (tb("/bot/bot.py", "OSError: [Errno 28] No space left on device"), Pattern.SYSTEM),
    (tb("/bot/bot.py", "MemoryError"), Pattern.MEMORY),
    (tb("/bot/bot.py", "BrokenPipeError: [Errno 32] Broken pipe"), Pattern.NETWORK),
    (tb("/bot/bot.py", "ConnectionResetError: [Errno 104] Connection reset by peer"), Pattern.NETWORK),
    (tb("/bot/bot.py", "socket.gaierror: [Errno -3] Temporary failure in name resolution"),
     Pattern.NETWORK),
    (tb("/bot/bot.py", "websockets.exceptions.ConnectionClosedError: received 1011 (internal error) "
        "keepalive ping timeout; then sent 1011"), Pattern.NETWORK),
    # dependencies, and what is none of these
    (tb("/bot/bot.py", "ModuleNotFoundError: No module named 'ccxt'"), Pattern.DEPENDENCY),
    (tb("/bot/bot.py", "ImportError: cannot import name 'Binance' from 'ccxt' (/venv/ccxt/__init__.py)"),
     Pattern.DEPENDENCY),
    (tb("/bot/bot.py", "ZeroDivisionError: division by zero"), Pattern.UNKNOWN),
    (tb("/bot/bot.py", "TypeError: strategy() missing 1 required positional argument: 'symbol'"),
     Pattern.UNKNOWN),
]


@pytest.mark.parametrize(("text", "pattern"), CORPUS, ids=[c[0].splitlines()[-1][:50] for c in CORPUS])
def test_the_corpus(text: str, pattern: Pattern) -> None:
    found = final_traceback(text)
    assert found is not None
    diagnosis = diagnose(ExitReason.CRASH, 1, None, failure_of(None, found.exc_line))
    assert diagnosis is not None and diagnosis.pattern is pattern, diagnosis
    assert diagnosis.hint and diagnosis.seen


def test_the_exit_record_mro_recognises_a_subclass() -> None:
    record = {"type": "StreamDropped", "message": "reconnect", "mro": [
        "mybot.StreamDropped", "ccxt.base.errors.NetworkError", "ccxt.base.errors.BaseError"]}
    found = diagnose(ExitReason.CRASH, 1, None, failure_of(record, None))
    assert found is not None and found.pattern is Pattern.NETWORK
    emfile = {"type": "OSError", "message": "cannot open", "errno": 24, "mro": ["builtins.OSError"]}
    found = diagnose(ExitReason.CRASH, 1, None, failure_of(emfile, None))
    assert found is not None and found.pattern is Pattern.SYSTEM and "file descriptors" in found.hint


def test_sigkill_near_the_machine_memory_is_probably_the_oom_killer() -> None:
    gib = 1024**3
    oom = diagnose(ExitReason.CRASH, None, 9, None, rss_bytes=int(3.5 * gib), machine_memory_bytes=4 * gib)
    assert oom is not None and oom.pattern is Pattern.MEMORY and "OOM killer" in oom.hint
    other = diagnose(ExitReason.CRASH, None, 9, None, rss_bytes=200 * 1024**2, machine_memory_bytes=4 * gib)
    assert other is not None and other.pattern is Pattern.SYSTEM
    hup = diagnose(ExitReason.CRASH, None, 1, None)
    assert hup is not None and hup.pattern is Pattern.SYSTEM and "SIGHUP" in hup.seen


def test_planned_restarts_and_clean_exits() -> None:
    assert diagnose(ExitReason.CLEAN_EXIT, 0, None, None) is None
    assert diagnose(ExitReason.STOPPED, 0, None, None) is None
    memory = diagnose(ExitReason.MEMORY_LIMIT, None, 15, None)
    assert memory is not None and memory.pattern is Pattern.MEMORY
    hang = diagnose(ExitReason.HANG, None, 15, None)
    assert hang is not None and hang.pattern is Pattern.SYSTEM and "timeout" in hang.hint
    unknown = diagnose(ExitReason.UNKNOWN, None, None, None)
    assert unknown is not None and unknown.pattern is Pattern.UNKNOWN


def test_a_failure_from_a_line_keeps_errno() -> None:
    failure = Failure.from_line("OSError: [Errno 24] Too many open files")
    assert failure.errno == 24 and failure.names == ("OSError",)


@pytest.mark.parametrize("line", [
    "urllib.error.URLError: <urlopen error [Errno -2] Name or service not known>",
    "http.client.RemoteDisconnected: Remote end closed connection without response",
    "socket.gaierror: [Errno -3] Temporary failure in name resolution",
    "telegram.error.NetworkError: httpx.ConnectError: [Errno -2] Name or service not known",
])
def test_the_standard_librarys_network_errors_and_dns_failures(line: str) -> None:
    # Regression (issue 14): these were diagnosed 'unknown'.
    found = diagnose(ExitReason.CRASH, 1, None, Failure.from_line(line))
    assert found is not None and found.pattern is Pattern.NETWORK, line
    if "not known" in line or "name resolution" in line:
        assert "DNS" in found.hint


def test_a_native_crash_is_the_bots_own_and_names_the_extension() -> None:
    # Regression (issue 14): a SIGSEGV was "something else signals the bot".
    segv = diagnose(ExitReason.CRASH, None, signal.SIGSEGV, None, native_module="talib")
    assert segv is not None and "inside talib" in segv.seen
    assert "update it, or pin" in segv.hint and "something else" not in segv.hint
    unknown = diagnose(ExitReason.CRASH, None, signal.SIGABRT, None)
    assert unknown is not None and "native code" in unknown.seen and "something else" not in unknown.hint
    for outside in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        found = diagnose(ExitReason.CRASH, None, outside, None)
        assert found is not None and "something else signals the bot" in found.hint
    usr = diagnose(ExitReason.CRASH, None, signal.SIGUSR2, None)
    assert usr is not None and "something else" not in usr.hint


def test_the_crashing_module_is_read_from_the_faulthandler_dump() -> None:
    dump = ("noise\nFatal Python error: Segmentation fault\n\nThread 0x2 (most recent call first):\n"
            '  File "/v/lib/python3.11/site-packages/websocket/_core.py", line 9 in recv\n\n'
            "Current thread 0x1 (most recent call first):\n"
            '  File "/usr/lib/python3.11/ctypes/__init__.py", line 3 in f\n'
            '  File "/v/lib/python3.11/site-packages/numpy/core/x.py", line 3 in g\n'
            '  File "/bots/bot.py", line 1 in <module>\n\nExtension modules: numpy (total: 1)\n')
    assert crashed_module(dump) == "numpy"
    assert crashed_module("Traceback (most recent call last):\n") is None


def test_repeats_of_one_error_in_the_window_make_a_degraded_verdict() -> None:
    watch = RepeatWatch(window_s=60, min_repeats=5)
    for second in range(4):
        watch.feed(f"2026-12-01 02:0{second} ERROR fetch failed after {second}.5 s\nplain output\n", second)
    assert watch.verdict(4) is None, "four is not yet many"
    watch.feed("2026-12-01 ERROR fetch fa", 4)
    watch.feed("iled after 9.9 s\n", 4)  # a line cut across two reads counts once
    found = watch.verdict(4)
    assert found is not None and found.count == 5 and "fetch failed after 9.9 s" in found.error
    assert watch.verdict(70) is None, "the window moved on: cleared"
    words = ("".join(chr(97 + int(d)) for d in str(i)) for i in range(1000))  # no digits: distinct
    watch.feed("".join(f"ValueError: distinct {w}\n" for w in words), 80)
    assert len(watch._seen) <= 200, "bounded however many distinct errors"


RETRIED_TB = """Traceback (most recent call last):
  File "/bots/poller.py", line 12, in <module>
    price()
  File "/venv/lib/python3.11/site-packages/watchdog_runtime/bot/retrying.py", line 181, in wrapper
    return self.call(fn, *args, **kwargs)
  File "/bots/poller.py", line 9, in price
    with urllib.request.urlopen(URL, timeout=5) as resp:
urllib.error.URLError: <urlopen error [Errno 111] Connection refused>
"""


@pytest.mark.parametrize("failure", [
    Failure.from_line(RETRIED_TB.splitlines()[-1], RETRIED_TB),
    Failure.from_record({"type": "URLError", "message": "<urlopen error [Errno 111] Connection refused>",
                         "mro": ["urllib.error.URLError", "builtins.OSError"], "retried": True}),
])
def test_the_diagnosis_never_advises_a_retry_already_there(failure: Failure) -> None:
    """Regression (issue 24): a call wrapped in wd.retry that failed every attempt was told to
    'wrap the call in wd.retry'."""
    found = diagnose(ExitReason.CRASH, 1, None, failure)
    assert found is not None and found.pattern is Pattern.NETWORK
    assert "wrap the call" not in found.hint and "every attempt of wd.retry" in found.hint
    fresh = diagnose(ExitReason.CRASH, 1, None, Failure.from_line(RETRIED_TB.splitlines()[-1]))
    assert fresh is not None and "wrap the call in wd.retry" in fresh.hint
