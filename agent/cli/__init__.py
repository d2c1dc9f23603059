"""The ``matterloop`` command line: :func:`main`, and one module per command group whose handlers
parse arguments, call the library and print."""

from matterloop.agent.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
