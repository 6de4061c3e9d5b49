"""Why a bot died, in the seed's seven patterns, with the fix in one line. Pure.

Inputs are what the supervisor observed: the exit (reason, code, signal), the exception
(from the bootstrap's exit record: its qualified class names along the MRO, its message and
errno; or, for a bot without one, the last line of its final traceback), and the memory
readings (a SIGKILL with the tree's RSS near the machine's memory is probably the OOM
killer). Library errors are recognised by module and class name; nothing is imported.
"""

from __future__ import annotations

import errno as errnos
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..common.signums import SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM, signal_name
from ..installs.causes import needs_windows
from ..records import Diagnosis as Diagnosis  # kept in the registry, so they live in records
from ..records import Pattern as Pattern
from ..states import ExitReason
from .nativecrash import NATIVE_SIGNALS


@dataclass(frozen=True)
class Failure:
    """What is known of the exception a bot died of."""

    names: tuple[str, ...]
    """Qualified class names, most derived first: ``ccxt.base.errors.RateLimitExceeded``, ..."""
    message: str
    errno: int | None = None
    retried: bool = False
    """It came out of ``wd.retry`` (a frame of ``retrying`` in its traceback): retried already."""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Failure | None:
        if not record.get("type"):
            return None
        names = tuple(str(n) for n in record.get("mro") or ()) or (str(record["type"]),)
        code = record.get("errno")
        return cls(names, str(record.get("message") or ""), code if isinstance(code, int) else None,
                   record.get("retried") is True)

    @classmethod
    def from_line(cls, exc_line: str, traceback: str = "") -> Failure:
        """From a traceback's last line: ``requests.exceptions.ReadTimeout: HTTPSConnection...``;
        ``traceback``, its text, tells whether the call went through ``wd.retry``."""
        name, _, message = exc_line.partition(": ")
        found = re.match(r"\[Errno (\d+)\]", message)
        return cls((name.strip(),), message.strip(), int(found.group(1)) if found else None,
                   went_through_retry(traceback))

    def is_a(self, table: Mapping[str, frozenset[str]]) -> bool:
        """Whether a class along the MRO is one of ``table``'s (top-level module → names).

        Builtins are listed under ``builtins``; a bare name (from a traceback line) counts
        as a builtin.
        """
        for qualified in self.names:
            module, _, name = qualified.rpartition(".")
            if name in table.get(module.partition(".")[0] or "builtins", frozenset()):
                return True
        return False


_RETRY_FRAME = re.compile(r'^\s*File ".*[/\\]watchdog_runtime[/\\]bot[/\\]retrying\.py", line \d+',
                          re.MULTILINE)
_TB_HEADER = "Traceback (most recent call last):"


def went_through_retry(traceback: str) -> bool:
    """Whether the last traceback in ``traceback`` has a frame of ``wd.retry``: the failure
    is what was left after its attempts.

    >>> went_through_retry('Traceback (most recent call last):\\n  File "/v/site-packages/'
    ...     'watchdog_runtime/bot/retrying.py", line 190, in call\\nTimeoutError: timed out')
    True
    """
    return bool(_RETRY_FRAME.search(traceback[traceback.rfind(_TB_HEADER) + 1:]))


def _t(**modules: str) -> dict[str, frozenset[str]]:
    return {module: frozenset(names.split()) for module, names in modules.items()}


CREDENTIAL_ERRORS = _t(ccxt="AuthenticationError PermissionDenied AccountSuspended AccountNotEnabled")
RATE_LIMIT_ERRORS = _t(ccxt="RateLimitExceeded DDoSProtection")
NETWORK_ERRORS = _t(
    ccxt="NetworkError RequestTimeout ExchangeNotAvailable OnMaintenance InvalidNonce",
    requests="ConnectionError Timeout ReadTimeout ConnectTimeout ChunkedEncodingError",
    urllib3="ProtocolError NewConnectionError MaxRetryError ReadTimeoutError",
    httpx="TimeoutException NetworkError RemoteProtocolError ConnectError ReadTimeout",
    aiohttp="ClientConnectionError ClientConnectorError ServerDisconnectedError ServerTimeoutError "
            "ClientPayloadError ClientOSError",
    websockets="ConnectionClosed ConnectionClosedError InvalidStatus",
    websocket="WebSocketConnectionClosedException WebSocketTimeoutException",
    builtins="ConnectionError ConnectionResetError ConnectionRefusedError ConnectionAbortedError "
             "BrokenPipeError TimeoutError gaierror",
    socket="gaierror timeout",
    ssl="SSLEOFError SSLZeroReturnError",
    urllib="URLError",
    http="RemoteDisconnected IncompleteRead",
)
# A failed name lookup, in whatever exception carries it (gaierror, URLError, requests' own).
_DNS = re.compile(r"Name or service not known|Temporary failure in name resolution|"
                  r"nodename nor servname|getaddrinfo failed|No address associated with hostname",
                  re.IGNORECASE)
