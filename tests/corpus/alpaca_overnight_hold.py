# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/alpacahq/alpaca-trade-api-python/blob/9f75328188d7ff2ae7ede3975c590d00f8c3cb02/examples/overnight_hold.py
# licence: Apache-2.0

import alpaca_trade_api as tradeapi
from alpaca_trade_api.rest import TimeFrame
from alpaca_trade_api.rest_async import gather_with_concurrency, AsyncRest
from alpaca_trade_api.entity_v2 import BarsV2
from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor
import pandas as pd
import statistics
import sys
import time
import asyncio
from enum import Enum
import pytz
from datetime import datetime, timedelta
from pytz import timezone

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
