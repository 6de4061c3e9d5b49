"""``wdbot web``: the dashboard in a browser, as a process of its own.

It speaks to the supervisor only through the control socket (as the CLI does), reads the
event log and the bots' log files (as ``wdbot events`` and ``wdbot logs`` do), and writes
secrets through :mod:`watchdog_runtime.secretstore` (as ``wdbot secret`` does), so a fault
here can never touch the supervisor or a bot.

Modules: :mod:`.settings` (the listen address and what exposing it needs), :mod:`.auth`
(the login secret, sessions, CSRF tokens, the login rate limit), :mod:`.views` (pure: a
status snapshot to what a template shows), :mod:`.app` (the Starlette routes),
:mod:`.live` (server-sent events), :mod:`.command` (``wdbot web`` itself).
"""
