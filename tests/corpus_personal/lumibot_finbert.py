# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/mHaines9219/tradebot/blob/c5d14c42d8df227cebf6232edb62d58318b520f6/tradingbot.py
# licence: none stated (no licence file; only its import lines are kept)
# the bot's own modules, left out: finbert_utils

from lumibot.brokers import Alpaca
from lumibot.backtesting import YahooDataBacktesting
from lumibot.strategies.strategy import Strategy
from lumibot.traders import Trader
from alpaca_trade_api import REST
from timedelta import Timedelta
from datetime import datetime
from dotenv import load_dotenv
import os
import warnings

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
