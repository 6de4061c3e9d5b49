# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/kaito040406/auto-mode/blob/5267570f0d1f96dbba316756dab2fb3d83bb4eff/long.py
# licence: none stated (no licence file; only its import lines are kept)

from oandapyV20 import API
from oandapyV20.exceptions import V20Error
from oandapyV20.endpoints.pricing import PricingStream
import oandapyV20.endpoints.orders as orders
import oandapyV20.endpoints.instruments as instruments
import oandapyV20.endpoints.accounts as accounts
import oandapyV20.endpoints.positions as positions
import os

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
