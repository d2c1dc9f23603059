"""The sections of a campaign's configuration that set up its machinery: generation
(:class:`GeneratorSettings`, with :class:`LearningSettings`), adapters, the surrogate, the
acquisition, the budget, two fidelities, the filters and Ray. :class:`CampaignConfig`
(:mod:`matterloop.agent.campaign.config`) holds them with the objectives and constraints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pymatgen.core import Element

from matterloop.core.cluster import CONNECT_TIMEOUT_S
from matterloop.core.config import StrictModel
from matterloop.data.quantities import QuantityName
from matterloop.generator.conditioning.properties import element_numbers
from matterloop.generator.sampling import SamplerConfig
from matterloop.surrogates.config import HeadConfig

RADIOACTIVE = "radioactive"
"""In ``filters.exclude_elements``: every element without a stable isotope."""


class LearningSettings(StrictModel):
    """Reward fine-tuning of the generator on the campaign's own results every ``every`` rounds
    (0: never; :mod:`matterloop.generator.training.reward`): the relaxed structures of hits weigh
    ``hit_weight``, novel results within ``near_e_hull`` eV/atom of the hull ``near_hit_weight``,
    failures, known phases and the rest nothing; every batch mixes in ``replay_fraction`` MP-20
    training crystals as the anchor. Skipped while fewer than ``min_rewarded`` results are
    rewarded. The fine-tuned model is a campaign artifact; later rounds sample it (with the
    adapters, which the next adapter refit trains on it)."""

    every: int = Field(0, ge=0)
    steps: int = Field(200, gt=0)
    lr: float = Field(5e-5, gt=0)
    batch_size: int = Field(32, gt=0)
    replay_fraction: float = Field(0.5, ge=0, lt=1)
    hit_weight: float = Field(1.0, gt=0)
    near_hit_weight: float = Field(0.25, ge=0)
    near_e_hull: float = Field(0.2, ge=0, description="eV/atom")
    min_rewarded: int = Field(4, gt=0)


class GeneratorSettings(StrictModel):
    """Candidate generation each round.

    ``checkpoint`` None is the shipped base model. ``conditions`` map an adapter property to a
    fixed value, a range (``">0.15"``, ``"0.1<x<0.2"``), or ``beyond_front``: the range past the
    best value on the current Pareto front (by ``target_step`` of the observed spread).
    Conditions apply once adapters have been fitted (see :class:`AdapterSettings`).
    ``type_temperature``: see :class:`matterloop.generator.sampling.SamplerConfig`. ``elements``: a
    chemical system (``Fe-Co-N``) that every sampled structure's elements must come from.
    ``compositions_first`` (with ``elements``): each candidate's composition is drawn from the
    charge-balanced compositions of the system and its subsystems, weighted to the whole system
    and away from the compositions of ``known_structures``
    (:mod:`matterloop.generator.compositions`), and its structure is sampled for it
    (:mod:`matterloop.generator.csp`); False only restricts the atom types. ``wyckoff``: each
    crystal is sampled in a space group with a Wyckoff arrangement drawn from the MP-20 training
    crystals (:mod:`matterloop.generator.symmetry.arrangements`). Off by default: on the shipped
    model it cut the P1 share from 68% to 13% but S.U.N. from 43% to 23%.

    ``source`` ``generator`` samples the diffusion model; a dataset name (``mp_20``) screens that
    dataset's known structures instead, ``num_candidates`` drawn at random each round (the
    screening baseline; novelty filtering must then be off).
    """

    source: str = Field("generator", description="'generator', or a dataset name to screen")
    checkpoint: Path | None = Field(None, description="base or adapted model file")
    num_candidates: int = Field(64, gt=0, description="candidates per round")
    steps: int = Field(100, gt=0, description="sampling steps (MatterGen: 1000)")
    batch_size: int = Field(64, gt=0, description="crystals sampled at once")
    guidance: float = Field(2.0, ge=0, description="classifier-free guidance factor γ")
    type_temperature: float = Field(SamplerConfig.type_temperature, gt=0)
    elements: str | None = Field(None, description="restrict sampled elements, e.g. 'Fe-Co-N'")
    compositions_first: bool = Field(
        True, description="with elements: propose charge-balanced compositions, then structures"
    )
    wyckoff: bool = Field(
        False, description="sample each crystal in a space group and Wyckoff arrangement of MP-20"
    )

    @field_validator("elements")
    @classmethod
    def known_elements(cls, value: str | None) -> str | None:
        if value is not None:
            element_numbers(value)  # ConditionError, a ValueError, names the unknown symbol
        return value

    conditions: dict[QuantityName, str | float | int] = Field(default_factory=dict)
    target_step: float = Field(0.1, gt=0)
    learn_from_labels: LearningSettings = Field(default_factory=LearningSettings)


class AdapterSettings(StrictModel):
    """Adapter fine-tuning on the campaign's labels every ``every`` rounds (0: never), once at
    least ``min_labels`` structures are labeled, for ``properties`` (quantities or
    ``chemical_system``/``space_group``).

    ``prior``: a dataset (``mp_20``) whose labeled training structures (``prior_structures`` of
    them, or all) teach the adapters before the first round (``prior_steps`` steps), so that
    generation is guided from the start, as MatterGen fine-tunes on DFT labels before sampling.
    Its labels must cover ``properties`` under their names or an alias (MP-20's
    ``dft_mag_density`` for ``magnetic_density``; HHI is computed). Each later refit mixes the
    campaign's labels with as many prior structures, so that the oracle's own labels weigh half.
    """

    every: int = Field(0, ge=0)
    properties: tuple[QuantityName, ...] = ()
    steps: int = Field(300, gt=0)
    min_labels: int = Field(16, gt=0)
    prior: str | None = Field(None, description="dataset the adapters learn first, e.g. mp_20")
    prior_steps: int = Field(2000, gt=0, description="steps of the fit on the prior dataset")
    prior_structures: int | None = Field(
        None, gt=1, description="prior structures for that fit, drawn at random (None: all)"
    )


class SurrogateSettings(StrictModel):
    """The surrogate that predicts oracle quantities: a MatGL network as featurizer (a folder
    in MatGL's format; None: the network shipped with matterloop, a TensorNet trained on MP-20
    formation energies and magnetic densities) and one calibrated GP head per oracle quantity.

    ``prior``: a dataset (``mp_20``) whose labeled structures (``prior_labels`` of them, drawn at
    random from its training splits) join the heads' data before the first round, for the
    modelled quantities in ``prior_quantities`` (None: every one the dataset labels); see
    :mod:`matterloop.agent.campaign.prior`. BoTorch picks once every modelled quantity has
    ``acquisition.initial_labels`` labels, so with a prior for all of them it picks from round 0;
    a quantity left out (e.g. E_hull, since MP-20 holds only near-stable crystals) waits for the
    oracle's labels of the initial design.
    """

    network: Path | None = None
    head: HeadConfig = Field(default_factory=HeadConfig)
    prior: str | None = Field(None, description="dataset whose labels seed the heads, e.g. mp_20")
    prior_labels: int = Field(500, ge=4, description="structures of the prior dataset")
    prior_quantities: tuple[QuantityName, ...] | None = Field(
        None, description="modelled quantities taught by the prior (None: all it labels)"
    )


class AcquisitionSettings(StrictModel):
    """How the picks of a round are chosen.

    ``qLogNEHVI``: BoTorch's noisy expected hypervolume improvement with constraints, over the
    discrete candidate set. ``random``: uniform picks (a baseline). Until every modelled quantity
    has ``initial_labels`` labels, picks are random (the initial design).
    """

    kind: Literal["qLogNEHVI", "random"] = "qLogNEHVI"
    q: int = Field(4, gt=0, description="oracle evaluations per round")
    initial_labels: int = Field(8, ge=4, description="labels per quantity before BoTorch picks")
    mc_samples: int = Field(128, gt=0, description="quasi-Monte Carlo samples of the posterior")


class BudgetSettings(StrictModel):
    """The campaign stops after ``rounds`` rounds, ``oracle_calls`` evaluations of ``oracle``
    or ``oracle_cpu_seconds`` CPU-seconds of oracle work (both fidelities: each result's wall
    time times ``ray.oracle_cpus``), whichever comes first."""

    rounds: int = Field(10, gt=0)
    oracle_calls: int | None = Field(None, gt=0, description="total oracle evaluations")
    oracle_cpu_seconds: float | None = Field(
        None, gt=0, description="total CPU-seconds of oracle work, screen included"
    )


class FidelitySettings(StrictModel):
    """Two fidelities (with ``screen``): each round the screen relaxes ``screened`` candidates
    chosen by the acquisition (Ray tasks); of those that relax to a novel structure, the
    acquisition then chooses ``acquisition.q`` for ``oracle``, which labels the screen's relaxed
    geometry (:mod:`matterloop.agent.campaign.fidelity`). The choice is cost-aware: each candidate's
    acquisition value is divided by its predicted oracle cost in CPU-seconds, a power law in the
    number of atoms fitted to the campaign's own wall times; ``screen_cost_s`` and
    ``oracle_cost_s`` (CPU-seconds per structure) stand in until a fidelity has
    ``min_timings`` results.

    E_hull is the screen's on ``hull`` (the screen's complete hull) unless ``oracle_hull``, a
    hull file of the oracle's own energies (``matterloop reference build --oracle gpaw
    --elements Fe,Mn``), holds every phase of MP's hull of a result's chemical system: there it
    is the oracle's (:func:`matterloop.agent.campaign.labels.campaign_label_table`)."""

    screened: int = Field(8, gt=0, description="candidates the screen relaxes per round")
    screen_cost_s: float = Field(30.0, gt=0, description="assumed CPU-s per screen result")
    oracle_cost_s: float = Field(600.0, gt=0, description="assumed CPU-s per oracle result")
    min_timings: int = Field(3, ge=2, description="results of a fidelity before its cost is fitted")
    oracle_hull: str | None = Field(
        None,
        description="hull file of the oracle's energies: E_hull is the oracle's in the chemical "
        "systems where it holds every phase of MP's hull, the screen's elsewhere",
    )


