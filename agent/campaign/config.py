"""Typed campaign configuration, read from YAML (``configs/*.yaml``).

A campaign optimizes *objectives* under *constraints*, both named by a quantity of
:mod:`matterloop.agent.campaign.quantities` (e.g. ``magnetic_density`` in µB/Å³ from the oracle,
``hhi_production`` from composition, ``e_above_hull`` in eV/atom from the oracle and the reference
hull); an alias of :mod:`matterloop.data.quantities` (``hhi``) is read as its canonical
name. Every error names the field, e.g. ``acquisition.q: Input should be greater than 0``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, model_validator

from matterloop.agent.campaign.quantities import (
    QUANTITIES,
    Source,
    declare_oracle_properties,
    quantity,
)
from matterloop.agent.campaign.sections import (
    AcquisitionSettings,
    AdapterSettings,
    BudgetSettings,
    FidelitySettings,
    FilterSettings,
    GeneratorSettings,
    RaySettings,
    SurrogateSettings,
)
from matterloop.core.config import StrictModel, load_yaml_config
from matterloop.core.tracking import TrackingSettings
from matterloop.data.paths import canonical_dataset_name
from matterloop.data.quantities import QuantityName, known_quantity
from matterloop.oracles.properties import OracleProperty, declared_properties_for
from matterloop.oracles.references import SHIPPED_HULLS
from matterloop.oracles.registry import BUILTIN_ORACLES, OracleSpec, resolve_oracle_class


class SlowScreenWarning(UserWarning):
    """A two-fidelity campaign whose screen is assumed or measured no cheaper than its oracle."""


def check_quantity(name: str, field: str, oracle: str, provided: Sequence[OracleProperty]) -> None:
    """``name`` is a built-in quantity, a property that ``oracle`` provides or a function by
    import path; the error lists what the oracle provides."""
    own = {item.name for item in provided}
    if name in QUANTITIES or name in own or ":" in name:
        try:
            quantity(name)
        except ValueError as exc:
            raise ValueError(f"{field}: {exc}") from exc
        return
    offered = ", ".join(f"{p.name} [{p.unit}]" for p in provided) or "no properties of its own"
    known = known_quantity(name)
    if known is not None:
        switches = [
            key for key, cls in BUILTIN_ORACLES.items() if name in cls.config_type.model_fields
        ]
        where = ", ".join(f"{key} ({name}: true)" for key in switches)
        where = f"; built-in oracles that return it: {where}" if switches else ""
        raise ValueError(
            f"{field}: {name} [{known.unit}] is not provided by oracle {oracle!r} with these "
            f"settings (it provides {offered}){where}"
        )
    raise ValueError(
        f"{field}: unknown quantity {name!r}; built-in: {', '.join(sorted(QUANTITIES))}; oracle "
        f"{oracle!r} provides {offered}; or a function 'package.module:function' of a structure"
    )


class ObjectiveConfig(StrictModel):
    """One objective: a quantity to maximize or minimize.

    ``reference`` is the hypervolume reference point of this objective (its worst acceptable
    value, in the quantity's units); ``goal``, when given, is the value a structure must reach
    (``>=`` when maximizing, ``<=`` when minimizing) to count as a hit.
    """

    name: QuantityName = Field(
        description="a quantity: built-in, declared by the oracle, or a function"
    )
    direction: Literal["maximize", "minimize"]
    source: Source | None = Field(
        None, description="'oracle' or 'function'; checked against the quantity when given"
    )
    reference: float = Field(description="hypervolume reference point, in the quantity's unit")
    goal: float | None = Field(None, description="the value a hit must reach")

    @model_validator(mode="after")
    def goal_beyond_reference(self) -> Self:
        if self.goal is not None and self.sign * self.goal <= self.sign * self.reference:
            side = "above" if self.direction == "maximize" else "below"
            raise ValueError(
                f"{self.name}: goal {self.goal} must lie {side} the reference {self.reference} "
                f"when the direction is {self.direction}"
            )
        return self

    @property
    def sign(self) -> float:
        """+1 when maximizing, −1 when minimizing: BoTorch maximizes ``sign * value``."""
        return 1.0 if self.direction == "maximize" else -1.0

    def reached(self, value: float) -> bool:
        """Whether ``value`` meets the goal (True when there is none)."""
        if self.goal is None:
            return True
        return self.sign * value >= self.sign * self.goal


class ConstraintConfig(StrictModel):
    """A bound on a quantity, e.g. ``{name: e_above_hull, max: 0.1}`` (eV/atom)."""

    name: QuantityName
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def one_bound(self) -> Self:
        if self.max is None and self.min is None:
            raise ValueError(f"constraint on {self.name} needs max or min")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(
                f"constraint on {self.name}: min {self.min} > max {self.max}, no value satisfies it"
            )
        return self

    def satisfied(self, value: float) -> bool:
        return (self.max is None or value <= self.max) and (self.min is None or value >= self.min)


class CampaignConfig(StrictModel):
    """Everything a campaign needs; ``directory`` holds its durable state."""

    name: str
    directory: Path | None = None
    seed: int = 0
    objectives: tuple[ObjectiveConfig, ...] = Field(min_length=1)
    constraints: tuple[ConstraintConfig, ...] = ()
    oracle: OracleSpec = Field(default_factory=lambda: OracleSpec(name="chgnet"))
    screen: OracleSpec | None = Field(
        None,
        description="a cheaper oracle that relaxes every pick first (e.g. chgnet, with oracle "
        "gpaw); see fidelity",
    )
    fidelity: FidelitySettings = Field(default_factory=FidelitySettings)
    hull: str = Field(
        "chgnet",
        description="a shipped reference hull by oracle name (completed with every MP-20 entry), "
        "or the path of a hull file",
    )
    known_structures: str | None = Field(
        "mp_20",
        description="dataset whose structures make a relaxed result known, not novel (None: "
        "novelty is judged against the campaign's own labels only)",
    )
    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    adapters: AdapterSettings = Field(default_factory=AdapterSettings)
    surrogate: SurrogateSettings = Field(default_factory=SurrogateSettings)
    acquisition: AcquisitionSettings = Field(default_factory=AcquisitionSettings)
    filters: FilterSettings = Field(default_factory=FilterSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    tracking: TrackingSettings = Field(
        default_factory=TrackingSettings,
        validation_alias=AliasChoices("tracking", "mlflow"),
        description="MLflow (also read under its former key, mlflow)",
    )

    @model_validator(mode="after")
    def consistent(self) -> Self:
        try:
            oracle_class = resolve_oracle_class(self.oracle.name)
        except ValueError as exc:
            raise ValueError(f"oracle.name: {exc}") from exc
        try:
            provided = declared_properties_for(oracle_class, self.oracle.settings)
            declare_oracle_properties(self.oracle.name, provided)
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            raise ValueError(f"oracle.settings: {exc}") from exc
        for field, items in (("objective", self.objectives), ("constraint", self.constraints)):
            for item in items:
                check_quantity(item.name, field, self.oracle.name, provided)
        if self.screen is not None:
            self.check_screen()
        elif self.fidelity.oracle_hull is not None:
            raise ValueError(
                "fidelity.oracle_hull: only a two-fidelity campaign (screen) has one; give a "
                "hull file of the oracle's energies as hull"
            )
        for objective in self.objectives:
            expected = quantity(objective.name).source
            if objective.source is not None and objective.source != expected:
                raise ValueError(
                    f"{objective.name} comes from the {expected}, not the {objective.source}"
                )
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"objectives: repeated quantity in {names}")
        if not self.modelled:
            raise ValueError(
                "objectives/constraints: none comes from the oracle, so there is nothing to "
                "learn or evaluate; add an oracle quantity (e.g. e_above_hull)"
            )
        unknown = set(self.generator.conditions) - set(self.adapters.properties)
        if unknown:
            raise ValueError(
                f"generator.conditions: {', '.join(sorted(unknown))} not in adapters.properties"
            )
        if self.adapters.prior is not None:
            canonical_dataset_name(self.adapters.prior)
            if not self.adapters.properties:
                raise ValueError("adapters.prior: name the adapters' properties to learn")
        if self.surrogate.prior is not None:
            canonical_dataset_name(self.surrogate.prior)
        if self.known_structures is not None:
            canonical_dataset_name(self.known_structures)
        if (
            "e_above_hull" in self.modelled
            and self.hull in SHIPPED_HULLS
            and self.hull not in (self.oracle.name, self.screen and self.screen.name)
        ):
            raise ValueError(
                f"hull: the shipped {self.hull} hull holds {self.hull}'s energies; results of "
                f"oracle {self.oracle.name} stand on another energy footing and cannot be placed "
                f"on it. Build a hull with `matterloop reference build --oracle "
                f"{self.oracle.name}` and give its file as hull"
            )
        unknown = set(self.surrogate.prior_quantities or ()) - set(self.modelled)
        if unknown:
            raise ValueError(
                f"surrogate.prior_quantities: {', '.join(sorted(unknown))} not among the "
                f"modelled (oracle) quantities {', '.join(self.modelled)}"
            )
        if self.generator.source != "generator":
            canonical_dataset_name(self.generator.source)
            if self.filters.novelty_reference is not None:
                raise ValueError(
                    "generator.source: screening a dataset's known structures needs "
                    "filters.novelty_reference: null"
                )
        if self.generator.learn_from_labels.every and self.generator.source != "generator":
            raise ValueError(
                "generator.learn_from_labels: a campaign that screens a dataset has no "
                "generator to fine-tune"
            )
        for name, value in self.generator.conditions.items():
            if value == "beyond_front" and name not in names:
                raise ValueError(
                    f"generator.conditions.{name}: beyond_front needs {name} as an objective"
                )
        return self

    def check_screen(self) -> None:
        """The screen is a known oracle with valid settings, at least ``acquisition.q``
        structures are screened per round, and its assumed cost is below the oracle's (a
        warning otherwise: screening would then cost more than it saves)."""
        screen = self.screen
        try:
            screen_class = resolve_oracle_class(screen.name)
            declare_oracle_properties(
                screen.name, declared_properties_for(screen_class, screen.settings)
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"screen: {exc}") from exc
        if self.fidelity.screened < self.acquisition.q:
            raise ValueError(
                f"fidelity.screened ({self.fidelity.screened}) must be at least acquisition.q "
                f"({self.acquisition.q}): the oracle's picks are chosen among the screened"
            )
        if self.fidelity.screen_cost_s >= self.fidelity.oracle_cost_s:
            warnings.warn(
                f"fidelity: the screen ({screen.name}, {self.fidelity.screen_cost_s:g} CPU-s) is "
                f"assumed no cheaper than the oracle ({self.oracle.name}, "
                f"{self.fidelity.oracle_cost_s:g} CPU-s); screening then costs more than it saves",
                SlowScreenWarning,
                stacklevel=2,
            )

    def screen_provides(self, name: str) -> bool:
        """Whether the screen returns the oracle quantity ``name`` of its own (E_hull, which
        depends on the hull's energy footing, is not one)."""
        if self.screen is None or name == "e_above_hull":
            return False
        if name in QUANTITIES:
            return True
        screen_class = resolve_oracle_class(self.screen.name)
        return name in {p.name for p in declared_properties_for(screen_class, self.screen.settings)}

    def round_seed(self, number: int) -> int:
        """The seed of round ``number``'s generation and random draws, distinct per round and
        campaign seed."""
        return self.seed * 100_003 + number

    @property
    def campaign_dir(self) -> Path:
        return self.directory or Path("campaigns") / self.name

    @property
    def modelled(self) -> list[str]:
        """Oracle quantities the surrogate predicts: oracle objectives, then constraints."""
        names = [o.name for o in self.objectives] + [c.name for c in self.constraints]
        return list(dict.fromkeys(n for n in names if quantity(n).source == "oracle"))

    @property
    def computed(self) -> list[str]:
        """Quantities computed from the structure (deterministic functions)."""
        names = [o.name for o in self.objectives] + [c.name for c in self.constraints]
        return list(dict.fromkeys(n for n in names if quantity(n).source == "function"))


def load_campaign_config(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign YAML (:class:`~matterloop.core.config.ConfigError` names
    each bad field)."""
    return load_yaml_config(Path(path), CampaignConfig)
