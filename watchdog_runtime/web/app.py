"""The Starlette application of ``wdbot web``: pages, actions and the login.

Every page needs a session; every change (POST) needs the session's CSRF token and must not
come from another site; ``--read-only`` serves the views only. Actions reach the supervisor
with ``origin="web ADDRESS"``, so each is an event naming where it came from.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..common.home import BOT_NAME_RE, Home
from . import auth, live, modes_pages, secrets_pages
from .backend import Unavailable
from .pages import (
    HERE,
    WebState,
    bot_context,
    change_refused,
    client,
    form_of,
    login_required,
    overview_context,
    page,
    state_of,
)
from .security import Guard, cross_site
from .settings import WebSettings

ACTIONS = ("start", "stop", "restart")


# ----------------------------------------------------------------- login
async def login_form(request: Request) -> Response:
    return page(request, "login.html", {"error": None})


async def login(request: Request) -> Response:
    web = state_of(request)
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if cross_site(request.headers, own):
        return Response("cross-site request refused\n", 403, media_type="text/plain")
    who = client(request)
    wait = web.limiter.retry_after(who)
    if wait > 0:
        return page(request, "login.html", {"error": f"too many attempts: try again in {wait:.0f} s"},
                    status=429)
    bad, form = await form_of(request)
    if bad is not None:
        return bad
    given = form.get("secret")
    secret = await run_in_threadpool(auth.load_secret, web.home.root, False)
    if not secret or not isinstance(given, str) or not auth.same(given.strip(), secret):
        web.limiter.fail(who)
        return page(request, "login.html", {"error": "wrong secret: see 'wdbot web --login-link'"},
                    status=403)
    web.limiter.succeed(who)
    web.sessions.end(request.cookies.get(web.cookie))  # never reuse a session id across logins
    sid = web.sessions.create(auth.fingerprint(secret))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(web.cookie, sid, max_age=int(auth.SESSION_TTL_S), path="/", httponly=True,
                        samesite="strict", secure=web.settings.secure_cookies)
    return response


async def logout(request: Request) -> Response:
    refused, _ = await change_refused(request, read_only_ok=True)
    if refused:
        return refused
    web = state_of(request)
    web.sessions.end(request.cookies.get(web.cookie))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(web.cookie, path="/", httponly=True, samesite="strict",
                           secure=web.settings.secure_cookies)
    return response


# ----------------------------------------------------------------- pages
async def overview(request: Request) -> Response:
    if (refused := login_required(request)) is not None:
        return refused
    web = state_of(request)
    context = await run_in_threadpool(overview_context, web.backend)
    return page(request, "overview.html", context)


async def bot(request: Request) -> Response:
    if (refused := login_required(request)) is not None:
        return refused
    web = state_of(request)
    name = request.path_params["name"]
    context = await run_in_threadpool(bot_context, web.backend, name) if BOT_NAME_RE.fullmatch(name) else None
    if context is None:
        return page(request, "error.html", {"message": f"no bot named {name!r}"}, status=404)
    context["log"] = await run_in_threadpool(web.backend.log_tail, name)
    context["settings"] = context["b"]["settings"]
    return page(request, "bot.html", context)


async def action(request: Request) -> Response:
    refused, form = await change_refused(request)
    if refused is not None:
        return refused
    web = state_of(request)
    name, op = request.path_params["name"], request.path_params["action"]
    if op not in ACTIONS or not BOT_NAME_RE.fullmatch(name):
        return Response("no such action\n", 404, media_type="text/plain")
    if form.get("confirm") != "yes":
        return page(request, "confirm.html", {"name": name, "op": op})
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        brief = await run_in_threadpool(web.backend.act, op, name, f"web {client(request)}")
    except Unavailable as exc:
        if wants_json:
            return JSONResponse({"ok": False, "message": str(exc)}, status_code=502)
        return page(request, "error.html", {"message": str(exc)}, status=502)
    message = f"{name}: {op} done, now {brief.get('state')}"
    if wants_json:
        return JSONResponse({"ok": True, "message": message, "state": brief.get("state")})
    return RedirectResponse(f"/bot/{name}", status_code=303)


def create_app(home: Home, settings: WebSettings, clock: Callable[[], float] = time.monotonic) -> Starlette:
    """The application for one home; ``clock`` drives sessions and the login limit."""
    routes = [
        Route("/", overview),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/bot/{name}", bot),
        Route("/bot/{name}/secrets", secrets_pages.secrets_page, methods=["GET"]),
        Route("/bot/{name}/secrets", secrets_pages.set_secret, methods=["POST"]),
        Route("/bot/{name}/secrets/remove", secrets_pages.remove_secret, methods=["POST"]),
        Route("/bot/{name}/{action}", action, methods=["POST"]),
        Route("/mode/{mode}", modes_pages.set_mode, methods=["POST"]),  # issue 27
        Route("/live/overview", live.overview_stream),
        Route("/live/bot/{name}", live.bot_stream),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, settings=settings)])
    app.state.web = WebState(home, settings, clock)
    return app
