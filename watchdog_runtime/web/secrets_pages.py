"""A bot's secrets in the browser: names listed, a value set (write-only: it is never sent
back, not even masked), a name removed. Not served under --read-only. Each change is noted
by the supervisor as an event naming its origin; the value never leaves this process except
into the encrypted store."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..common.home import BOT_NAME_RE
from ..secretstore import SecretError
from .backend import Unavailable
from .pages import change_refused, client, login_required, page, state_of


def _refuse_read_only(request: Request) -> Response | None:
    if state_of(request).settings.read_only:
        return page(request, "error.html", {"message": "secrets are not served in --read-only mode"},
                    status=403)
    return None


async def secrets_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    if (refused := login_required(request) or _refuse_read_only(request)) is not None:
        return refused
    name = request.path_params["name"]
    if not BOT_NAME_RE.fullmatch(name):
        return page(request, "error.html", {"message": "bad bot name"}, status=404)
    try:
        names = await run_in_threadpool(state_of(request).backend.secret_names, name)
    except SecretError as exc:
        names, error = [], str(exc)
    return page(request, "secrets.html", {"name": name, "names": names, "error": error}, status=status)


async def set_secret(request: Request) -> Response:
    refused, form = await change_refused(request)
    if refused is not None:
        return refused
    bot, item, value = request.path_params["name"], form.get("item", "").strip(), form.get("value", "")
    return await _change(request, bot, item, "secret_set",
                         lambda: state_of(request).backend.set_secret(bot, item, value))


async def remove_secret(request: Request) -> Response:
    refused, form = await change_refused(request)
    if refused is not None:
        return refused
    bot, item = request.path_params["name"], form.get("item", "")
    if form.get("confirm") != "yes":
        return page(request, "confirm.html", {"name": bot, "op": "remove", "item": item,
                                              "target": f"/bot/{bot}/secrets/remove"})
    return await _change(request, bot, item, "secret_removed",
                         lambda: state_of(request).backend.remove_secret(bot, item))


async def _change(request: Request, bot: str, item: str, action: str, change: Callable[[], None]) -> Response:
    if not BOT_NAME_RE.fullmatch(bot):
        return page(request, "error.html", {"message": "bad bot name"}, status=404)
    backend = state_of(request).backend
    try:
        await run_in_threadpool(change)
    except SecretError as exc:
        return await secrets_page(request, error=str(exc), status=400)
    try:
        await run_in_threadpool(backend.note, action, bot, item, f"web {client(request)}")
    except Unavailable as exc:
        return await secrets_page(request, error=f"done, but the supervisor could not record it: {exc}",
                                  status=502)
    return RedirectResponse(f"/bot/{bot}/secrets", status_code=303)
