# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/kochetkov-av/geth-clique-poa-demo/blob/3d72fb6c1bd530b981e4d218535973026d2fa6de/interactions/info.py
# licence: none stated (no licence file; only its import lines are kept)

from web3 import Web3
from web3.middleware import geth_poa_middleware

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
