# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/Swtouu/web3-hyperliquid-grid-bot/blob/f61a188223c29d2a847ea6e9b1bbc31926889004/GridBot.py
# licence: none stated (no licence file; only its import lines are kept)

import json
import os
import logging
import eth_account
import time
from eth_account.signers.local import LocalAccount
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils import constants

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
