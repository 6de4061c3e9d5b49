# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/aiogram/aiogram/blob/c1b0353ce3d3f8d70f90469038939a956e9e09f7/examples/echo_bot_webhook.py
# licence: MIT

import logging
import sys
from os import getenv
from aiohttp import web
from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.filters import CommandStart
from aiogram.types import Message
from aiogram.utils.markdown import hbold
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
