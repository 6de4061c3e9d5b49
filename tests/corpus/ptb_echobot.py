# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/python-telegram-bot/python-telegram-bot/blob/1183d401f8358d8103de9da116156c0f4bcdf602/examples/echobot.py
# licence: CC0-1.0 (examples/LICENSE.txt)

import logging
from telegram import ForceReply, Update
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
