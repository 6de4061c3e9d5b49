"""What a start tells ``recover(ctx)`` (``WDBOT_CONTEXT``, JSON): written by the supervisor at
every start, read by ``recovery.Context.from_env`` inside the bot.

Apart from ``recovery`` so that the supervisor writes it without loading the recovery side
(``recovery``, ``store``, ``crashpoints``: about 0.1 MiB it held for life for this one
function, issue 29). Stdlib only, as the rest of the bot side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

CONTEXT_ENV = "WDBOT_CONTEXT"


def encode_context(reason: str, restarts: int, last_exit: Mapping[str, Any] | None,
                   downtime_s: float | None) -> str:
    """The supervisor's side of :meth:`recovery.Context.from_env`.

    >>> import json
    >>> json.loads(encode_context("crash", 2, {"code": 1, "extra": "x"}, 1.23456))["last_exit"]
    {'code': 1, 'signal': None, 'reason': None, 'error': None}
    """
    last = ({k: last_exit.get(k) for k in ("code", "signal", "reason", "error")}
            if last_exit else None)
    return json.dumps({"reason": reason, "restarts": restarts, "last_exit": last,
                       "downtime_s": None if downtime_s is None else round(downtime_s, 3)})
