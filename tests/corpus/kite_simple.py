# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/zerodha/pykiteconnect/blob/f5531bd2ed3f64e00407eead2a465225f455bef3/examples/simple.py
# licence: MIT

import logging
from kiteconnect import KiteConnect

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