class FilterSettings(StrictModel):
    """Candidates kept for scoring: structurally valid (distances ≥ 0.5 Å), with at least
    ``min_elements`` and at most ``max_elements`` elements (MP-20 has at most 7, 99.9% at most
    5; E_hull of a composition with many elements needs a convex hull of as many dimensions,
    which becomes intractable), optionally charge-balanced (SMACT), not matching each other or
    a labeled structure, and novel against ``novelty_reference`` (a dataset name such as
    ``mp_20``; None skips it). The shipped configs set ``min_elements: 2`` (the shipped
    generator's elemental cells are 9% of its samples but 7.5% of them are S.U.N., against 45%
    of the others; ``bench/sun.py``) and ``require_smact: true`` (alloys pass SMACT; what fails
    it is mostly anion-rich cells such as HgCl6 or PF11, which CHGNet places near the hull but
    no chemist would make). ``max_atoms`` caps the sites per cell, for oracles whose cost grows
    steeply with it (plane-wave DFT: about N³); the generator then draws its cell sizes up to
    it. ``exclude_elements`` names elements no candidate may contain (symbols, or ``radioactive``
    for every element without a stable isotope: Tc, Pm and Z ≥ 84, all of which MP-20 and so
    the generator hold)."""

    min_elements: int = Field(1, gt=0)
    max_elements: int = Field(6, gt=0)
    max_atoms: int | None = Field(None, gt=0, description="most sites per cell (None: any)")
    require_smact: bool = False
    exclude_elements: tuple[str, ...] = Field(
        (), description="element symbols, or radioactive (Tc, Pm, Z ≥ 84)"
    )
    novelty_reference: str | None = "mp_20"
    data_dir: Path | None = None

    @field_validator("exclude_elements")
    @classmethod
    def _known_elements(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        symbols: list[str] = []
        for name in names:
            if name == RADIOACTIVE:
                symbols += [el.symbol for el in Element if el.is_radioactive]
            elif name in Element.__members__:
                symbols.append(name)
            else:
                raise ValueError(f"{name!r} is neither an element symbol nor {RADIOACTIVE!r}")
        return tuple(sorted(set(symbols), key=lambda symbol: Element(symbol).Z))

    @model_validator(mode="after")
    def _element_range(self) -> FilterSettings:
        if self.min_elements > self.max_elements:
            raise ValueError(
                f"min_elements ({self.min_elements}) is above max_elements ({self.max_elements})"
            )
        return self


class RaySettings(StrictModel):
    """Ray: a local cluster of ``num_cpus`` (None: all) unless ``address`` names a running one
    (``"auto"``, ``"ray://host:10001"`` or ``"host:6379"``). Each oracle evaluation is a task of
    ``oracle_cpus`` CPUs (as many run at once as CPUs allow); a task whose worker or node dies is
    retried up to ``max_retries`` times. Generation and adapter refits request
    ``generator_gpus`` GPUs (0 on a laptop) and then run their network on CUDA; more than the
    cluster has is an error. An ``address`` that does not answer within ``connect_timeout_s``
    seconds stops the campaign with an error naming it."""

    address: str | None = None
    num_cpus: int | None = Field(None, gt=0)
    oracle_cpus: float = Field(1.0, gt=0)
    generator_gpus: float = Field(0.0, ge=0)
    max_retries: int = Field(3, ge=0)
    connect_timeout_s: float = Field(
        CONNECT_TIMEOUT_S, gt=0, le=600, description="seconds for the address to answer"
    )
