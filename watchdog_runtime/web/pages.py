"""What the dashboard's routes share (``app``, ``live``, ``secrets_pages``): the server's
state, the templates, the checks every page and every change goes through, and the values
the overview and the bot page are drawn from.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..common.home import Home
from . import auth, views
from .backend import Backend, Unavailable
from .security import cross_site
from .settings import WebSettings

HERE = Path(__file__).parent


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


# ---------------------------------------------------------------- values
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
