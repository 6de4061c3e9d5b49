"""Inside every bot: the SDK (``import watchdog_runtime as wd``), the bootstrap that runs the
bot's file, the ``recover(ctx)`` entry. Standard library only, fast to import: it imports
nothing outside itself and ``common`` (an import-linter contract checks it)."""
