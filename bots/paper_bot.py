"""A paper-trading bot that survives every crash: the worked example of ``recover(ctx)``.

It holds at most one long position per symbol, each protected by a reduce-only stop-loss on
the exchange, and takes profit at +2 %. What makes it safe to kill at any instant:

- before an entry it saves its *intent* (symbol, amount, stop price, client order id);
- ``recover(ctx)`` runs before any trading and reconciles the saved state with the exchange,
  which is the truth: it adopts positions it did not know, drops the ones the exchange
  closed, cancels duplicate or orphaned stops, and re-places a missing stop (from the intent
  when the crash came between entry and stop) unless the price is already through it, in
  which case it flags the position for manual review instead of selling into a gap;
- orders carry client order ids and are never retried blindly; reads are retried
  (``wd.retry``) under a shared rate limit (``wd.RateLimiter``);
- it opens nothing while the balance cannot be fetched;
- ``wdbot stop`` lets it finish the current step (``wd.wait``), never leaving an entry
  without its stop;
- it asks ``wd.mode()`` before every entry (``wdbot halt paper_bot``, ``reduce``, ``resume``):
  ``reducing`` opens nothing new but still takes profit, ``halted`` sends no trading order at
  all. Protection is not trading: recovery still re-places a missing stop-loss in every mode,
  so a halted bot never leaves a position naked.

Run it against the paper exchange (``bots/paper_exchange.py``)::

    wdbot start bots/paper_exchange.py
    wdbot start bots/paper_bot.py

To trade for real, replace ``PaperExchange(URL)`` with a ccxt exchange: the method names and
result shapes are ccxt's. Crash injection: ``WDBOT_CRASH_AT=after_entry`` (after an entry,
before its stop), ``mid_save@N`` (inside the N-th state save), ``during_recovery`` (after
recovery re-placed a stop, before it saved).
"""

from __future__ import annotations

import os
import time
from typing import Any

import watchdog_runtime as wd
from paper_client import InvalidOrder, PaperExchange

URL = os.environ.get("PAPER_EXCHANGE_URL", "http://127.0.0.1:8765")
SYMBOLS = os.environ.get("PAPER_SYMBOLS", "BTC/USDT,ETH/USDT").split(",")
TICK_S = float(os.environ.get("PAPER_TICK", "2"))
ORDER_USDT = 100.0
STOP_DISTANCE = 0.02
TAKE_PROFIT = 0.02

exchange = PaperExchange(URL)
limiter = wd.RateLimiter(rate=10, burst=5)
reads = wd.retry(attempts=5, base_delay_s=0.2, max_delay_s=10, limiter=limiter)


def read(method: Any, *args: Any) -> Any:
    """A read from the exchange: rate-limited, retried when the failure is transient."""
    def once() -> Any:
        limiter.acquire()
        return method(*args)
    return reads.call(once)


def say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


# ----------------------------------------------------------------- recovery
def recover(ctx: wd.Context) -> None:
    """Make the saved state agree with the exchange and every position have one stop."""
    state = ctx.state
    assert state is not None
    last = ctx.last_exit.reason if ctx.last_exit else "none"
    say(f"recovering: {ctx.reason}, restart {ctx.restarts}, last exit {last}, down {ctx.downtime_s} s, "
        f"mode {ctx.mode}")
    positions: dict[str, Any] = state.setdefault("positions", {})
    live = {p["symbol"]: p for p in read(exchange.fetch_positions) if wd.num(p, "contracts")}
    stops = [o for o in read(exchange.fetch_open_orders) if o.get("reduceOnly")]
    intent = state.get("intent")

    for symbol in [s for s in positions if s not in live]:
        say(f"{symbol}: closed on the exchange while we were down; dropping it")
        del positions[symbol]
    for symbol, pos in live.items():
        adopted = positions.get(symbol) is None
        mine = positions.setdefault(symbol, {})
        mine.update(side=pos["side"], amount=wd.num(pos, "contracts"), entry=wd.num(pos, "entryPrice"))
        if adopted:
            planned = intent if intent and intent.get("symbol") == symbol else None
            mine["stop_price"] = planned["stop_price"] if planned else stop_price_for(mine)
            mine["coid"] = planned["coid"] if planned else f"adopted-{symbol}-{int(time.time())}"
            say(f"{symbol}: adopted from the exchange ({mine['amount']} @ {mine['entry']})")
    state.pop("intent", None)
    state.save()

    for order in stops:  # stops of positions that no longer exist
        if order["symbol"] not in positions:
            cancel(order, "its position is gone")
    for symbol in positions:
        protect(state, symbol, [o for o in stops if o["symbol"] == symbol])
    state.save()
    say(f"recovered: {len(positions)} position(s), review: {sorted(state.get('review', {}))}")


