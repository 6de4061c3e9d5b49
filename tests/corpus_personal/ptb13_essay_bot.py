# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/myxik/TG_essay_bot/blob/55f5014162e035fa63effacbc0fc26911690b914/bot.py
# licence: none stated (no licence file; only its import lines are kept)
# the bot's own modules, left out: paraphrase

from telegram.ext import Updater, CommandHandler, MessageHandler, Filters, CallbackQueryHandler
from telegram.ext.dispatcher import run_async
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from googletrans import Translator

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
