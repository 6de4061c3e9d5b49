"""The options of ``wdbot web``: argparse only, so that ``wdbot --help`` stays light."""

from __future__ import annotations

import argparse

DEFAULT_LISTEN = "127.0.0.1:8377"


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN,
                   help=f"where to serve (default {DEFAULT_LISTEN}: this machine only)")
    p.add_argument("--cert", metavar="PEM", help="TLS certificate (with --key): serve HTTPS")
    p.add_argument("--key", metavar="PEM", help="the certificate's private key")
    p.add_argument("--behind-proxy", action="store_true",
                   help="a TLS reverse proxy forwards to it (trusts its X-Forwarded-* headers)")
    p.add_argument("--read-only", action="store_true", help="views only: no actions, no secrets")
    p.add_argument("--login-link", action="store_true", help="print the login link and exit")
    p.add_argument("--new-secret", action="store_true",
                   help="replace the login secret (every browser is logged out) and print the new link")
