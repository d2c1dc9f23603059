"""What an oracle returns for one structure: :class:`OracleResult`.

Units: energies in eV, forces in eV/Å, stress in eV/Å³ (Voigt order xx, yy, zz, yz, xz, xy, ASE's
sign convention), magnetic moments in µB, magnetic density in µB/Å³, wall time in s.
A failure is a result too (``ok`` is False, ``failure`` says why), never an exception.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pymatgen.core import Structure


class FailureKind(enum.StrEnum):
    """Machine-readable reason a structure could not be labeled."""

    INVALID_STRUCTURE = "invalid_structure"
    """Empty, disordered, non-finite, too small a cell or overlapping atoms."""
    UNSUPPORTED_ELEMENT = "unsupported_element"
    """An element the potential or the PAW datasets do not cover."""
    SCF_NOT_CONVERGED = "scf_not_converged"
    """The self-consistent field did not converge."""
    EXPLODED = "exploded"
    """The calculation left physical ground: non-finite energy, forces or stress, or atoms
    closer than the minimum distance during a relaxation."""
    TIMEOUT = "timeout"
    """The structure took longer than the per-structure time limit."""
    WORKER_CRASHED = "worker_crashed"
    """The process computing the structure died (segfault, out of memory, hard exit)."""
    CALCULATOR_ERROR = "calculator_error"
    """Any other exception raised by the calculator."""
    INVALID_PROPERTY = "invalid_property"
    """A declared property missing, not a number or not finite
    (:mod:`matterloop.oracles.properties`)."""


class OracleFailure(Exception):
    """Raised inside an oracle to end the work on one structure; becomes a failed result."""

    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(f"{kind.value}: {reason}")
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class Provenance:
    """Which oracle produced a result: its name, version string and full settings."""

    oracle: str
    version: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """Why a structure was not labeled."""

    kind: FailureKind
    reason: str


@dataclass(frozen=True)
class OracleResult:
    """The label of one structure.

    ``structure`` is the relaxed structure (the input itself for a single point, the last geometry
    reached when a relaxation fails, ``None`` when nothing was computed). ``magmoms`` and the
    magnetic totals are ``None`` for oracles without magnetic moments; ``properties`` holds what
    an oracle computes beyond these fields. ``converged`` is True only when every stage that ran
    (SCF, relaxation) converged; the per-stage flags are ``None`` when that stage does not apply
    (an ML potential has no SCF; a single point has no relaxation).
    """

    provenance: Provenance
    initial_structure: Structure
    structure: Structure | None = None
    energy: float | None = None
    """Total energy, eV."""
    energy_per_atom: float | None = None
    """eV/atom."""
    forces: list[list[float]] | None = None
    """eV/Å, one row per site of ``structure``."""
    stress: list[float] | None = None
    """eV/Å³, Voigt order."""
    magmoms: list[float] | None = None
    """Site magnetic moments, µB."""
    total_magnetization: float | None = None
    """µB per cell."""
    magnetic_density: float | None = None
    """|total magnetization| / volume of ``structure``, µB/Å³."""
    properties: dict[str, float] = field(default_factory=dict)
    """The oracle's own properties by name (declared with units in
    :mod:`matterloop.oracles.properties`), e.g. ``{"bulk_modulus": 112.3}`` in GPa."""
    scf_converged: bool | None = None
    relaxation_converged: bool | None = None
    relaxation_steps: int | None = None
    wall_time_s: float = 0.0
    attempts: int = 1
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        """True when the structure was labeled."""
        return self.failure is None

    @property
    def converged(self) -> bool:
        """True when labeled and every stage that ran converged."""
        return (
            self.ok and self.scf_converged is not False and self.relaxation_converged is not False
        )

    @classmethod
    def failed(
        cls,
        provenance: Provenance,
        initial_structure: Structure,
        kind: FailureKind,
        reason: str,
        **values: Any,
    ) -> OracleResult:
        """A result recording a failure of ``kind`` (``values``: other fields, e.g. the last
        geometry reached)."""
        return cls(provenance, initial_structure, failure=Failure(kind, reason), **values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (structures through pymatgen's ``as_dict``)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["provenance"] = asdict(self.provenance)
        data["initial_structure"] = self.initial_structure.as_dict()
        data["structure"] = None if self.structure is None else self.structure.as_dict()
        if self.failure is not None:
            data["failure"] = {"kind": self.failure.kind.value, "reason": self.failure.reason}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OracleResult:
        """The inverse of :meth:`to_dict`."""
        data = dict(data)
        data["provenance"] = Provenance(**data["provenance"])
        data["initial_structure"] = Structure.from_dict(data["initial_structure"])
        if data.get("structure") is not None:
            data["structure"] = Structure.from_dict(data["structure"])
        if data.get("failure") is not None:
            failure = data["failure"]
            data["failure"] = Failure(FailureKind(failure["kind"]), failure["reason"])
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> OracleResult:
        return cls.from_dict(json.loads(text))
