# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/spacedel/tradingbot/blob/a70ed8adad16c21897fdbb59896c29991a61b56c/trade_execution.py
# licence: MIT

import time
from coinbase.rest import RESTClient
from json import dumps
import os
from dotenv import load_dotenv

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
