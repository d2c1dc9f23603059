"""Ground-truth oracles: DFT, universal ML potentials and user plug-ins.

``build_oracle("chgnet", {...}).evaluate(structures)`` returns one :class:`OracleResult` per
structure; failures are results with a :class:`FailureKind` and a reason, never exceptions.
"""

from matterloop.core.result import Failure, FailureKind, OracleFailure, OracleResult, Provenance
from matterloop.oracles.ase_oracle import AseOracle, AseOracleConfig
from matterloop.oracles.base import CalculatorOracle, CalculatorOracleConfig
from matterloop.oracles.config import RelaxConfig, RobustnessConfig
from matterloop.oracles.dft import GPAWConfig, GPAWOracle
from matterloop.oracles.hull import ReferenceHull
from matterloop.oracles.ml_potentials import (
    CHGNetConfig,
    CHGNetOracle,
    SevenNetConfig,
    SevenNetOracle,
)
from matterloop.oracles.properties import OracleProperty
from matterloop.oracles.protocol import Oracle
from matterloop.oracles.registry import (
    ENTRY_POINT_GROUP,
    OracleSpec,
    build_oracle,
    oracle_from_spec,
)

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
