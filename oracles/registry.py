"""Find an oracle by name: built-ins, the ``matterloop.oracles`` entry-point group, or an import
path.

A name resolves, in order, to a built-in (``chgnet``, ``sevennet``, ``gpaw``, ``ase``), to an entry
point of the group ``matterloop.oracles`` registered by an installed package::

    [project.entry-points."matterloop.oracles"]
    my-oracle = "my_package.oracle:MyOracle"

or to a ``"package.module:Class"`` string. The target is built from ``settings`` with its
``from_settings(settings)`` classmethod when it has one (typed, validated settings), else called as
``target(**settings)``. The result must meet the :class:`~matterloop.oracles.protocol.Oracle`
protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import Field, RootModel, ValidationError

from matterloop.core.config import StrictModel, format_validation_error, load_yaml_config
from matterloop.core.errors import ConfigError
from matterloop.core.imports import import_object
from matterloop.oracles.ase_oracle import AseOracle
from matterloop.oracles.dft import GPAWOracle
from matterloop.oracles.errors import OracleInputError
from matterloop.oracles.ml_potentials import CHGNetOracle, SevenNetOracle
from matterloop.oracles.protocol import Oracle

ENTRY_POINT_GROUP = "matterloop.oracles"
DEFAULT_ORACLE = "chgnet"

BUILTIN_ORACLES: dict[str, type] = {
    cls.name: cls for cls in (CHGNetOracle, SevenNetOracle, GPAWOracle, AseOracle)
}


class OracleSpec(StrictModel):
    """An oracle in a config: its ``name`` and the ``settings`` it is built with."""

    name: str
    settings: dict[str, Any] = Field(default_factory=dict)


def registered_oracles() -> dict[str, str]:
    """Entry-point names of the ``matterloop.oracles`` group and what they point to."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve_oracle_class(name: str) -> Callable[..., Any]:
    """The class (or factory) that ``name`` stands for; :class:`ValueError` lists the choices."""
    if name in BUILTIN_ORACLES:
        return BUILTIN_ORACLES[name]
    matches = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if matches:
        return next(iter(matches)).load()
    if ":" in name:
        return import_object(name)
    known = sorted({*BUILTIN_ORACLES, *registered_oracles()})
    raise ValueError(
        f"unknown oracle {name!r}; known: {', '.join(known)} "
        f"(or give 'package.module:Class', or register an entry point in {ENTRY_POINT_GROUP!r})"
    )


def build_oracle(name: str, settings: Mapping[str, Any] | None = None) -> Oracle:
    """The oracle ``name`` built with ``settings``; see the module docstring."""
    target = resolve_oracle_class(name)
    settings = dict(settings or {})
    factory = getattr(target, "from_settings", None)
    oracle = factory(settings) if factory is not None else target(**settings)
    if not isinstance(oracle, Oracle):
        raise TypeError(
            f"oracle {name!r} built a {type(oracle).__name__}, which does not meet the Oracle "
            "protocol (a name and evaluate(structures) -> list[OracleResult])"
        )
    return oracle


def oracle_from_spec(spec: OracleSpec | Mapping[str, Any]) -> Oracle:
    """Build the oracle of a config section ``{name: ..., settings: {...}}``."""
    spec = spec if isinstance(spec, OracleSpec) else OracleSpec.model_validate(dict(spec))
    return build_oracle(spec.name, spec.settings)


class OracleSettings(RootModel[dict[str, Any]]):
    """The ``--settings`` YAML file: a mapping validated by the oracle's own typed config."""


def load_oracle(name: str, settings_file: Path | None) -> Oracle:
    """The oracle ``name`` built with the settings of ``settings_file`` (none: its defaults)."""
    settings = load_yaml_config(settings_file, OracleSettings).root if settings_file else {}
    try:
        return build_oracle(name, settings)
    except ValidationError as exc:
        source = str(settings_file) if settings_file else f"settings of oracle {name!r}"
        raise ConfigError(format_validation_error(exc, source)) from exc
    except (ValueError, TypeError) as exc:
        raise OracleInputError(str(exc)) from exc


def close_oracle(oracle: Oracle) -> None:
    """End the oracle's worker processes, for oracles that have any (a ``close`` method)."""
    close = getattr(oracle, "close", None)
    if callable(close):
        close()
