# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/memetdenis/Load-price-crypto/blob/fa7d7f11ccceace0b134b3c53c6f474b1da9b77b/OLD/Binance_Get.py
# licence: none stated (no licence file; only its import lines are kept)

import time
import MySQLdb
import requests

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
