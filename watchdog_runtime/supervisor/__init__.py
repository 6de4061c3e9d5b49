"""The supervisor process (``wdbot daemon``): asyncio, psutil, the lifecycle of every bot, its
processes, resources, diagnosis, alerts, metrics and servers. It never imports the terminal
side (``cli``, ``web``)."""
