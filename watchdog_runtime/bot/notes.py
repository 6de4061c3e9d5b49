"""``wd.notify()`` and ``wd.report()``: notes and figures from the bot to its supervisor.
Stdlib only, and neither ever raises into the bot.

Both ride the notify socket that ``wd.heartbeat()`` uses (``notify``), as one datagram
``wdbot1 RUN_ID note|figures JSON``: a note goes through the home's alert pipeline (the
supervisor de-duplicates and rate-limits it per bot), figures replace the bot's last ones,
shown by ``wdbot status NAME``, the web page and ``/metrics``. A datagram waits at most
``WAIT_S`` for room: when the supervisor is away the message is dropped (the next report
replaces it anyway).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Mapping

from .notify import PROTOCOL, SOCKET_ENV, _send_to

TYPE_CHECKING = False  # not typing's: this loads inside every bot that reports
if TYPE_CHECKING:
    from typing import TypeGuard

LEVELS = ("info", "warning", "error")
MAX_TEXT = 1000
"""A note longer than this is cut (an alert is for a phone, not a log)."""
MAX_FIGURES = 32
MAX_NAME = 40
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
"""A figure's name: a word (it becomes a Prometheus label value and a column)."""
MAX_MESSAGE_BYTES = 8192
"""The supervisor reads at most this much of a datagram; a note or a report always fits."""
BURST = 10
"""Notes sent at once before the bot's own limiter drops some (the supervisor's is stricter)."""
REFILL_PER_S = 1.0
WAIT_S = 0.2
"""How long a note or a report waits for room when the supervisor's queue is full (a few
datagrams queue on a unix socket, whatever its buffer): a bounded pause, never a stall."""

_bucket = [float(BURST), 0.0]  # tokens, monotonic time of the last refill
_warned: set[str] = set()
_recent: dict[str, float] = {}
REPEAT_S = 60.0


def notify(text: object, level: str = "info") -> bool:
    """Tell the people who run this bot something (a fill, a margin call), through the alert
    URLs of its home, ``wdbot events``, the web page and ``wdbot telegram``.

    The supervisor drops repeats of the same text and rate-limits each bot, so a loop cannot
    flood a phone; what it held back is counted in the next note. Returns whether the note
    left the bot (True outside wdbot, where it goes to stderr). Never raises.

    >>> notify("filled 0.1 BTC at 64000")  # outside wdbot: printed on stderr
    True
    """
    try:
        level = level if level in LEVELS else "info"
        body = str(text)[:MAX_TEXT]
        if not _address():
            print(f"wd.notify [{level}] {body}", file=sys.stderr)
            return True
        if _repeated(f"{level} {body}") or not _take_token():
            return False
        return _send("note", {"level": level, "text": body})
    except Exception:  # noqa: BLE001 - a note is never worth a crash of the bot
        return False


def report(**figures: object) -> bool:
    """Publish the bot's latest figures: numbers only, at most ``MAX_FIGURES`` names, each a
    word of at most ``MAX_NAME`` characters. Each call replaces the figures before it.

    ``wdbot status NAME`` shows them with their age; ``/metrics`` as
    ``wdbot_bot_figure{bot,name}``. What is not a finite number (or not a word) is left
    out, with one warning on stderr per name. Returns whether the report left the bot.
    Never raises.

    >>> report(balance=10000.0, equity=10012.5, open_positions=1, pnl_today=12.5)
    True
    """
    try:
        clean = _clean(figures)
        if not _address():
            return True
        return _send("figures", clean)
    except Exception:  # noqa: BLE001 - reporting is never worth a crash of the bot
        return False


def _clean(figures: dict[str, object]) -> dict[str, float]:
    clean: dict[str, float] = {}
    for name, value in figures.items():
        number = as_number(value)
        if number is not None and NAME_RE.fullmatch(name) and len(clean) < MAX_FIGURES:
            clean[name] = number  # an int stays an int in the JSON
        else:
            _warn_once(name, "not a finite number, not a word of at most 40 characters, or one "
                             f"too many (at most {MAX_FIGURES})")
    return clean


def as_number(value: object) -> int | float | None:
    """``value`` as a JSON number, or None: an int or float as it is, any other real number
    (a ``Decimal``, as money usually is; a ``Fraction``; a numpy number) as a float; never
    a bool, a complex, NaN or an infinity.

    >>> from decimal import Decimal
    >>> as_number(Decimal("10.5")), as_number(3), as_number(Decimal("NaN")), as_number(1j), as_number(False)
    (10.5, 3, None, None, None)
    """
    if not isinstance(value, (int, float)) and not isinstance(value, bool):
        import numbers

        if not isinstance(value, numbers.Number) or isinstance(value, numbers.Complex) \
                and not isinstance(value, numbers.Real):
            return None
        try:
            value = float(value)  # type: ignore[arg-type]  # a Number that is not complex
        except (TypeError, ValueError, ArithmeticError):
            return None
    return value if is_number(value) else None


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite int or float (not a bool, not an int too large for a float).

    >>> is_number(1.5), is_number(True), is_number(float("nan")), is_number(10**400), is_number("1")
    (True, False, False, False, False)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _warn_once(name: str, why: str) -> None:
    if name not in _warned and len(_warned) < 100:
        _warned.add(name)
        print(f"wd.report: figure {name[:MAX_NAME]!r} left out: {why}", file=sys.stderr)


def _repeated(key: str) -> bool:
    """The same note again within ``REPEAT_S``: dropped here (the supervisor would drop it
    too), so a loop repeating one line spends no datagram and no token."""
    import time

    now = time.monotonic()
    if now - _recent.get(key, float("-inf")) < REPEAT_S:
        return True
    if len(_recent) >= 100:
        _recent.clear()
    _recent[key] = now
    return False


def _take_token() -> bool:
    import time

    now = time.monotonic()
    tokens = min(float(BURST), _bucket[0] + (now - _bucket[1]) * REFILL_PER_S)
    _bucket[1] = now
    if tokens < 1.0:
        _bucket[0] = tokens
        return False
    _bucket[0] = tokens - 1.0
    return True


def _address() -> str | None:
    address = os.environ.get(SOCKET_ENV)
    return address if address and os.environ.get("WDBOT_RUN_ID") else None


def _send(kind: str, payload: Mapping[str, object]) -> bool:
    address, run_id = _address(), os.environ.get("WDBOT_RUN_ID")
    data = f"{PROTOCOL} {run_id} {kind} {json.dumps(payload, separators=(',', ':'))}".encode()
    if address is None or len(data) > MAX_MESSAGE_BYTES:
        return False
    _send_to(address, data, wait_s=WAIT_S)
    return True


def parse_payload(data: bytes) -> tuple[str, str, dict[str, object]] | None:
    """(run id, kind, payload) of a note or figures message, None for anything else (the
    supervisor's side).

    >>> parse_payload(b'wdbot1 0f3a note {"level":"info","text":"hi"}')
    ('0f3a', 'note', {'level': 'info', 'text': 'hi'})
    >>> parse_payload(b"wdbot1 0f3a heartbeat") is None
    True
    """
    parts = data.decode("utf-8", errors="replace").split(" ", 3)
    if len(parts) != 4 or parts[0] != PROTOCOL or parts[2] not in ("note", "figures"):
        return None
    try:
        payload = json.loads(parts[3])
    except (ValueError, RecursionError):  # RecursionError: '[[[[...' nested past the parser's depth
        return None
    return (parts[1], parts[2], payload) if isinstance(payload, dict) else None
