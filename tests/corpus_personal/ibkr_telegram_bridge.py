# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/jahanzaib-codes/ibkr-telegram-bot/blob/c792969ce131512227389d8d3791227e2a37e2be/bot.py
# licence: MIT

import asyncio
import logging
from ib_insync import IB, Stock, MarketOrder, LimitOrder, StopOrder
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes
import uuid

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
