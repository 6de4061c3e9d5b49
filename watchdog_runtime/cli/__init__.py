"""The ``wdbot`` command: quick to start, rich only where it draws. It imports the
supervisor's internals only inside the commands that run them (``daemon``, and the few
listed in the import-linter contract)."""
