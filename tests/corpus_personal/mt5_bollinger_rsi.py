# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/Sante-cyber/python/blob/07674a145b22d4d24bcd15e81c90726173e762d1/GBPAUD/Prod/backup/bolling_band_back_trade_NZDCAD_real_rsi_2.13-demo.py
# licence: none stated (no licence file; only its import lines are kept)
# the bot's own modules, left out: common

import MetaTrader5 as mt
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from datetime import datetime, timedelta
import numpy as np
import time
import schedule
import pandas_ta as ta
import talib as ta1
import pytz
import os

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
