"""``wd.connection(NAME)``: a bot's secrets for one connection, as a mapping. Stdlib only.

Under wdbot the values come from the supervisor (``wdbot secret set BOT NAME.FIELD``), read
fresh on every call, so a rotated key needs no restart: call it where you build the client,
not once at import. Outside wdbot, ``WDBOT_CONNECTION_<NAME>`` may hold the mapping as JSON
for local runs; without it the mapping is empty.
"""

from __future__ import annotations

import json
import os
from typing import Any

SOCKET_ENV = "WDBOT_SECRETS_SOCKET"
TIMEOUT_S = 10.0


class ConnectionUnavailable(Exception):
    """The supervisor could not hand out the secrets (not running, or refused).

    >>> import os
    >>> os.environ["WDBOT_SECRETS_SOCKET"] = "/nonexistent/secrets.sock"
    >>> try:
    ...     connection("binance")
    ... except ConnectionUnavailable:
    ...     print("not now: retry later")
    not now: retry later
    >>> del os.environ["WDBOT_SECRETS_SOCKET"]
    """


def connection(name: str) -> dict[str, str]:
    """The fields of connection ``name`` (``binance`` for ``binance.apiKey``, ...).

    >>> import os
    >>> os.environ.pop("WDBOT_SECRETS_SOCKET", None) and None
    >>> os.environ["WDBOT_CONNECTION_PAPER"] = '{"apiKey": "local-test-key"}'
    >>> connection("paper")["apiKey"]
    'local-test-key'
    >>> connection("nothing-here")
    {}
    >>> del os.environ["WDBOT_CONNECTION_PAPER"]
    """
    path = os.environ.get(SOCKET_ENV)
    if not path:
        raw = os.environ.get(f"WDBOT_CONNECTION_{name.upper().replace('-', '_')}")
        return {str(k): str(v) for k, v in json.loads(raw).items()} if raw else {}
    reply = _ask(path, {"connection": name})
    if not reply.get("ok"):
        raise ConnectionUnavailable(str(reply.get("error")))
    return {str(k): str(v) for k, v in reply.get("values", {}).items()}


def _ask(path: str, request: dict[str, Any]) -> dict[str, Any]:
    from .jsonline import exchange

    try:
        reply = exchange(path, request, TIMEOUT_S)
    except OSError as exc:
        raise ConnectionUnavailable(f"the wdbot supervisor did not answer ({exc}); try again") from None
    except ValueError:
        raise ConnectionUnavailable("the wdbot supervisor gave an unreadable answer") from None
    if not isinstance(reply, dict):
        raise ConnectionUnavailable("the wdbot supervisor gave an unreadable answer")
    return reply