PAYLOAD_ERRORS = _t(
    ccxt="BadResponse NullResponse",
    builtins="KeyError IndexError JSONDecodeError InvalidOperation",
    json="JSONDecodeError", decimal="InvalidOperation",
)
_TYPE_ERROR_PAYLOAD = re.compile(
    r"NoneType|string indices must be integers|not subscriptable|unsupported operand type")
_VALUE_ERROR_PAYLOAD = re.compile(r"could not convert string to float|invalid literal for int")
_STATUS = [
    re.compile(r"\b([45]\d\d) (?:Client|Server) Error"),                 # requests
    re.compile(r"^([45]\d\d), message="),                                 # aiohttp
    re.compile(r"(?:HTTP Error|status(?:[ _]code)?[:= ]+|error ')\s*([45]\d\d)\b", re.IGNORECASE),
]
_BAD_KEY = re.compile(r"invalid api[- ]?key|api[- ]?key format invalid|signature for this request|"
                      r"invalid signature|-2014|-2015|unauthori[sz]ed", re.IGNORECASE)
OOM_SHARE = 0.8
"""A SIGKILL with the tree's RSS above this share of the machine's memory reads as the OOM killer."""

_HINT = {
    "dependency": "declare it (PEP 723 block or requirements.txt) or let auto-install add it",
    "network": "wrap the call in wd.retry (it retries timeouts and dropped connections with backoff)",
    "retried": "it failed through every attempt of wd.retry: the outage outlasted them; give it more "
               "(attempts, max_delay_s), or catch the error in the bot's loop and try on the next pass",
    "rate_limit": "use wd.RateLimiter and honour Retry-After (wd.retry(limiter=...) does)",
    "credentials": "check the API key, its permissions and IP whitelist; wdbot restarts it slowly "
                   "(a bad key hammered at an exchange risks a lockout)",
    "payload": "read fields with wd.num/wd.get and handle None: the exchange's answer changed shape",
    "memory": "find what grows (the RSS trend in 'wdbot status'), or raise --max-memory",
}


def diagnose(reason: ExitReason, code: int | None, sig: int | None, exc: Failure | None,
             rss_bytes: int | None = None, machine_memory_bytes: int | None = None,
             slept_s: float | None = None, native_module: str | None = None,
             oom_killed: bool | None = None, bot: str | None = None) -> Diagnosis | None:
    """The pattern of one abnormal exit; None for a clean exit or a stop. ``oom_killed``:
    what the bot's cgroup counted (``memory.events``), when it has the memory controller;
    None where the kernel does not say, and the OOM killer is only guessed.

    >>> d = diagnose(ExitReason.CRASH, 1, None, Failure.from_line(
    ...     "requests.exceptions.HTTPError: 429 Client Error: Too Many Requests for url: https://x"))
    >>> d.pattern.value, d.hint
    ('rate_limit', 'use wd.RateLimiter and honour Retry-After (wd.retry(limiter=...) does)')
    """
    found = _diagnose_exit(reason, code, sig, exc, rss_bytes, machine_memory_bytes, slept_s,
                           native_module, oom_killed)
    return found.named(bot) if found and bot else found


def _diagnose_exit(reason: ExitReason, code: int | None, sig: int | None, exc: Failure | None,
                   rss_bytes: int | None, machine_memory_bytes: int | None, slept_s: float | None,
                   native_module: str | None, oom_killed: bool | None) -> Diagnosis | None:
    if reason in (ExitReason.CLEAN_EXIT, ExitReason.STOPPED, ExitReason.RELOAD):
        return None
    if sig == SIGKILL and oom_killed and _planned(reason) is None:
        return Diagnosis(Pattern.MEMORY, "killed by the kernel's OOM killer (its cgroup's memory.events)",
                         _HINT["memory"])
    found = _diagnose(reason, code, sig, exc, rss_bytes, machine_memory_bytes, native_module)
    if sig == SIGKILL and oom_killed is False and found.pattern is Pattern.MEMORY and exc is None:
        found = Diagnosis(Pattern.SYSTEM, f"{found.seen}, not the OOM killer (its cgroup counted none)",
                          "a container limit or a person: see 'dmesg' and the RSS trend")
    if slept_s is not None and found.pattern in (Pattern.NETWORK, Pattern.UNKNOWN):
        # Connections do not survive a laptop lid: the sleep is the cause, the error its echo.
        return Diagnosis(Pattern.SYSTEM, f"{found.seen}, right after the machine slept "
                         f"{slept_s / 60:.0f} min", "the machine slept: keep it awake, or run the "
                         "bots on a server with wdbot as a service")
    return found


