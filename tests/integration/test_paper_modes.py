"""The paper pair with trading modes (issue 27, point 4): halted, the paper bot sends the
exchange no trading order (the exchange counts what reaches it), across a restart, while its
recovery still re-places a missing stop-loss; resumed, it trades again."""

from __future__ import annotations

import pytest

from tests.helpers import Wdbot, wait_until
from tests.integration.test_paper_trading import Paper, assert_one_stop_each, stops

pytestmark = pytest.mark.slow


@pytest.fixture
def paper(wd: Wdbot) -> Paper:
    return Paper(wd)


def test_halted_nothing_reaches_the_exchange_but_the_missing_stop(paper: Paper) -> None:
    """Regression (issue 27): the paper bot traded whatever a person wanted; 'wdbot halt' now
    stops its orders without stopping the process, and a restart does not undo it."""
    paper.start_bot()
    wait_until(lambda: paper.settled(1), "the first entries and a trading cycle", timeout_s=60)
    paper.wd("halt", "paper_bot", "--reason", "test")
    wait_until(lambda: "mode halted: sending no trading order" in paper.log(), "the bot to read it")
    assert wait_until(lambda: paper.wd.bot("paper_bot")["mode_acknowledged"], "the acknowledgement")
    paper.wd("stop", "paper_bot")
    book = assert_one_stop_each(paper)
    lost = stops(book, "BTC/USDT")[0]
    paper.post("/orders/cancel", {"id": lost["id"]})  # BTC's stop vanished while it was down
    paper.post("/admin/price", {"symbol": "ETH/USDT", "price": 3000})  # ETH's stop triggered
    assert sorted(paper.book()["positions"]) == ["BTC/USDT"]
    before = paper.book()["counts"]

    paper.start_bot()  # active, it would buy ETH again; halted, only the stop goes out
    wait_until(lambda: paper.settled(2) and paper.log().count("cycle") >= 5, "recovery and cycles")
    text = paper.log()
    assert "mode halted" in text.rsplit("recovering:", 1)[1]
    assert "BTC/USDT: re-placed the missing stop" in text
    after = paper.book()["counts"]
    assert after == {**before, "stop": before["stop"] + 1}, (before, after)
    assert sorted(paper.book()["positions"]) == ["BTC/USDT"]
    assert len(stops(paper.book(), "BTC/USDT")) == 1

    paper.wd("resume", "paper_bot")
    wait_until(lambda: "ETH/USDT" in paper.book()["positions"], "trading again once resumed")
    assert paper.book()["counts"]["entry"] == before["entry"] + 1
    paper.wd("stop", "paper_bot")
    assert_one_stop_each(paper, never_placed_twice=False)
