# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/spacedel/tradingbot/blob/a70ed8adad16c21897fdbb59896c29991a61b56c/client.py
# licence: MIT

import os
import time
from dotenv import load_dotenv
from coinbase.rest import RESTClient
from coinbase.websocket import WSClient

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
