# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/alpacahq/alpaca-trade-api-python/blob/9f75328188d7ff2ae7ede3975c590d00f8c3cb02/examples/martingale.py
# licence: Apache-2.0

import alpaca_trade_api as tradeapi
from alpaca_trade_api.stream import Stream
import datetime

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
