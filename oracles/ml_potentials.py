"""Universal machine-learned interatomic potentials as oracles: CHGNet and SevenNet.

Both run through :class:`~matterloop.oracles.base.CalculatorOracle`, i.e. the same ASE relaxation
path, and both can also return the bulk modulus (GPa) of the relaxed structure from an
equation-of-state fit (``bulk_modulus: true``; :func:`matterloop.oracles.elastic.bulk_modulus`).

Energy references differ and must not be mixed on one hull (see :mod:`matterloop.oracles.hull`):

- CHGNet 0.3.0 was trained on MPtrj energies *with* the MP2020 compatibility corrections
  (anion and GGA/GGA+U mixing corrections) applied, so its energies (eV) already include them.
  Its magnetic moments (µB) are predicted magnitudes per site; the total magnetization is their
  sum, i.e. it assumes ferromagnetic alignment.
- SevenNet-0 was trained on the raw (uncorrected) MPtrj energies and has no magnetic moments
  (``magmoms``, ``total_magnetization`` and ``magnetic_density`` are ``None``).

The measured difference between the two on the same structures matches the MP2020 corrections to
about 0.02 eV/atom.
"""

from __future__ import annotations

from collections.abc import Collection
from importlib.metadata import version as package_version
from typing import ClassVar, TypeVar

from ase import Atoms
from ase.calculators.calculator import Calculator
from pydantic import Field
from pymatgen.core import Element

from matterloop.oracles.base import CalculatorOracle, CalculatorOracleConfig
from matterloop.oracles.elastic import BULK_MODULUS, EOSConfig, bulk_modulus
from matterloop.oracles.properties import OracleProperty


class MLPotentialConfig(CalculatorOracleConfig):
    """Where a PyTorch potential runs: ``device`` and the number of intra-op CPU threads
    (``None``: PyTorch's default; 1 is fastest for cells of a few dozen atoms on a busy machine);
    whether it also returns the bulk modulus, and the equation-of-state fit behind it."""

    device: str = "cpu"
    threads: int | None = Field(None, ge=1)
    bulk_modulus: bool = Field(
        False, description="also return bulk_modulus (GPa): an E(V) fit around the relaxed volume"
    )
    eos: EOSConfig = EOSConfig()


MLConfigT = TypeVar("MLConfigT", bound=MLPotentialConfig)


class MLPotentialOracle(CalculatorOracle[MLConfigT]):
    """A universal potential, with the bulk modulus among its properties when configured.

    A potential names the distribution that ships it (``package``) and loads its calculator in
    :meth:`load_calculator`, after its process's thread count is set."""

    package: ClassVar[str]

    def load_calculator(self) -> Calculator:
        raise NotImplementedError

    @property
    def model_name(self) -> str:
        """The weights the calculator loads."""
        raise NotImplementedError

    def make_calculator(self) -> Calculator:
        if self.config.threads is not None:
            import torch

            torch.set_num_threads(self.config.threads)
        return self.load_calculator()

    def version(self) -> str:
        return f"{self.package} {package_version(self.package)}, model {self.model_name}"

    @property
    def properties(self) -> tuple[OracleProperty, ...]:  # type: ignore[override]
        return (BULK_MODULUS,) if self.config.bulk_modulus else ()

    def compute_properties(self, atoms: Atoms) -> dict[str, float]:
        if not self.config.bulk_modulus:
            return {}
        config = self.config
        modulus = bulk_modulus(atoms, config.eos, config.relax, config.robustness.min_distance)
        return {BULK_MODULUS.name: modulus}


class CHGNetConfig(MLPotentialConfig):
    """CHGNet settings; the model ships inside the ``chgnet`` wheel."""

    model_name: str = "0.3.0"


class CHGNetOracle(MLPotentialOracle[CHGNetConfig]):
    """CHGNet energies (MP2020-corrected, eV), forces, stress and site magnetic moments (µB)."""

    name: ClassVar[str] = "chgnet"
    package: ClassVar[str] = "chgnet"
    config_type = CHGNetConfig

    @property
    def model_name(self) -> str:
        return self.config.model_name

    def load_calculator(self) -> Calculator:
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        model = CHGNet.load(model_name=self.model_name, verbose=False)
        return CHGNetCalculator(model, use_device=self.config.device)

    def supported_elements(self) -> Collection[str]:
        """Z = 1 … n, where n is the size of the model's atom embedding (94 for 0.3.0)."""
        n = self.calculator.model.atom_embedding.embedding.num_embeddings
        return {Element.from_Z(z).symbol for z in range(1, n + 1)}


class SevenNetConfig(MLPotentialConfig):
    """SevenNet settings; ``7net-0`` and ``7net-l3i5`` (higher-order, Matbench Discovery F1 0.76
    against CHGNet's 0.61, and slower) ship inside the ``sevenn`` wheel."""

    model: str = "7net-0"


class SevenNetOracle(MLPotentialOracle[SevenNetConfig]):
    """SevenNet energies (uncorrected PBE(+U) as in MPtrj, eV), forces and stress; no moments."""

    name: ClassVar[str] = "sevennet"
    package: ClassVar[str] = "sevenn"
    config_type = SevenNetConfig

    @property
    def model_name(self) -> str:
        return self.config.model

    def load_calculator(self) -> Calculator:
        from sevenn.calculator import SevenNetCalculator

        return SevenNetCalculator(self.model_name, device=self.config.device)

    def supported_elements(self) -> Collection[str]:
        """The elements in the model's type map."""
        return {Element.from_Z(int(z)).symbol for z in self.calculator.type_map}
