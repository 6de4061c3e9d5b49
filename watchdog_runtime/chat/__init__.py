"""``wdbot telegram``: chat control of a home from allow-listed Telegram chats.

A process of its own (like ``wdbot web``) that speaks to the supervisor only through the
control socket, reads the event log for alerts, and uses python-telegram-bot (the optional
extra ``telegram``) against the Bot API. Pure parts (commands, texts, confirmations, TOTP,
which events alert) are apart from the side effects (``telegram``: polling, sending).
"""
