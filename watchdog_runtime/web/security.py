"""Headers and checks every response or request gets: a strict Content-Security-Policy (no
inline script, nothing from elsewhere), no framing, no sniffing, no caching of pages; the
Host check that defeats DNS rebinding on loopback; and the same-origin check on changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .settings import WebSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_BODY_BYTES = 64 * 1024
"""The largest request body (a form with a secret's value); larger ones get 413, whatever
their framing (a ``Content-Length``, or chunks that announce no length), before the app
parses a byte of them."""


def headers(settings: WebSettings) -> list[tuple[bytes, bytes]]:
    out = [
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        # Not no-referrer: with it Chrome sends "Origin: null" on our own forms.
        (b"referrer-policy", b"same-origin"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if settings.secure_cookies:
        out.append((b"strict-transport-security", b"max-age=31536000"))
    return out


def host_of(value: str) -> str:
    """The host part of a ``Host`` header: ``[::1]:8377`` → ``::1``, ``a:80`` → ``a``.

    >>> host_of("[::1]:8377"), host_of("127.0.0.1:8377"), host_of("localhost")
    ('::1', '127.0.0.1', 'localhost')
    """
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


class Guard:
    """ASGI middleware: refuses a foreign ``Host`` when serving on loopback (a page of
    another site whose name was rebound to 127.0.0.1 gets 421), reads the body whole (up to
    :data:`MAX_BODY_BYTES`, 413 past it) before the app sees it, adds the headers above."""

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        self.app = app
        self.settings = settings
        self.extra = headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = dict(scope.get("headers") or [])
        host = request_headers.get(b"host", b"").decode("latin-1")
        if self.settings.loopback and host_of(host) not in LOOPBACK_NAMES:
            await _plain(send, 421, "this page answers only to its loopback address\n")
            return
        length = request_headers.get(b"content-length", b"0")
        body = None if not length.isdigit() or int(length) > MAX_BODY_BYTES else await read_body(receive)
        if body is None:
            await _plain(send, 413, f"request body over {MAX_BODY_BYTES} bytes\n", close=True)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.extra]
            await send(message)

        await self.app(scope, replay(body, receive), send_with_headers)


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> Message | None:
    """The request's body as one message, read before any parsing (a chunked body gives no
    length to check first: its bytes are counted as they come); None past ``limit``. A
    disconnect is handed on as it came."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def replay(first: Message, receive: Receive) -> Receive:
    """A ``receive`` that gives ``first`` (the body read whole), then what comes next (a
    disconnect, which live streams wait for)."""
    pending = [first]

    async def again() -> Message:
        return pending.pop() if pending else await receive()

    return again


async def _plain(send: Send, status: int, text: str, close: bool = False) -> None:
    """A plain-text answer; ``close`` ends the connection after it (uvicorn would otherwise
    read, and drop, a refused body for as long as the client sends one)."""
    extra = [(b"connection", b"close")] if close else []
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), *extra]})
    await send({"type": "http.response.body", "body": text.encode()})


def cross_site(request_headers: Any, own_origin: str) -> bool:
    """A change requested from another site: its ``Origin`` (or the browser's
    ``Sec-Fetch-Site``) says so. Requests with neither (curl, old browsers) are judged by the
    session cookie and the CSRF token alone.

    >>> cross_site({"origin": "https://evil.example"}, "http://127.0.0.1:8377")
    True
    >>> cross_site({"origin": "http://127.0.0.1:8377", "sec-fetch-site": "same-origin"}, "http://127.0.0.1:8377")
    False
    """
    origin = request_headers.get("origin")
    if origin is not None and origin != own_origin:
        return True
    return request_headers.get("sec-fetch-site") not in (None, "same-origin", "none")
