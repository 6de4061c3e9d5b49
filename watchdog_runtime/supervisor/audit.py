"""Who asked: control operations that carry an ``origin`` (``"web 203.0.113.7"``) leave an
``action`` event naming it, and the ``note`` operation records an action done beside the
supervisor (a secret set or removed by the web process, which writes the store itself as
``wdbot secret`` does). Requests without an origin (the CLI's) are unchanged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

from ..events import EventLog
from .request_error import RequestError

Handler = Callable[..., Awaitable[Any]]

ORIGIN_RE = re.compile(r"^[A-Za-z0-9_.:\[\] -]{1,100}$")
"""``web 127.0.0.1``, ``web [::1]``: printable, short, one line."""
AUDITED = frozenset({"start", "stop", "restart", "remove", "shutdown"})
NOTED = frozenset({"secret_set", "secret_removed"})
"""Actions the ``note`` operation records."""


def audited(ops: dict[str, Handler], events: EventLog) -> dict[str, Handler]:
    """``ops``, each also accepting ``origin=``; the changing ones record it in ``events``,
    with the outcome; plus the ``note`` operation."""
    wrapped = {op: _with_origin(op, handler, events) for op, handler in ops.items()}

    async def note(action: str, bot: str, origin: str, item: str | None = None) -> dict[str, Any]:
        """Record an action done beside the supervisor (never a secret's value)."""
        if action not in NOTED or not isinstance(bot, str) or not isinstance(item, (str, type(None))):
            raise RequestError(f"note: action must be one of {', '.join(sorted(NOTED))}", usage=True)
        events.write("action", bot[:64], op=action, item=(item or "")[:140] or None,
                     origin=_origin(origin), ok=True)
        return {"noted": action}

    wrapped["note"] = note
    return wrapped


def _origin(origin: object) -> str:
    if not isinstance(origin, str) or not ORIGIN_RE.fullmatch(origin):
        raise RequestError("origin must be a short one-line text, like 'web 127.0.0.1'", usage=True)
    return origin


def _with_origin(op: str, handler: Handler, events: EventLog) -> Handler:
    # The control server checks a request's arguments against the handler's, plus origin=
    # (``argcheck``: a wrapper's own keyword-only parameters, then what it wraps).
    @functools.wraps(handler)
    async def run(*args: Any, origin: str | None = None, **kwargs: Any) -> Any:
        if origin is None or op not in AUDITED:
            return await handler(*args, **kwargs)
        who = _origin(origin)
        try:
            result = await handler(*args, **kwargs)
        except Exception as exc:
            _record(events, op, kwargs, who, error=str(exc))
            raise
        _record(events, op, kwargs, who)
        return result

    return run


def _record(events: EventLog, op: str, args: dict[str, Any], origin: str, error: str | None = None) -> None:
    names = args.get("names") or ([args["name"]] if isinstance(args.get("name"), str) else [])
    spec = args.get("spec")
    if not names and isinstance(spec, dict) and isinstance(spec.get("name"), str):
        names = [spec["name"]]
    for bot in (names if isinstance(names, list) else []) or [None]:
        events.write("action", bot if isinstance(bot, str) else None, op=op,
                     all=bool(args.get("all")) or None, origin=origin, ok=error is None, error=error)
