# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/sammchardy/python-binance/blob/b697c97a94901d79786dd5d899a40268953aa0f5/examples/depth_cache_example.py
# licence: MIT

import os
import sys
import asyncio
import logging
from binance import AsyncClient
from binance.ws.depthcache import DepthCacheManager

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
