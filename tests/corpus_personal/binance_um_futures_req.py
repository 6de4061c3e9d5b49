# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/atsmaster/atm_collection/blob/8146fcb386c95af8f9ccb267b5414df40243ee9a/client/binance/future/BnFutureReqClient.py
# licence: none stated (no licence file; only its import lines are kept)
# the bot's own modules, left out: client, model

import configparser
from datetime import datetime
from binance.um_futures import UMFutures

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