def protect(state: wd.State, symbol: str, stops: list[dict[str, Any]]) -> None:
    """Leave exactly one stop for the position: keep one, cancel duplicates, or place one."""
    pos = state["positions"][symbol]
    for extra in stops[1:]:
        cancel(extra, "duplicate stop")
    if stops:
        pos["stop_id"], pos["stop_price"] = stops[0]["id"], stops[0]["triggerPrice"]
        return
    price = wd.num(read(exchange.fetch_ticker, symbol), "last")
    if price is None or through(pos, price):
        review(state, symbol, f"stop {pos['stop_price']} is through the price {price}: not placing it")
        return
    pos["stop_id"] = place_stop(symbol, pos)
    say(f"{symbol}: re-placed the missing stop at {pos['stop_price']}")
    wd.crash_point("during_recovery")


# ------------------------------------------------------------------ trading
def main() -> None:
    state = wd.State()
    cycle = 0
    mode = "active"
    while not wd.wait(TICK_S):
        wd.heartbeat()
        cycle += 1
        if wd.mode() != mode:
            mode = wd.mode()
            say(f"mode {mode}: " + {"active": "trading", "reducing": "opening nothing new, closing allowed",
                                    "halted": "sending no trading order"}[mode])
        step(state)
        publish(state)
        say(f"cycle {cycle} done: {sorted(state['positions'])}")
    say("stopping: state saved, stops stay on the exchange")


def step(state: wd.State) -> None:
    """One trading step: notice closed positions, take profit, open what is missing."""
    try:
        balance = wd.num(read(exchange.fetch_balance), "free", "USDT")
        live = {p["symbol"] for p in read(exchange.fetch_positions)}
    except Exception as exc:
        if not wd.is_transient(exc):
            raise  # a rejected key is not weather: let wdbot record and diagnose it
        say(f"balance unavailable ({exc}): opening nothing this cycle")
        return
    if balance is None:
        say("balance unreadable: opening nothing this cycle")
        return
    positions = state["positions"]
    for symbol in [s for s in positions if s not in live]:
        say(f"{symbol}: position closed by its stop")
        wd.notify(f"{symbol}: position closed by its stop", level="warning")
        del positions[symbol]
        state.save()
    for symbol in SYMBOLS:
        if symbol in state.get("review", {}):
            continue  # a person must look at this symbol first
        price = wd.num(read(exchange.fetch_ticker, symbol), "last")
        if price is None:
            continue
        if symbol in positions:
            if wd.mode() != "halted":  # reducing may still close
                maybe_take_profit(state, symbol, price)
        elif balance >= ORDER_USDT and wd.may_open():  # asked before every entry: cheap
            enter(state, symbol, price)
            balance -= ORDER_USDT


