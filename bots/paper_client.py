"""A client for the paper exchange (``paper_exchange.py``), with ccxt's method names and
result shapes, so ``paper_bot.py`` runs unchanged against a real exchange: replace
``PaperExchange(url)`` with, say, ``ccxt.binanceusdm({"apiKey": ..., "secret": ...})``.

Stdlib only. Errors follow the rules ``wd.retry`` knows: a network failure is a
``ConnectionError`` (transient), an HTTP error carries ``status_code`` and ``headers``
(429 and 5xx are transient, ``Retry-After`` is honoured), and a rejected order is an
``InvalidOrder`` (never retried).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_S = 5.0


class ExchangeHTTPError(Exception):
    """The exchange answered with an HTTP error."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.headers = headers


class InvalidOrder(ExchangeHTTPError):
    """The exchange rejected an order (bad amount, duplicate client id, would trigger at once)."""


class PaperExchange:
    """ccxt-style access to the paper exchange at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    # ------------------------------------------------------------ ccxt methods
    def fetch_balance(self) -> dict[str, Any]:
        return self._get("/balance")

    def fetch_positions(self, symbols: list[str] | None = None) -> list[dict[str, Any]]:
        positions: list[dict[str, Any]] = self._get("/positions")
        return [p for p in positions if symbols is None or p.get("symbol") in symbols]

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return self._get("/orders/open" + (f"?symbol={urllib.parse.quote(symbol)}" if symbol else ""))

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        return self._get(f"/ticker?symbol={urllib.parse.quote(symbol)}")

    def create_order(self, symbol: str, type: str, side: str, amount: float,
                     price: float | None = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._post("/orders", {"symbol": symbol, "type": type, "side": side, "amount": amount,
                                      "price": price, "params": params or {}})

    def cancel_order(self, id: str, symbol: str | None = None) -> dict[str, Any]:
        return self._post("/orders/cancel", {"id": id, "symbol": symbol})

    # ------------------------------------------------------------------- HTTP
    def _get(self, path: str) -> Any:
        return self._request(urllib.request.Request(self.url + path))

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._request(urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"}))

    def _request(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = _error_text(exc)
            headers = dict(exc.headers.items()) if exc.headers else {}
            kind = InvalidOrder if exc.code == 400 and request.get_method() == "POST" else ExchangeHTTPError
            raise kind(exc.code, detail, headers) from None
        except urllib.error.URLError as exc:
            raise ConnectionError(f"cannot reach the exchange at {self.url}: {exc.reason}") from None


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("error", exc.reason))
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)
