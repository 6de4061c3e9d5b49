# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/ryo-wijaya/ibkr-tv-tradebot/blob/8e26990999b7e40ae9c8d6b2087dd0c0912a40ef/ibkr/ibkr_client.py
# licence: MIT
# the bot's own modules, left out: config, util

from ib_insync import IB, Stock
import logging

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
