"""``wd.connection(NAME)``: a bot's secrets for one connection, as a mapping. Stdlib only.

Under wdbot the values come from the supervisor (``wdbot secret set BOT NAME.FIELD``), read
fresh on every call, so a rotated key needs no restart: call it where you build the client,
not once at import. It is answered while the bot stops too (in ``on_shutdown``). Outside
wdbot, ``WDBOT_CONNECTION_<NAME>`` may hold the mapping as JSON for local runs; without it
the mapping is empty.
"""

from __future__ import annotations

import json
import os
import sys
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


class Connection(dict[str, str]):
    """The fields of one connection (a plain mapping of KEY to value). A field stored but not
    decryptable under wdbot is absent, and asking for it says why instead of a bare KeyError.

    >>> conn = Connection({"apiKey": "k"}, {"secret": "binance.secret cannot be decrypted"})
    >>> conn["apiKey"], conn.get("secret")
    ('k', None)
    >>> try:
    ...     conn["secret"]
    ... except ConnectionUnavailable as exc:
    ...     print(exc)
    binance.secret cannot be decrypted
    """

    def __init__(self, values: dict[str, str], unreadable: dict[str, str] | None = None) -> None:
        super().__init__(values)
        self.unreadable = dict(unreadable or {})

    def __missing__(self, key: str) -> str:
        if key in self.unreadable:
            raise ConnectionUnavailable(self.unreadable[key])
        raise KeyError(key)


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
    unreadable = {str(k): str(v) for k, v in (reply.get("unreadable") or {}).items()}
    for problem in unreadable.values():
        print(f"wdbot: {problem}", file=sys.stderr)  # names only, never a value
    return Connection({str(k): str(v) for k, v in reply.get("values", {}).items()}, unreadable)


def _ask(path: str, request: dict[str, Any]) -> dict[str, Any]:
    from ..common.jsonline import exchange

    try:
        reply = exchange(path, request, TIMEOUT_S)
    except OSError as exc:
        raise ConnectionUnavailable(f"the wdbot supervisor did not answer ({exc}); try again") from None
    except ValueError:
        raise ConnectionUnavailable("the wdbot supervisor gave an unreadable answer") from None
    if not isinstance(reply, dict):
        raise ConnectionUnavailable("the wdbot supervisor gave an unreadable answer")
    return reply
