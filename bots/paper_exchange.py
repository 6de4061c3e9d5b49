"""A small paper exchange on loopback, for ``paper_bot.py``: balances, positions, market
orders and reduce-only stop orders, with prices that random-walk and stops that trigger.
It keeps its book in ``wd.State`` (its own state folder), so it survives its own restarts,
and runs under wdbot like any bot::

    wdbot start bots/paper_exchange.py

Settings (environment): ``PAPER_EXCHANGE_PORT`` (8765), ``PAPER_PRICE_WALK`` (1; 0 freezes
prices), ``PAPER_FAIL_RATE`` (0: the share of requests answered 503 or 429, to show
``wd.retry`` at work). Test hooks under ``/admin``: set a price, make a path fail, add a
position, dump the book. The book counts every order request that reached it (``counts``:
``entry``, ``close``, ``stop``), accepted or not: what a halted bot must not send shows there.
"""

from __future__ import annotations

import json
import os
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import watchdog_runtime as wd

START_PRICES = {"BTC/USDT": 64000.0, "ETH/USDT": 3200.0, "SOL/USDT": 150.0}
PORT = int(os.environ.get("PAPER_EXCHANGE_PORT", "8765"))
WALK = os.environ.get("PAPER_PRICE_WALK", "1") != "0"
FAIL_RATE = float(os.environ.get("PAPER_FAIL_RATE", "0"))


class Rejected(Exception):
    """An order the exchange refuses (HTTP 400, ``InvalidOrder`` on the client)."""


