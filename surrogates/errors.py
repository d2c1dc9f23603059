"""Errors of the surrogates package (importable without torch, for the command line)."""


class SurrogateError(ValueError):
    """The surrogate cannot do what was asked (too few labels, not fitted, bad checkpoint)."""


class NetworkError(SurrogateError):
    """A network that cannot serve as a surrogate (wrong kind or number of outputs)."""


class HHIError(SurrogateError):
    """The HHI of a composition is undefined (an element has no entry in the HHI table)."""
