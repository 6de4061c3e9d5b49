# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/alpacahq/alpaca-trade-api-python/blob/9f75328188d7ff2ae7ede3975c590d00f8c3cb02/examples/historic_async.py
# licence: Apache-2.0

from enum import Enum
import time
import alpaca_trade_api as tradeapi
import asyncio
import os
import pandas as pd
import sys
from alpaca_trade_api.rest import TimeFrame, URL
from alpaca_trade_api.rest_async import gather_with_concurrency, AsyncRest

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