def _diagnose(reason: ExitReason, code: int | None, sig: int | None, exc: Failure | None,
              rss_bytes: int | None, machine_memory_bytes: int | None,
              native_module: str | None = None) -> Diagnosis:
    planned = _planned(reason)
    if planned is not None:
        return planned
    if exc is not None:
        return _from_exception(exc)
    if sig == SIGKILL:
        if rss_bytes and machine_memory_bytes and rss_bytes >= OOM_SHARE * machine_memory_bytes:
            return Diagnosis(Pattern.MEMORY, f"SIGKILL at {_mib(rss_bytes)} of {_mib(machine_memory_bytes)}",
                             "probably the OOM killer: " + _HINT["memory"])
        return Diagnosis(Pattern.SYSTEM, "SIGKILL from outside wdbot",
                         "the OOM killer, a container limit or a person: see 'dmesg' and the RSS trend")
    if sig is not None:
        name = signal_name(sig) or str(sig)
        if sig in NATIVE_SIGNALS:
            return _native(name, native_module)
        if sig in _OUTSIDE:
            return Diagnosis(Pattern.SYSTEM, f"killed by {name} from outside wdbot",
                             "something else signals the bot: a shell that closed (SIGHUP), a person, "
                             "a service manager; run wdbot as a service")
        return Diagnosis(Pattern.SYSTEM, f"died of {name}",
                         "see its stderr ('wdbot status NAME') for what raised it")
    return Diagnosis(Pattern.UNKNOWN, f"exit {code}" if code is not None else "exit status unknown",
                     "see its stderr: wdbot logs NAME --stderr")


_OUTSIDE = frozenset({SIGHUP, SIGTERM, SIGINT, SIGQUIT})
"""Signals that come from outside the bot (wdbot's own stops are planned exits, not these)."""


def _native(name: str, module: str | None) -> Diagnosis:
    """A crash in native code: the bot's own, not something outside it."""
    if module:
        return Diagnosis(Pattern.SYSTEM, f"{name} inside {module} (a C extension)",
                         f"{module} crashed in its native code: update it, or pin the version that "
                         f"worked in the bot's dependencies; its stack is in 'wdbot status NAME'")
    return Diagnosis(Pattern.SYSTEM, f"{name}: a crash in native code",
                     "a C extension crashed: every thread's stack is in its stderr "
                     "('wdbot status NAME'); update or pin the package at its top")


def _planned(reason: ExitReason) -> Diagnosis | None:
    if reason is ExitReason.MISSING_MODULE:
        return Diagnosis(Pattern.DEPENDENCY, "a module is missing", _HINT["dependency"])
    if reason is ExitReason.MEMORY_LIMIT:
        return Diagnosis(Pattern.MEMORY, "over its --max-memory", _HINT["memory"])
    if reason is ExitReason.FD_LIMIT:
        return Diagnosis(Pattern.SYSTEM, "over its --max-fds",
                         "close what it opens (with-blocks), reuse one HTTP session per exchange")
    if reason is ExitReason.HANG:
        return Diagnosis(Pattern.SYSTEM, "no heartbeat (hung)",
                         "a call blocked without a timeout: set one on every network call; "
                         "its threads' stacks are in its stderr")
    if reason is ExitReason.SYNTAX_ERROR:
        return Diagnosis(Pattern.UNKNOWN, "a syntax error in its code", "fix it and start it again")
    return None


