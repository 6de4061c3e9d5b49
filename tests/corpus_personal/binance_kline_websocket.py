# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/raphauy/binance-bot/blob/a344f2da434c2a5da9671d15e8edfff6298ccc14/python/binance_websocket.py
# licence: none stated (no licence file; only its import lines are kept)

import websocket

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
