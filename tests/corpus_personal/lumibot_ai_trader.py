# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/tonilingardsson/AI-Trading-Bot/blob/dee556de29af7ec91c9ad48c3e8a5170eb379c08/tradingBot.py
# licence: none stated (no licence file; only its import lines are kept)

from lumibot.brokers import Alpaca
from lumibot.backtesting import YahooDataBacktesting
from lumibot.strategies.strategy import Strategy
from lumibot.traders import Trader
from datetime import datetime
from dotenv import load_dotenv
import os

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
