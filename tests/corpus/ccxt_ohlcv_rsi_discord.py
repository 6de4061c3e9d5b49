# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/ccxt/ccxt/blob/24ec44b40ff6c7c1ba11834a58ef5d717e524856/examples/py/async-fetch-ohlcv-indicators-discord-webhook.py
# licence: MIT

from asyncio import get_running_loop, gather, ensure_future, run
import pandas_ta as ta
import pandas as pd
import ccxt.async_support as ccxt

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
