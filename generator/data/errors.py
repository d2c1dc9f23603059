"""Errors of the data layer."""


class DataError(ValueError):
    """A data file or value that cannot be used; the message names the file and the problem."""