def _from_exception(exc: Failure) -> Diagnosis:
    kind = exc.names[0].rpartition(".")[2] if exc.names else "?"
    seen = f"{kind}: {exc.message}"[:200] if exc.message else kind
    status = _status(exc.message)
    windows = _windows_only(kind, exc.message)
    if windows is not None:  # no install helps: say so, not "declare it" (issue 26)
        return Diagnosis(Pattern.DEPENDENCY, seen, windows)
    if kind in ("ModuleNotFoundError", "ImportError"):
        return Diagnosis(Pattern.DEPENDENCY, seen, _HINT["dependency"] if kind == "ModuleNotFoundError"
                         else "a package version does not match the code: pin a compatible version in "
                         "the bot's requirements.txt or '# /// script' block (a pin there replaces "
                         "what auto-install chose), then 'wdbot restart NAME'")
    if exc.is_a(CREDENTIAL_ERRORS) or status in (401, 403) or _BAD_KEY.search(exc.message):
        return Diagnosis(Pattern.CREDENTIALS, seen, _HINT["credentials"])
    if status == 418:
        return Diagnosis(Pattern.RATE_LIMIT, seen, "the exchange banned this IP for ignoring 429s: "
                         + _HINT["rate_limit"])
    if exc.is_a(RATE_LIMIT_ERRORS) or status == 429:
        return Diagnosis(Pattern.RATE_LIMIT, seen, _HINT["rate_limit"])
    if kind == "MemoryError":
        return Diagnosis(Pattern.MEMORY, seen, _HINT["memory"])
    if exc.errno == errnos.EMFILE or "Too many open files" in exc.message:
        return Diagnosis(Pattern.SYSTEM, seen, "out of file descriptors: close sockets and files, "
                         "reuse one session; --max-fds restarts before this")
    if exc.errno == errnos.ENOSPC or "No space left on device" in exc.message:
        return Diagnosis(Pattern.SYSTEM, seen, "the disk is full: free space (wdbot rotates its logs)")
    network = _HINT["retried" if exc.retried else "network"]  # never a wd.retry already there
    if _DNS.search(exc.message):
        return Diagnosis(Pattern.NETWORK, seen, "a host name did not resolve (DNS): check the "
                         "machine's network and the host name; " + network)
    if exc.is_a(NETWORK_ERRORS) or (status is not None and status >= 500):
        return Diagnosis(Pattern.NETWORK, seen, network)
    if (exc.is_a(PAYLOAD_ERRORS) or (kind == "TypeError" and _TYPE_ERROR_PAYLOAD.search(exc.message))
            or (kind == "ValueError" and _VALUE_ERROR_PAYLOAD.search(exc.message))):
        return Diagnosis(Pattern.PAYLOAD, seen, _HINT["payload"])
    return Diagnosis(Pattern.UNKNOWN, seen, "see the traceback: wdbot logs NAME --stderr")


_NO_MODULE = re.compile(r"No module named '([A-Za-z_][\w]*)")


def _windows_only(kind: str, message: str) -> str | None:
    """The hint for a module that exists only on Windows (``winsound``, ``MetaTrader5``).

    >>> _windows_only("ModuleNotFoundError", "No module named 'winsound'")[:27]
    "'winsound' needs Windows: i"
    """
    found = _NO_MODULE.match(message) if kind == "ModuleNotFoundError" else None
    return needs_windows(found.group(1)) if found else None


def _status(message: str) -> int | None:
    for pattern in _STATUS:
        found = pattern.search(message)
        if found:
            return int(found.group(1))
    return None


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MiB"


def failure_of(record: Mapping[str, Any] | None, exc_line: str | None,
               traceback: str = "") -> Failure | None:
    """The exception from the exit record, else from the final traceback's last line (and
    its text ``traceback``)."""
    from_record = Failure.from_record(record) if record else None
    if from_record is not None:
        return from_record
    return Failure.from_line(exc_line, traceback) if exc_line else None


_ALLOW_ADVICE = re.compile(r"run 'wdbot allow ([\w.]+)=DIST'")


def after_allow(hint: str, bot: str, pairs: Mapping[str, str]) -> str:
    """A refused install's hint once the operator allowed its module: the advice to run
    'wdbot allow' is stale then, and the next step is the restart (issue 24).

    >>> after_allow("run 'wdbot allow yaml=DIST' (…), then 'wdbot restart b'", "b", {"yaml": "PyYAML"})
    "'yaml' is allowed now (as PyYAML): 'wdbot restart b' installs it"
    >>> after_allow("fix it", "b", {"yaml": "PyYAML"})
    'fix it'
    """
    found = _ALLOW_ADVICE.search(hint)
    if found is None or found.group(1) not in pairs:
        return hint
    module = found.group(1)
    return f"{module!r} is allowed now (as {pairs[module]}): 'wdbot restart {bot}' installs it"
