# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/santiago6124/PG3_Proyecto_Librerias/blob/4b6c5c116847527cc6f239da7cba9bcaee188cb1/ta.py
# licence: none stated (no licence file; only its import lines are kept)

import ccxt, yfinance
import pandas_ta as ta
import pandas as pd
import matplotlib.pyplot as plt

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
