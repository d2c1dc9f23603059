"""Oracles built on an ASE calculator: validation, relaxation, isolation, time limits, retries.

Subclasses say how to build the calculator (:meth:`CalculatorOracle.make_calculator`), which
elements it covers, how to prepare the input atoms (e.g. initial magnetic moments), which of
its exceptions mean what (:meth:`CalculatorOracle.translate_error`) and, optionally, which
properties of its own it returns (:attr:`CalculatorOracle.properties`,
:meth:`CalculatorOracle.compute_properties`). Everything else — input
checks, the relaxation (:func:`matterloop.oracles.relax.relax_and_label`), explosion checks, the
child process with its per-structure time limit and bounded retries — is here, once, for all of
them.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar, Generic, Self, TypeVar

from ase import Atoms
from ase.calculators.calculator import Calculator
from pymatgen.core import Structure

from matterloop.core.config import StrictModel
from matterloop.core.result import FailureKind, OracleFailure, OracleResult, Provenance
from matterloop.oracles.config import RelaxConfig, RobustnessConfig
from matterloop.oracles.isolation import WorkerProcess
from matterloop.oracles.properties import OracleProperty, checked
from matterloop.oracles.relax import atoms_to_structure, relax_and_label
from matterloop.oracles.validation import validate_structure


class CalculatorOracleConfig(StrictModel):
    """Settings common to calculator oracles; ``relax: null`` means a single point."""

    relax: RelaxConfig | None = RelaxConfig()
    robustness: RobustnessConfig = RobustnessConfig()


ConfigT = TypeVar("ConfigT", bound=CalculatorOracleConfig)


class CalculatorOracle(ABC, Generic[ConfigT]):
    """An :class:`~matterloop.oracles.protocol.Oracle` that relaxes and labels with an ASE
    calculator.

    Use as a context manager (or call :meth:`close`) to end the worker process when done.
    """

    name: ClassVar[str]
    reuse_calculator: ClassVar[bool] = True
    """False for calculators that must not carry state from one structure to the next."""
    has_scf: ClassVar[bool] = False
    """True for self-consistent methods (DFT), whose non-converged SCF raises an error that
    :meth:`translate_error` maps to ``SCF_NOT_CONVERGED``; a labeled result then has
    ``scf_converged=True``."""
    config_type: ClassVar[type[CalculatorOracleConfig]]
    properties: ClassVar[tuple[OracleProperty, ...]] = ()
    """Properties this oracle returns beyond energies, forces, stress and magnetic moments
    (:mod:`matterloop.oracles.properties`), computed by :meth:`compute_properties`."""

    def __init__(self, config: ConfigT | None = None) -> None:
        """Raises :class:`ValueError` for a declared property that needs a relaxed structure
        (``OracleProperty.needs_relaxed``) when the config does not relax."""
        self.config: ConfigT = config if config is not None else self.config_type()
        self._calculator: Calculator | None = None
        self._worker: WorkerProcess | None = None
        needing = [p.name for p in self.properties if p.needs_relaxed]
        if needing and self.config.relax is None:
            raise ValueError(
                f"{', '.join(needing)} needs a relaxed structure: set relax: {{...}} in the "
                f"{self.name} settings"
            )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None) -> Self:
        """Build from a plain mapping (e.g. YAML), validated into the typed config."""
        return cls(cls.config_type.model_validate(dict(settings or {})))

    @classmethod
    def properties_for(cls, settings: Mapping[str, Any]) -> tuple[OracleProperty, ...]:
        """The properties an oracle built with ``settings`` declares (some depend on its
        settings; building one makes no calculator)."""
        return tuple(cls.from_settings(settings).properties)

    # -- what a subclass provides -------------------------------------------------------------

    @abstractmethod
    def make_calculator(self) -> Calculator:
        """A fresh ASE calculator (called once per process)."""

    @abstractmethod
    def version(self) -> str:
        """Versions of the code and model/datasets behind this oracle."""

    def supported_elements(self) -> Collection[str] | None:
        """Element symbols the calculator covers; ``None`` means any."""
        return None

    def prepare(self, atoms: Atoms) -> Atoms:
        """Adjust the validated input before the calculation (default: unchanged)."""
        return atoms

    def structure_settings(self, atoms: Atoms) -> dict[str, Any]:
        """Settings this oracle derives from one structure (e.g. the Hubbard U of its
        elements), recorded in that result's provenance (default: none)."""
        return {}

    def calculator_for(self, atoms: Atoms) -> Calculator:
        """A fresh calculator for ``atoms``, for oracles that do not reuse one
        (``reuse_calculator`` False; default: :meth:`make_calculator`)."""
        return self.make_calculator()

    def compute_properties(self, atoms: Atoms) -> dict[str, float]:
        """The declared :attr:`properties` of the relaxed ``atoms`` (calculator attached, its
        results those of this geometry); leave ``atoms`` unchanged (work on a copy). By
        default each is read from the calculator's results under its name, for calculators
        that compute more than ASE's standard properties."""
        results = atoms.calc.results if atoms.calc is not None else {}
        return {p.name: results[p.name] for p in self.properties if p.name in results}

    def translate_error(self, error: Exception) -> OracleFailure:
        """The failure (kind and reason) that an exception raised by the calculator means."""
        return OracleFailure(FailureKind.CALCULATOR_ERROR, f"{type(error).__name__}: {error}")

    # -- the shared machinery -----------------------------------------------------------------

    @property
    def calculator(self) -> Calculator:
        """The calculator of this process, built on first use."""
        if self._calculator is None:
            self._calculator = self.make_calculator()
        return self._calculator

    def provenance(self, atoms: Atoms | None = None) -> Provenance:
        """Name, version and settings; with ``atoms``, also the :meth:`structure_settings`
        of that structure."""
        settings = self.config.model_dump(mode="json")
        if atoms is not None:
            settings.update(self.structure_settings(atoms))
        return Provenance(self.name, self.version(), settings)

    def label(self, structure: Structure) -> OracleResult:
        """Validate, relax and label one structure in this process; never raises."""
        start = time.perf_counter()
        provenance = self.provenance()
        robustness = self.config.robustness
        atoms: Atoms | None = None
        try:
            atoms = validate_structure(
                structure,
                supported_elements=self.supported_elements(),
                oracle=self.name,
                min_distance=robustness.min_distance,
                min_volume=robustness.min_volume,
            )
            atoms = self.prepare(atoms)
            provenance = self.provenance(atoms)
            calculator = self.calculator if self.reuse_calculator else self.calculator_for(atoms)
            labels = relax_and_label(atoms, calculator, self.config.relax, robustness.min_distance)
            values = self.compute_properties(labels.atoms)
        except Exception as error:
            failure = error if isinstance(error, OracleFailure) else self.translate_error(error)
            last = None
            if atoms is not None and atoms.calc is not None:
                last = atoms_to_structure(atoms)
            return OracleResult.failed(
                provenance,
                structure,
                failure.kind,
                failure.reason,
                structure=last,
                wall_time_s=time.perf_counter() - start,
            )
        relaxed = atoms_to_structure(labels.atoms)
        total = labels.total_magnetization
        result = OracleResult(
            provenance=provenance,
            initial_structure=structure,
            structure=relaxed,
            energy=labels.energy,
            energy_per_atom=labels.energy / len(relaxed),
            forces=labels.forces.tolist(),
            stress=None if labels.stress is None else labels.stress.tolist(),
            magmoms=None if labels.magmoms is None else labels.magmoms.tolist(),
            total_magnetization=total,
            magnetic_density=None if total is None else abs(total) / relaxed.volume,
            properties=values,
            scf_converged=True if self.has_scf else None,
            relaxation_converged=labels.relaxation_converged,
            relaxation_steps=labels.relaxation_steps,
            wall_time_s=time.perf_counter() - start,
        )
        return checked(result, self.properties)

    def label_as_dict(self, structure: Structure) -> dict[str, Any]:
        """:meth:`label` in a form that crosses a process boundary."""
        return self.label(structure).to_dict()

    def attempt(self, structure: Structure) -> OracleResult:
        """One attempt, in a worker process or inline as configured."""
        robustness = self.config.robustness
        if robustness.isolation == "inline":
            return self.label(structure)
        if self._worker is None:
            self._worker = WorkerProcess(self.label_as_dict)
        start = time.perf_counter()
        try:
            return OracleResult.from_dict(self._worker.run(structure, robustness.timeout_s))
        except OracleFailure as failure:
            return OracleResult.failed(
                self.provenance(),
                structure,
                failure.kind,
                failure.reason,
                wall_time_s=time.perf_counter() - start,
            )

    def evaluate(self, structures: Sequence[Structure]) -> list[OracleResult]:
        """One result per structure, retrying failures of the kinds in
        ``robustness.retry_on`` up to ``robustness.max_retries`` times."""
        robustness = self.config.robustness
        results: list[OracleResult] = []
        for structure in structures:
            attempts = 1
            result = self.attempt(structure)
            while (
                not result.ok
                and result.failure.kind in robustness.retry_on
                and attempts <= robustness.max_retries
            ):
                attempts += 1
                result = self.attempt(structure)
            results.append(replace(result, attempts=attempts))
        return results

    def close(self) -> None:
        """End the worker process, if any."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        """Calculators and worker processes stay in the process that made them."""
        return {**self.__dict__, "_calculator": None, "_worker": None}
