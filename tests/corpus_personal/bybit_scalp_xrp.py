# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/ryu878/bybit_scalp_bot/blob/9c11d30b884a5f81e0f626ae84bfff8db586b7d9/xrp.py
# licence: MIT
# the bot's own modules, left out: config

import ta
import time
import ccxt
import pandas as pd
from pybit import HTTP

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
