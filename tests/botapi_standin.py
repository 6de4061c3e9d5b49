"""A local stand-in of the Telegram Bot API, for ``wdbot telegram``'s end-to-end tests with
the real python-telegram-bot (``base_url`` points here; no network). It implements what the
library calls, as the library calls it (form-encoded POSTs to ``/bot<TOKEN>/<method>``,
``{"ok": ..., "result": ...}`` replies): getMe, deleteWebhook, getUpdates (long poll, offsets
confirming what was read), sendMessage, answerCallbackQuery, editMessageText. A test plays
the people (``say``, ``press``), reads what the bot sent, refuses a token, or drops the next
connections without an answer (a network that goes away)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "wdbot", "username": "wd_test_bot"}
JSON_FIELDS = frozenset({"reply_markup", "allowed_updates"})
INT_FIELDS = frozenset({"chat_id", "offset", "timeout", "limit", "message_id"})
MAX_POLL_S = 5.0


class StandIn:
    """The Bot API's state: pending updates, messages sent, calls made (thread-safe)."""

    def __init__(self, tokens: set[str]) -> None:
        self.tokens = set(tokens)
        """Tokens it accepts; any other gets 401 Unauthorized (a revoked token)."""
        self.drop = 0
        """The next N requests are cut without an answer."""
        self.cond = threading.Condition()
        self.updates: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refused: list[str] = []
        """Methods called with a token it does not accept."""
        self._next_update = 1
        self._next_message = 100
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bot"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------ the people
    def say(self, chat: int, text: str) -> None:
        """A person in ``chat`` sends ``text``."""
        message = {"message_id": self._message_id(), "date": int(time.time()),
                   "chat": {"id": chat, "type": "private"}, "text": text,
                   "from": {"id": chat, "is_bot": False, "first_name": "trader"}}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        self._push({"message": message})

    def press(self, chat: int, sent: dict[str, Any], data: str) -> str:
        """A person in ``chat`` presses the button ``data`` under message ``sent``; the
        callback query's id."""
        with self.cond:
            query_id = f"q{self._next_update}"
        message = {**sent["message"], "chat": {"id": chat, "type": "private"}}
        person = {"id": chat, "is_bot": False, "first_name": "trader"}
        self._push({"callback_query": {"id": query_id, "chat_instance": "ci", "data": data,
                                       "message": message, "from": person}})
        return query_id

    # ------------------------------------------------------------ what the bot did
    def to(self, chat: int) -> list[dict[str, Any]]:
        """Messages sent to ``chat`` (edits applied), oldest first."""
        with self.cond:
            return [m for m in self.sent if m["chat_id"] == chat]

    def called(self, method: str) -> list[dict[str, Any]]:
        with self.cond:
            return [params for name, params in self.calls if name == method]

    def wait_for(self, check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                value = check()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; "
                                         f"calls: {[c[0] for c in self.calls][-20:]}")
                self.cond.wait(min(left, 0.5))

    # ------------------------------------------------------------ internals
    def _message_id(self) -> int:
        with self.cond:
            self._next_message += 1
            return self._next_message

    def _push(self, update: dict[str, Any]) -> None:
        with self.cond:
            self.updates.append({"update_id": self._next_update, **update})
            self._next_update += 1
            self.cond.notify_all()

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        """(HTTP status, the reply's ``result`` or error description) for one call."""
        with self.cond:
            self.calls.append((method, params))
            self.cond.notify_all()
        if method == "getUpdates":
            return 200, self._get_updates(params)
        with self.cond:
            return self._call(method, params)

    def _call(self, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        if method == "getMe":
            return 200, BOT_USER
        if method in ("deleteWebhook", "answerCallbackQuery"):
            return 200, True
        if method == "sendMessage":
            sent = {"chat_id": params["chat_id"], "text": params["text"],
                    "reply_markup": params.get("reply_markup"), "message": self._bot_message(params)}
            self.sent.append(sent)
            return 200, sent["message"]
        if method == "editMessageText":
            for sent in self.sent:
                if sent["message"]["message_id"] == params.get("message_id"):
                    sent.update(text=params["text"], reply_markup=params.get("reply_markup"), edited=True)
                    return 200, sent["message"]
            return 400, "Bad Request: message to edit not found"
        return 404, "Not Found: method not found"

    def _bot_message(self, params: dict[str, Any]) -> dict[str, Any]:
        self._next_message += 1
        message = {"message_id": self._next_message, "date": int(time.time()), "from": BOT_USER,
                   "chat": {"id": params["chat_id"], "type": "private"}, "text": params["text"]}
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), MAX_POLL_S)
        with self.cond:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]  # confirmed: gone
            while not self.updates and time.monotonic() < deadline:
                self.cond.wait(max(0.0, deadline - time.monotonic()))
            return list(self.updates)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with standin.cond:
                    cut = standin.drop > 0
                    standin.drop -= 1 if cut else 0
                if cut:  # the network goes away: no answer at all
                    self.close_connection = True
                    self.connection.close()
                    return
                _, _, rest = self.path.partition("/bot")
                token, _, method = rest.partition("/")
                if token not in standin.tokens:
                    with standin.cond:
                        standin.refused.append(method)
                        standin.cond.notify_all()
                    return self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                status, result = standin.answer(method, _params(self.headers.get("Content-Type", ""), body))
                if status == 200:
                    return self._reply(200, {"ok": True, "result": result})
                self._reply(status, {"ok": False, "error_code": status, "description": result})

            def _reply(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a poll given up
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _params(content_type: str, body: bytes) -> dict[str, Any]:
    """The call's parameters: the library posts them form-encoded, JSON-encoding the
    structured ones (``reply_markup``) and leaving strings as they are."""
    if content_type.startswith("application/json"):
        parsed: dict[str, Any] = json.loads(body or b"{}")
        return parsed
    params: dict[str, Any] = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    for key in JSON_FIELDS & params.keys():
        params[key] = json.loads(params[key])
    for key in INT_FIELDS & params.keys():
        params[key] = int(params[key])
    return params
