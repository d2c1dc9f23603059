"""Ground-truth oracles: DFT, universal ML potentials and user plug-ins.

``build_oracle("chgnet", {...}).evaluate(structures)`` returns one :class:`OracleResult` per
structure; failures are results with a :class:`FailureKind` and a reason, never exceptions.
"""

from oracles.ase_oracle import AseOracle, AseOracleConfig
from oracles.base import CalculatorOracle, CalculatorOracleConfig
from oracles.config import RelaxConfig, RobustnessConfig
from oracles.dft import GPAWConfig, GPAWOracle
from oracles.hull import ReferenceHull
from oracles.ml_potentials import CHGNetConfig, CHGNetOracle, SevenNetConfig, SevenNetOracle
from oracles.properties import OracleProperty
from oracles.protocol import Oracle
from oracles.registry import ENTRY_POINT_GROUP, OracleSpec, build_oracle, oracle_from_spec
from oracles.result import Failure, FailureKind, OracleFailure, OracleResult, Provenance

__all__ = [
    "ENTRY_POINT_GROUP",
    "AseOracle",
    "AseOracleConfig",
    "CHGNetConfig",
    "CHGNetOracle",
    "CalculatorOracle",
    "CalculatorOracleConfig",
    "Failure",
    "FailureKind",
    "GPAWConfig",
    "GPAWOracle",
    "Oracle",
    "OracleFailure",
    "OracleProperty",
    "OracleResult",
    "OracleSpec",
    "Provenance",
    "ReferenceHull",
    "RelaxConfig",
    "RobustnessConfig",
    "SevenNetConfig",
    "SevenNetOracle",
    "build_oracle",
    "oracle_from_spec",
]
