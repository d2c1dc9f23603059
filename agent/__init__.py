"""The campaign agent: configuration, the active-learning loop and the ``matterloop`` CLI."""