class Book:
    """The exchange's whole state; every method holds the lock and saves before returning."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = wd.State("exchange.json")
        self.state.setdefault("balance", {"USDT": 10000.0})
        self.state.setdefault("positions", {})
        self.state.setdefault("orders", {})
        self.state.setdefault("prices", dict(START_PRICES))
        self.state.setdefault("next_id", 1)
        self.state.setdefault("counts", {"entry": 0, "close": 0, "stop": 0})
        self.failing: dict[str, int] = {}
        self.state.save()

    # ------------------------------------------------------------------ reads
    def balance(self) -> dict[str, Any]:
        with self.lock:
            usdt = self.state["balance"]["USDT"]
            return {"free": {"USDT": usdt}, "used": {"USDT": 0.0}, "total": {"USDT": usdt}}

    def positions(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"symbol": s, **p, "markPrice": self.state["prices"][s]}
                    for s, p in sorted(self.state["positions"].items())]

    def open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [o for o in self.state["orders"].values()
                    if o["status"] == "open" and (symbol is None or o["symbol"] == symbol)]

    def ticker(self, symbol: str) -> dict[str, Any]:
        with self.lock:
            price = self._price(symbol)
            return {"symbol": symbol, "last": price, "bid": price * 0.9999, "ask": price * 1.0001}

    # ----------------------------------------------------------------- orders
    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            symbol, side = body.get("symbol"), body.get("side")
            amount, params = float(body.get("amount") or 0), body.get("params") or {}
            kind = ("stop" if params.get("triggerPrice") or params.get("stopPrice")
                    else "close" if params.get("reduceOnly") else "entry")
            self.state["counts"][kind] = self.state["counts"].get(kind, 0) + 1
            self.state.save()  # counted even when refused below: it reached the exchange
            price = self._price(symbol)
            if side not in ("buy", "sell") or amount <= 0:
                raise Rejected("side must be buy or sell and amount above 0")
            coid = params.get("clientOrderId")
            if coid and any(o.get("clientOrderId") == coid and o["status"] == "open"
                            for o in self.state["orders"].values()):
                raise Rejected(f"DuplicateOrderId: an open order has clientOrderId {coid}")
            order = {"id": str(self.state["next_id"]), "clientOrderId": coid, "symbol": symbol,
                     "type": body.get("type", "market"), "side": side, "amount": amount,
                     "reduceOnly": bool(params.get("reduceOnly")), "triggerPrice": None,
                     "status": "open", "average": None}
            trigger = params.get("triggerPrice") or params.get("stopPrice")
            if trigger is not None:
                self._check_stop(order, float(trigger), price)
                order["triggerPrice"] = float(trigger)
            else:
                self._fill(order, price)
            self.state["next_id"] += 1
            self.state["orders"][order["id"]] = order
            self.state.save()
            return dict(order)

    def cancel(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            order = self.state["orders"].get(order_id)
            if order is None or order["status"] != "open":
                raise Rejected(f"OrderNotFound: no open order {order_id}")
            order["status"] = "canceled"
            self.state.save()
            return dict(order)

    def _check_stop(self, order: dict[str, Any], trigger: float, price: float) -> None:
        position = self.state["positions"].get(order["symbol"])
        closes = "sell" if position and position["side"] == "long" else "buy"
        if not order["reduceOnly"] or position is None or order["side"] != closes:
            raise Rejected("stops here are reduce-only and must close an open position")
        if (trigger >= price) if closes == "sell" else (trigger <= price):
            raise Rejected(f"OrderImmediatelyFillable: trigger {trigger} is through the price {price}")

    def _fill(self, order: dict[str, Any], price: float) -> None:
        symbol, amount = order["symbol"], order["amount"]
        positions, usdt = self.state["positions"], self.state["balance"]
        held = positions.get(symbol)
        buying = order["side"] == "buy"
        if held is None:
            if order["reduceOnly"]:
                raise Rejected("reduce-only order with no position")
            if amount * price > usdt["USDT"]:
                raise Rejected("InsufficientFunds")
            positions[symbol] = {"side": "long" if buying else "short", "contracts": amount,
                                 "entryPrice": price}
            usdt["USDT"] -= amount * price
        else:
            closing = (held["side"] == "long") != buying
            if not closing:
                raise Rejected("one position per symbol in this paper exchange")
            size = min(amount, held["contracts"])
            direction = 1 if held["side"] == "long" else -1
            usdt["USDT"] += size * held["entryPrice"] + direction * size * (price - held["entryPrice"])
            held["contracts"] = round(held["contracts"] - size, 12)
            if held["contracts"] <= 0:
                del positions[symbol]
                self._cancel_stops(symbol)
        order.update(status="closed", average=price, filled=amount)

    def _cancel_stops(self, symbol: str) -> None:
        for other in self.state["orders"].values():
            if other["symbol"] == symbol and other["status"] == "open" and other["reduceOnly"]:
                other["status"] = "canceled"  # like an exchange's OCO: no position, no stop

    def _price(self, symbol: Any) -> float:
        if symbol not in self.state["prices"]:
            raise Rejected(f"BadSymbol: {symbol!r}")
        return float(self.state["prices"][symbol])

    # ------------------------------------------------------------ market moves
    def set_price(self, symbol: str, price: float) -> None:
        with self.lock:
            self.state["prices"][symbol] = price
            self._trigger(symbol, price)
            self.state.save()

    def walk(self, rng: random.Random) -> None:
        with self.lock:
            for symbol, price in self.state["prices"].items():
                new = round(price * (1 + rng.gauss(0, 0.002)), 2)
                self.state["prices"][symbol] = new
                self._trigger(symbol, new)
            self.state.save()

    def _trigger(self, symbol: str, price: float) -> None:
        for order in list(self.state["orders"].values()):
            if order["symbol"] != symbol or order["status"] != "open" or order["triggerPrice"] is None:
                continue
            trigger = order["triggerPrice"]
            hit = price <= trigger if order["side"] == "sell" else price >= trigger
            if hit and symbol in self.state["positions"]:
                self._fill(order, price)
                print(f"stop {order['id']} triggered: {symbol} closed at {price}", flush=True)

    def add_position(self, symbol: str, side: str, contracts: float, entry: float) -> None:
        with self.lock:
            self.state["positions"][symbol] = {"side": side, "contracts": contracts, "entryPrice": entry}
            self.state.save()

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(dict(self.state)))


BOOK: Book


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlparse(self.path)
        symbol = parse_qs(url.query).get("symbol", [None])[0]
        routes = {"/health": lambda: {"ok": True}, "/balance": BOOK.balance,
                  "/positions": BOOK.positions, "/orders/open": lambda: BOOK.open_orders(symbol),
                  "/ticker": lambda: BOOK.ticker(symbol or ""), "/admin/dump": BOOK.dump}
        self._answer(url.path, routes)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        routes = {
            "/orders": lambda: BOOK.create_order(body),
            "/orders/cancel": lambda: BOOK.cancel(str(body.get("id"))),
            "/admin/price": lambda: BOOK.set_price(body["symbol"], float(body["price"])),
            "/admin/fail": lambda: BOOK.failing.update({body["path"]: int(body.get("status") or 0)}),
            "/admin/position": lambda: BOOK.add_position(body["symbol"], body["side"],
                                                         float(body["contracts"]), float(body["entry"])),
        }
        self._answer(urlparse(self.path).path, routes)

    def _answer(self, path: str, routes: dict[str, Any]) -> None:
        failing = BOOK.failing.get(path)
        if not path.startswith("/admin") and path != "/health":
            if failing:
                return self._send(failing, {"error": "paper outage (admin)"})
            if FAIL_RATE and random.random() < FAIL_RATE:
                status = random.choice([503, 429])
                return self._send(status, {"error": "paper outage"}, {"Retry-After": "1"})
        route = routes.get(path)
        if route is None:
            return self._send(404, {"error": f"no route {path}"})
        try:
            self._send(200, route())
        except Rejected as exc:
            self._send(400, {"error": str(exc)})

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the log


def main() -> None:
    global BOOK
    BOOK = Book()
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"paper exchange listening on http://127.0.0.1:{PORT}", flush=True)
    rng = random.Random()
    while not wd.wait(0.5):
        wd.heartbeat()
        if WALK:
            BOOK.walk(rng)
    server.shutdown()
    print("paper exchange stopped", flush=True)


if __name__ == "__main__":
    main()
