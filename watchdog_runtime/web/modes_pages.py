"""The trading mode from the browser (issue 27): ``POST /mode/{halt|reduce|resume}`` with a
form naming one bot (``bot=NAME``) or every bot (``all=yes``). Every check of a change applies
(same site, session, CSRF token, refused under ``--read-only``); "halt all" and "resume all"
ask for a confirmation first. The supervisor records each change as an event naming
``web ADDRESS`` as its source."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..common.home import BOT_NAME_RE
from .backend import Unavailable
from .pages import change_refused, client, page, state_of

MODES = {"halt": "halted", "reduce": "reducing", "resume": "active"}
"""The page's buttons and the mode each one sets."""


async def set_mode(request: Request) -> Response:
    """One button: a bot's mode, or (confirmed) every bot's."""
    refused, form = await change_refused(request)
    if refused is not None:
        return refused
    op = request.path_params["mode"]
    everyone = form.get("all") == "yes"
    name = form.get("bot", "")
    if op not in MODES or not (everyone or BOT_NAME_RE.fullmatch(name)):
        return Response("no such action: name a bot or all\n", 404, media_type="text/plain")
    if everyone and form.get("confirm") != "yes":
        return page(request, "confirm.html", {"name": "every bot", "op": op, "item": "",
                                              "target": f"/mode/{op}", "all": True})
    web = state_of(request)
    try:
        reply = await run_in_threadpool(web.backend.set_mode, None if everyone else [name],
                                        everyone, MODES[op], f"web {client(request)}")
    except Unavailable as exc:
        return page(request, "error.html", {"message": str(exc)}, status=502)
    if "application/json" in request.headers.get("accept", ""):
        said = ", ".join(f"{b['name']}: {b['mode']}" for b in reply) or f"every bot: {MODES[op]}"
        return JSONResponse({"ok": True, "message": said, "bots": reply})
    return RedirectResponse("/" if everyone else f"/bot/{name}", status_code=303)
