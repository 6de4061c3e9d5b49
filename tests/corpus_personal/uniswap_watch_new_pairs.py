# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/ongrid/uniswap_client/blob/068576878d8007954c3bc08fd23401fabaab521c/uniswap_watch_new_pairs.py
# licence: none stated (no licence file; only its import lines are kept)

import os
import json
import time
from web3 import Web3
import argparse
from progress.spinner import Spinner

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
