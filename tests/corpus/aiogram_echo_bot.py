# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/aiogram/aiogram/blob/c1b0353ce3d3f8d70f90469038939a956e9e09f7/examples/echo_bot.py
# licence: MIT

import asyncio
import logging
import sys
from os import getenv
from aiogram import Bot, Dispatcher, html
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.filters import CommandStart
from aiogram.types import Message

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
