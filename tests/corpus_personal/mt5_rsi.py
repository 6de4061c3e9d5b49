# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/Geekups/Geekups-auto-trading-bot/blob/733add63c1060f3d555370094af2cf134fb37429/develop/RSI/rsi_dev3.py
# licence: none stated (no licence file; only its import lines are kept)

import pandas as pd
import numpy as np
import datetime
from datetime import datetime
from datetime import date
import MetaTrader5 as mt5
import time
import talib
from talib import RSI, EMA

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
