"""The errors of matterloop: one root, :class:`MatterloopError`, for input a user can fix.

The command line answers each of them with its message alone and exit code 2; anything else is
a bug and shows its traceback.
"""


class MatterloopError(ValueError):
    """Input that cannot be used (a file, a setting, a value, a folder); the message names it
    and the problem."""


class DataError(MatterloopError):
    """A data file or value that cannot be used; the message names the file and the problem."""


class ConfigError(MatterloopError):
    """A configuration file that cannot be used; the message names the file and each bad field."""


class UndefinedQuantity(DataError):
    """A quantity that has no value for a structure (e.g. the HHI of a hydride, E_hull of a
    composition with no elemental reference)."""
