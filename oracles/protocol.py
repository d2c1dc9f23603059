"""The interface every oracle meets, built-in or plug-in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pymatgen.core import Structure

from matterloop.core.result import OracleResult


@runtime_checkable
class Oracle(Protocol):
    """Labels structures with ground-truth energies and properties.

    ``evaluate`` returns one :class:`OracleResult` per input structure, in order. A structure that
    cannot be labeled yields a failed result; ``evaluate`` itself does not raise for it.

    An oracle that returns properties of its own (``OracleResult.properties``) declares them in
    a ``properties`` attribute, a tuple of :class:`~matterloop.oracles.properties.OracleProperty`;
    without one it provides none.
    """

    name: str

    def evaluate(self, structures: Sequence[Structure]) -> list[OracleResult]: ...
