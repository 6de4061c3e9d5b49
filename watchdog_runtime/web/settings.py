"""What ``wdbot web`` serves on, and whether that address may be exposed: pure checks."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .options import DEFAULT_LISTEN


class WebUsageError(ValueError):
    """A bad ``wdbot web`` option; the message is the one line the user sees."""


@dataclass(frozen=True)
class WebSettings:
    """How the web process runs; everything the app and the server read."""

    host: str = "127.0.0.1"
    port: int = 8377
    cert: str | None = None
    """TLS certificate (PEM) and key: uvicorn serves HTTPS and cookies are ``Secure``."""
    key: str | None = None
    behind_proxy: bool = False
    """A TLS-terminating reverse proxy stands in front: cookies are ``Secure`` and the
    client address comes from the proxy's ``X-Forwarded-For``."""
    read_only: bool = False
    """Views only: no actions, no secrets."""
    refresh_s: float = 1.0
    """How often the live parts ask the supervisor for a new snapshot."""

    @property
    def tls(self) -> bool:
        return self.cert is not None

    @property
    def secure_cookies(self) -> bool:
        return self.tls or self.behind_proxy

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def base_url(self) -> str:
        """The address people type; a wildcard host is shown as this machine's loopback."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8377`` for IPv6) as (host, port); port 0 takes a free one.

    >>> parse_listen("127.0.0.1:8377"), parse_listen("[::1]:9000")
    (('127.0.0.1', 8377), ('::1', 9000))
    """
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise WebUsageError(f"bad --listen {text!r}: use HOST:PORT, like {DEFAULT_LISTEN}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Only this machine can reach ``host``.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def make_settings(listen: str = DEFAULT_LISTEN, cert: str | None = None, key: str | None = None,
                  behind_proxy: bool = False, read_only: bool = False) -> WebSettings:
    """Settings from the command's options, refusing an exposure that is not protected."""
    host, port = parse_listen(listen)
    if (cert is None) != (key is None):
        raise WebUsageError("--cert and --key go together: give both (a PEM certificate and its key)")
    if cert and behind_proxy:
        raise WebUsageError("--behind-proxy means the proxy does TLS: give it or --cert/--key, not both")
    settings = WebSettings(host=host, port=port, cert=cert, key=key, behind_proxy=behind_proxy,
                           read_only=read_only)
    if not settings.loopback and not settings.tls and not behind_proxy:
        raise WebUsageError(
            f"refusing to serve on {host}: anyone on that network could reach a page that stops "
            f"bots and changes their keys, over plain HTTP; give --cert and --key (TLS), or "
            f"--behind-proxy when a TLS proxy on this machine forwards to it")
    return settings
