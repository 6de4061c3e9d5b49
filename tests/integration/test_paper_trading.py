"""The paper-trading example under wdbot, crashed on purpose at each dangerous point: after
every recovery each open position has exactly one stop-loss, and none was ever placed twice.

The exchange (``bots/paper_exchange.py``) runs under the same supervisor with frozen prices;
the tests move prices and lose orders through its ``/admin`` hooks while the bot is down.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Wdbot, wait_until

BOTS = Path(__file__).resolve().parents[2] / "bots"
pytestmark = pytest.mark.slow


class Paper:
    """The paper exchange and the paper bot in one wdbot home."""

    def __init__(self, wd: Wdbot) -> None:
        self.wd = wd
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        wd("start", str(BOTS / "paper_exchange.py"), "--env", f"PAPER_EXCHANGE_PORT={port}",
           "--env", "PAPER_PRICE_WALK=0")
        wait_until(self.healthy, "the paper exchange to serve")

    def healthy(self) -> bool:
        try:
            return bool(self.get("/health")["ok"])
        except OSError:
            return False

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def start_bot(self, *env: str) -> None:
        args = ["--env", f"PAPER_EXCHANGE_URL={self.url}", "--env", "PAPER_TICK=0.1"]
        for item in env:
            args += ["--env", item]
        self.wd("start", str(BOTS / "paper_bot.py"), *args, "--backoff-initial", "0.01")

    def log(self) -> str:
        return self.wd.stdout("paper_bot")

    def settled(self, recoveries: int) -> bool:
        """``recoveries`` recoveries done in all, and a full trading cycle since the last."""
        text = self.log()
        return text.count("recovered:") >= recoveries and "cycle" in text.rsplit("recovered:", 1)[1]

    def run_until_settled_then_stop(self, recoveries: int) -> None:
        wait_until(lambda: self.settled(recoveries), f"recovery {recoveries} and a trading cycle",
                   timeout_s=60)
        self.wd("stop", "paper_bot")

    def book(self) -> dict[str, Any]:
        book: dict[str, Any] = self.get("/admin/dump")
        return book

    def bot_state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.wd.home / "bots" / "paper_bot" / "state" / "state.json").read_text())
        return data


@pytest.fixture
def paper(wd: Wdbot) -> Paper:
    return Paper(wd)


def stops(book: dict[str, Any], symbol: str, *, open_only: bool = True) -> list[dict[str, Any]]:
    return [o for o in book["orders"].values() if o["symbol"] == symbol and o["reduceOnly"]
            and o["triggerPrice"] is not None and (o["status"] == "open" or not open_only)]


def assert_one_stop_each(paper: Paper, *, never_placed_twice: bool = True) -> dict[str, Any]:
    book = paper.book()
    assert book["positions"], "the bot holds positions"
    for symbol, pos in book["positions"].items():
        mine = stops(book, symbol)
        assert len(mine) == 1, f"{symbol} has {len(mine)} open stops"
        assert mine[0]["side"] == "sell" and mine[0]["amount"] == pos["contracts"]
        if never_placed_twice:
            assert len(stops(book, symbol, open_only=False)) == 1, f"a stop of {symbol} was placed twice"
    orphans = [o for o in book["orders"].values()
               if o["status"] == "open" and o["symbol"] not in book["positions"]]
    assert orphans == []
    assert set(paper.bot_state()["positions"]) == set(book["positions"])
    return book


@pytest.mark.parametrize(("crash_at", "restarts", "expect"), [
    ("after_entry", 1, "re-placed the missing stop"),
    ("mid_save@4", 1, "adopted from the exchange"),
    ("after_entry,during_recovery", 2, "re-placed the missing stop"),
])
def test_a_crash_at_each_point_ends_with_one_stop_per_position(
        paper: Paper, crash_at: str, restarts: int, expect: str) -> None:
    paper.start_bot(f"WDBOT_CRASH_AT={crash_at}")
    wait_until(lambda: paper.wd.bot("paper_bot")["restarts"] >= restarts, f"{restarts} crash(es)")
    paper.run_until_settled_then_stop(2)  # the first start's recovery, and the one that counts
    text = paper.log()
    for point in crash_at.split(","):
        assert f"wdbot crash point {point.split('@')[0]}: SIGKILL" in text
    assert text.count(expect) == 1 and paper.wd.bot("paper_bot")["restarts"] == restarts
    book = assert_one_stop_each(paper)
    assert sorted(book["positions"]) == ["BTC/USDT", "ETH/USDT"]
    assert paper.bot_state().get("intent") is None
    if "during_recovery" in crash_at:
        exits = [e["reason"] for e in paper.wd.events("exit", "paper_bot")]
        assert exits == ["crash", "recovery_failed"]


def test_recovery_drops_what_the_exchange_closed_and_adopts_what_it_lacks(paper: Paper) -> None:
    paper.start_bot()
    paper.run_until_settled_then_stop(1)
    paper.post("/admin/price", {"symbol": "ETH/USDT", "price": 3000})  # ETH's stop triggers
    paper.post("/admin/position", {"symbol": "SOL/USDT", "side": "long", "contracts": 1, "entry": 150})
    assert "ETH/USDT" not in paper.book()["positions"]
    paper.start_bot()
    paper.run_until_settled_then_stop(2)
    text = paper.log()
    assert "ETH/USDT: closed on the exchange while we were down" in text
    assert "SOL/USDT: adopted from the exchange" in text
    book = assert_one_stop_each(paper, never_placed_twice=False)  # ETH was bought again
    assert sorted(book["positions"]) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    assert stops(book, "SOL/USDT")[0]["triggerPrice"] == 147.0


def test_a_stop_that_would_trigger_at_once_is_flagged_not_placed(paper: Paper) -> None:
    paper.start_bot()
    paper.run_until_settled_then_stop(1)
    lost = stops(paper.book(), "BTC/USDT")[0]
    paper.post("/orders/cancel", {"id": lost["id"]})  # the stop vanished while the bot was down
    paper.post("/admin/price", {"symbol": "BTC/USDT", "price": 60000})  # and the price fell through it
    paper.start_bot()
    paper.run_until_settled_then_stop(2)
    assert "MANUAL REVIEW BTC/USDT" in paper.log()
    book = paper.book()
    assert stops(book, "BTC/USDT") == [] and len(stops(book, "ETH/USDT")) == 1
    assert "BTC/USDT" in paper.bot_state()["review"]
    buys = [o for o in book["orders"].values() if o["symbol"] == "BTC/USDT" and o["side"] == "buy"]
    assert len(buys) == 1  # nothing new opened on the symbol under review


def test_no_position_is_opened_while_the_balance_cannot_be_fetched(paper: Paper) -> None:
    paper.post("/admin/fail", {"path": "/balance", "status": 503})
    paper.start_bot()
    wait_until(lambda: "balance unavailable" in paper.log(), "the bot to notice", timeout_s=60)
    assert paper.book()["positions"] == {}
    paper.post("/admin/fail", {"path": "/balance", "status": 0})
    wait_until(lambda: len(paper.book()["positions"]) == 2, "trading once the balance is back")
    paper.wd("stop", "paper_bot")
    assert_one_stop_each(paper)
