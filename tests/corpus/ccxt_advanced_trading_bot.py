# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/ccxt/ccxt/blob/0d266bcb76f101e8f93acb6b1309c003fa15690d/examples/py/advanced-trading-bot/trading_bot.py
# licence: MIT

import ccxt
import json
import time
import logging
import sys

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
