# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)
# origin: https://github.com/aiogram/aiogram/blob/c1b0353ce3d3f8d70f90469038939a956e9e09f7/examples/finite_state_machine.py
# licence: MIT

import asyncio
import logging
import sys
from os import getenv
from typing import Any
from aiogram import Bot, Dispatcher, F, Router, html
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import KeyboardButton, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove

print('wdbot-corpus: past its imports', flush=True)
import time
while True:
    time.sleep(3600)
