"""Server-sent events: the live parts of the overview and of a bot page.

Each stream asks the supervisor for a snapshot every ``refresh_s`` (as ``status --watch``
does), renders the same fragment template the page was drawn with, and sends it as one
event; a bot's stream also follows its log files (``logfiles.Tail``: across rotation) and sends
new lines as JSON. A stream ends when its session does (logout, a new secret), the server stops,
or the browser goes away; ``?n=K`` ends it after K snapshots (tests, the benchmark).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..common.home import BOT_NAME_RE
from ..common.logfiles import Tail
from .backend import Backend
from .pages import WebState, bot_context, overview_context, state_of, templates

MAX_LOG_LINES_PER_EVENT = 200
"""A bot writing faster than this per tick shows its latest lines only: the page keeps up."""


LINE_END = re.compile(r"\r\n|\r|\n")
"""What ends a line of an event stream (WHATWG: a bare CR too). A bot's error text quoted in a
fragment may hold any of them: each must start a new ``data:`` line, or the rest of the text
(``\\revent: bot``) becomes a field of the stream and the page stops updating."""


def sse(event: str, data: str) -> bytes:
    """One server-sent event; every line of ``data`` becomes a ``data:`` line (the browser
    joins them with ``\\n``: a CR in the text arrives as a line feed, as HTML reads it anyway).

    >>> sse("x", "a\\nb\\rc\\r\\nd")
    b'event: x\\ndata: a\\ndata: b\\ndata: c\\ndata: d\\n\\n'
    """
    lines = "".join(f"data: {line}\n" for line in LINE_END.split(data))
    return f"event: {event}\n{lines}\n".encode()


def _limit(request: Request) -> int | None:
    n = request.query_params.get("n", "")
    return min(int(n), 10000) if n.isdigit() else None


def _stream(body: AsyncIterator[bytes]) -> Response:
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def _render(name: str, context: dict[str, Any]) -> str:
    return templates.get_template(name).render(context)


async def overview_stream(request: Request) -> Response:
    web = state_of(request)
    if web.session(request) is None:
        return Response("log in first\n", 401, media_type="text/plain")

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        while web.streaming(request):
            context = await run_in_threadpool(overview_context, web.backend)
            yield sse("overview", _render("_overview.html", {**context, "read_only": web.settings.read_only}))
            sent += 1
            if sent == _limit(request):
                return
            await asyncio.sleep(web.settings.refresh_s)

    return _stream(body())


async def bot_stream(request: Request) -> Response:
    web = state_of(request)
    name = request.path_params["name"]
    if web.session(request) is None:
        return Response("log in first\n", 401, media_type="text/plain")
    if not BOT_NAME_RE.fullmatch(name):
        return Response("no such bot\n", 404, media_type="text/plain")
    return _stream(_bot_events(request, web, name))


async def _bot_events(request: Request, web: WebState, name: str) -> AsyncIterator[bytes]:
    files = web.backend.log_files(name)
    # From the end (the reset has the rest); a burst skipped to its newest part: the page
    # shows the newest lines only, and a step-by-step read would lag behind a flood.
    tails = {label: Tail(path, skip=True) for label, path in files}
    try:
        lines = await run_in_threadpool(web.backend.log_tail, name)
        yield sse("logreset", json.dumps(lines))
        sent = 0
        while web.streaming(request):
            context = await run_in_threadpool(bot_context, web.backend, name)
            if context is not None:
                yield sse("bot", _render("_bot.html", {**context, "read_only": web.settings.read_only}))
            new = await run_in_threadpool(_poll, tails, web.backend)
            if new:
                yield sse("log", json.dumps(new[-MAX_LOG_LINES_PER_EVENT:]))
            sent += 1
            if sent == _limit(request):
                return
            await asyncio.sleep(web.settings.refresh_s)
    finally:
        for tail in tails.values():
            tail.close()


def _poll(tails: dict[str, Tail], backend: Backend) -> list[str]:
    """New complete lines of stdout, then stderr's marked ``! ``, as a page shows them."""
    return backend.shown([("! " if label == "stderr" else "") + line for label, tail in tails.items()
                          for line in tail.poll()])
