# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/atsmaster/atm_collection/blob/8146fcb386c95af8f9ccb267b5414df40243ee9a/client/binance/future/BnFutureWssClient.py
# licence: none stated (no licence file; only its import lines are kept)

import logging
from binance.websocket.um_futures.websocket_client import UMFuturesWebsocketClient

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
