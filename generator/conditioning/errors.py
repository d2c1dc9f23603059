"""Errors of property conditioning."""

from generator.data.errors import DataError


class ConditionError(DataError):
    """A property, label or target that cannot be used (a ``ValueError``); the message names it."""
