# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/arzumanyaned/pythonProject/blob/8c4affc7841420c7e646363d73a901e1d0586b46/test1.py
# licence: none stated (no licence file; only its import lines are kept)

from telegram.error import TelegramError
import telebot
from web3 import Web3

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
