"""Subcommands of the ``matterloop`` CLI, one module per group."""
