"""Errors of the oracles package."""

from matterloop.core.errors import DataError


class OracleInputError(DataError):
    """Input that ``matterloop oracle`` cannot use: an unknown oracle, no structures to evaluate,
    or a results file that is not one (or holds another oracle's results)."""
