"""The Starlette application of ``wdbot web``: pages, actions and the login.

Every page needs a session; every change (POST) needs the session's CSRF token and must not
come from another site; ``--read-only`` serves the views only. Actions reach the supervisor
with ``origin="web ADDRESS"``, so each is an event naming where it came from.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..common.home import BOT_NAME_RE, Home
from . import auth, views
from .backend import Backend, Unavailable
from .security import Guard, cross_site
from .settings import WebSettings

HERE = Path(__file__).parent
ACTIONS = ("start", "stop", "restart")


@dataclass
class WebState:
    """What the routes share: the home, the settings, sessions and the login limiter."""

    home: Home
    settings: WebSettings
    clock: Callable[[], float] = time.monotonic
    sessions: auth.Sessions = field(init=False)
    limiter: auth.LoginLimiter = field(init=False)
    backend: Backend = field(init=False)
    stopping: bool = False
    """Set when the server is asked to exit: live streams end at their next tick (a plain
    flag: it is set from a signal handler)."""

    def __post_init__(self) -> None:
        self.sessions = auth.Sessions(self.clock)
        self.limiter = auth.LoginLimiter(self.clock)
        self.backend = Backend(self.home)

    @property
    def cookie(self) -> str:
        # __Host-: the browser keeps it only when Secure, for this host alone, path /.
        return "__Host-wdbot" if self.settings.secure_cookies else "wdbot_session"

    def secret_fp(self) -> str:
        return auth.fingerprint(auth.load_secret(self.home.root, create=False))

    def session(self, request: Request) -> auth.Session | None:
        return self.sessions.get(request.cookies.get(self.cookie), self.secret_fp())

    def streaming(self, request: Request) -> bool:
        """A live stream goes on: the server runs and the session lives."""
        return not self.stopping and self.session(request) is not None


templates = Jinja2Templates(directory=str(HERE / "templates"))


def state_of(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def client(request: Request) -> str:
    """The remote address (from the proxy's X-Forwarded-For under --behind-proxy), reduced
    to the characters an address has: it goes into events and the login limiter's keys."""
    host = request.client.host if request.client else "unknown"
    return re.sub(r"[^A-Za-z0-9.:\[\]_-]", "?", host)[:64] or "unknown"


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    web = state_of(request)
    session = web.session(request)
    base = {"read_only": web.settings.read_only, "csrf": session.csrf if session else "",
            "logged_in": session is not None}
    response = templates.TemplateResponse(request, name, {**base, **context}, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


def login_required(request: Request) -> Response | None:
    """A redirect to the login page (a page) or 401 (anything else) without a session."""
    if state_of(request).session(request) is not None:
        return None
    if request.method == "GET" and "text/html" in request.headers.get("accept", "text/html"):
        return RedirectResponse("/login", status_code=303)
    return Response("log in first\n", status_code=401, media_type="text/plain")


MAX_FIELDS = 20
"""More fields than any of our forms has (a secret set: csrf, item, value)."""


async def form_of(request: Request) -> tuple[Response | None, dict[str, str]]:
    """The request's form (its body already bounded by the ``Guard``), or a 400: no form here
    takes a file, so a file part is refused before a byte of it is kept (never spooled to a
    temporary file)."""
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    except HTTPException as exc:  # python-multipart's refusal, as Starlette raises it
        return Response(f"bad form: {exc.detail} (no form here takes a file)\n", 400,
                        media_type="text/plain"), {}
    return None, {k: v for k, v in form.items() if isinstance(v, str)}


async def change_refused(request: Request,
                         read_only_ok: bool = False) -> tuple[Response | None, dict[str, str]]:
    """Checks on every POST: same site, a session, its CSRF token, not --read-only (unless
    ``read_only_ok``: logging out). Returns (refusal or None, the form)."""
    web = state_of(request)
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if cross_site(request.headers, own):
        return Response("cross-site request refused\n", 403, media_type="text/plain"), {}
    session = web.session(request)
    if session is None:
        return Response("log in first\n", 401, media_type="text/plain"), {}
    bad, form = await form_of(request)
    if bad is not None:
        return bad, {}
    token = form.get("csrf") or request.headers.get("x-csrf-token") or ""
    if not auth.same(token, session.csrf):
        return Response("missing or wrong CSRF token: reload the page and try again\n", 403,
                        media_type="text/plain"), {}
    if web.settings.read_only and not read_only_ok:
        return Response("this dashboard is read-only (wdbot web --read-only)\n", 403,
                        media_type="text/plain"), {}
    return None, form


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


def overview_context(backend: Backend) -> dict[str, Any]:
    try:
        doc = backend.status()
        error = None
    except Unavailable as exc:
        doc, error = None, str(exc)
    # The supervisor's status says it; with none, the file is read here.
    unreadable = backend.registry_unreadable() if doc is None else None
    return {"o": views.overview(doc, backend.events(views.EVENTS_SHOWN), unreadable), "error": error}


def bot_context(backend: Backend, name: str) -> dict[str, Any] | None:
    """The bot page's values; None when no such bot (or no supervisor) is there."""
    try:
        doc = backend.status(name)
    except (KeyError, Unavailable):
        return None
    if doc is None or not doc["bots"]:
        return None
    exits = backend.events(5, bot=name, kinds=frozenset({"exit"}))
    events = backend.events(12, bot=name)
    return {"b": views.bot_page(doc["bots"][0], exits, events, backend.spec(name)), "name": name}


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
    from . import live, modes_pages, secrets_pages

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
