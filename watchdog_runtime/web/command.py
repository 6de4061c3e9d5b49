"""``wdbot web``: check the options, handle the login secret, bind, serve with uvicorn."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

from ..common.home import Home
from . import auth
from .settings import WebSettings, WebUsageError, make_settings

GRACEFUL_S = 3
"""On SIGTERM, live streams (which never end by themselves) are cut after this."""


def login_link(settings: WebSettings, secret: str) -> str:
    """The link that logs a browser in; the secret rides after ``#``, so it never reaches a
    server or proxy log (the page's script posts it)."""
    return f"{settings.base_url}/login#{secret}"


WEB_PACKAGES = ("starlette", "uvicorn", "jinja2", "multipart")
"""The ``web`` extra's packages (pyproject.toml): ``pip install wdbot`` alone has none of them."""


def missing_extra() -> str | None:
    """What to install when the ``web`` extra is missing, or None."""
    import importlib.util

    absent = [name for name in WEB_PACKAGES if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return (f"wdbot web needs the 'web' extra ({', '.join(absent)} missing): "
            "pip install 'wdbot[web]' (or: uv tool install 'wdbot[web]')")


def run(ns: argparse.Namespace, home: Home) -> int:
    """The command; raises WebUsageError for a bad option (exit 2)."""
    if (advice := missing_extra()) is not None:
        print(f"wdbot web: error: {advice}", file=sys.stderr)
        return 1
    settings = make_settings(ns.listen, ns.cert, ns.key, ns.behind_proxy, ns.read_only)
    for pem in (settings.cert, settings.key):
        if pem and not Path(pem).is_file():
            raise WebUsageError(f"{pem} is not a readable file: give the PEM files of --cert and --key")
    home.ensure()
    if ns.new_secret or ns.login_link:
        secret = auth.new_secret(home.root) if ns.new_secret else auth.load_secret(home.root)
        print(login_link(settings, secret))
        return 0
    auth.load_secret(home.root)  # generated on the first run
    try:
        sock = bind(settings)
    except OSError as exc:
        print(f"wdbot web: error: cannot listen on {ns.listen}: {exc.strerror or exc}; "
              f"choose another --listen", file=sys.stderr)
        return 1
    return serve(home, settings, sock)


def bind(settings: WebSettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections: without it a kept-alive request waits ~40 ms for a
    # delayed ACK between the response's headers and its body (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((settings.host, settings.port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(home: Home, settings: WebSettings, sock: socket.socket) -> int:
    import uvicorn

    from .app import create_app

    app = create_app(home, settings)
    web_state = app.state.web

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            web_state.stopping = True  # live streams end at their next tick, within refresh_s
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off",
        proxy_headers=settings.behind_proxy, server_header=False,
        timeout_graceful_shutdown=GRACEFUL_S, ssl_certfile=settings.cert, ssl_keyfile=settings.key)
    port = sock.getsockname()[1]
    shown = WebSettings(**{**settings.__dict__, "port": port})
    print(f"wdbot web: serving {shown.base_url} for {home.root}"
          f"{' (read-only)' if settings.read_only else ''}; log in with the link of "
          f"'wdbot web --login-link'", flush=True)
    Server(config).run(sockets=[sock])
    return 0
