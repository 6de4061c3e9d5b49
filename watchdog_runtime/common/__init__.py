"""Every process, the bots included: the home's layout, durable writes, the line protocol and
the wire, log files, units. Standard library only (an import-linter contract checks it)."""
