"""Errors of the surrogates package (importable without torch, for the command line)."""

from matterloop.core.errors import MatterloopError


class SurrogateError(MatterloopError):
    """The surrogate cannot do what was asked (too few labels, not fitted, bad checkpoint)."""


class NetworkError(SurrogateError):
    """A network that cannot serve as a surrogate (wrong kind or number of outputs)."""