def enter(state: wd.State, symbol: str, price: float) -> None:
    """Entry, then its stop, with the intent saved first so a crash between is recoverable."""
    amount = round(ORDER_USDT / price, 6)
    coid = f"pb-{symbol.replace('/', '')}-{int(time.time() * 1000)}"
    pos = {"side": "long", "amount": amount, "entry": price, "coid": coid,
           "stop_price": round(price * (1 - STOP_DISTANCE), 2)}
    state["intent"] = {"symbol": symbol, "coid": coid, "stop_price": pos["stop_price"]}
    state.save()
    try:
        exchange.create_order(symbol, "market", "buy", amount, params={"clientOrderId": coid})
    except InvalidOrder as exc:
        say(f"{symbol}: entry rejected ({exc})")
        state.pop("intent")
        state.save()
        return
    # Any other failure (a timeout) is ambiguous: the order may exist. It propagates, the bot
    # restarts, and recovery adopts whatever the exchange holds. Never a blind second order.
    wd.crash_point("after_entry")
    state["positions"][symbol] = pos
    state.save()
    pos["stop_id"] = place_stop(symbol, pos)
    state.pop("intent")
    state.save()
    say(f"{symbol}: bought {amount} @ {price}, stop at {pos['stop_price']}")
    wd.notify(f"{symbol}: bought {amount} @ {price}, stop at {pos['stop_price']}")


def maybe_take_profit(state: wd.State, symbol: str, price: float) -> None:
    pos = state["positions"][symbol]
    if price < pos["entry"] * (1 + TAKE_PROFIT):
        return
    exchange.create_order(symbol, "market", "sell", pos["amount"], params={"reduceOnly": True})
    # The exchange cancels a position's stops when it closes; recovery cleans up otherwise.
    del state["positions"][symbol]
    state.save()
    say(f"{symbol}: took profit at {price}")
    wd.notify(f"{symbol}: sold {pos['amount']} @ {price}, profit taken")


def publish(state: wd.State) -> None:
    """Balance, equity and open positions for 'wdbot status NAME', the web page, /metrics and
    the chat (wd.report); a figure that cannot be read now is simply not reported."""
    try:
        balance = wd.num(read(exchange.fetch_balance), "free", "USDT")
        held = [p for p in read(exchange.fetch_positions) if wd.num(p, "contracts")]
        marks = {p["symbol"]: wd.num(read(exchange.fetch_ticker, p["symbol"]), "last") for p in held}
    except Exception as exc:  # noqa: BLE001 - figures are for people: never worth a crash
        say(f"figures not reported this cycle ({exc})")
        return
    if balance is None:
        return
    value = sum((wd.num(p, "contracts") or 0.0) * (marks[p["symbol"]] or wd.num(p, "entryPrice") or 0.0)
                for p in held)
    wd.report(balance=round(balance, 2), equity=round(balance + value, 2), open_positions=len(held))


# ------------------------------------------------------------------ helpers
def stop_price_for(pos: dict[str, Any]) -> float:
    sign = -1 if pos["side"] == "long" else 1
    return round(pos["entry"] * (1 + sign * STOP_DISTANCE), 2)


def through(pos: dict[str, Any], price: float) -> bool:
    """Would the stop trigger at once (the market already moved past it)?"""
    return price <= pos["stop_price"] if pos["side"] == "long" else price >= pos["stop_price"]


def place_stop(symbol: str, pos: dict[str, Any]) -> str:
    side = "sell" if pos["side"] == "long" else "buy"
    order = exchange.create_order(symbol, "market", side, pos["amount"], params={
        "triggerPrice": pos["stop_price"], "reduceOnly": True, "clientOrderId": pos["coid"] + "-sl"})
    return str(order["id"])


def cancel(order: dict[str, Any], why: str) -> None:
    try:
        exchange.cancel_order(order["id"], order["symbol"])
        say(f"{order['symbol']}: cancelled stop {order['id']} ({why})")
    except InvalidOrder:
        pass  # already gone: what we wanted


def review(state: wd.State, symbol: str, why: str) -> None:
    state.setdefault("review", {})[symbol] = why
    state.save()
    say(f"MANUAL REVIEW {symbol}: {why}")


if __name__ == "__main__":
    main()
