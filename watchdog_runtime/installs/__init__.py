"""Installing what a bot needs, in the supervisor: venvs, the one uv wrapper, declared
dependencies, discovery of imports, the module-to-package map, auto-install."""
