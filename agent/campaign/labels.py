"""The campaign's labeled data as a table: one row per oracle evaluation.

Columns: ``id``, ``round``, ``formula`` (of the relaxed structure), ``ok``, ``failure``,
``novelty`` (of the relaxed structure, see :func:`judge_novelty`), one column per modelled
(oracle) quantity and per computed quantity (NaN where undefined), ``e_above_hull`` (eV/atom) and
``stable`` when the campaign has a hull, ``feasible`` (labeled, every objective defined and every
constraint met), ``novel`` and ``hit``: feasible, stable (E_hull ≤ 0.1 eV/atom), novel after
relaxation (which also makes it unique among the campaign's labels) and every objective's goal
reached. Without a hull for the campaign's oracle, stability is unknown and there are no hits.

E_hull is the *current* value: every labeled structure is placed on the reference hull plus all
the campaign's other results (:meth:`matterloop.oracles.hull.ReferenceHull.e_above_hull_among`), so
of two results in one chemical system only the lower can sit on the hull, and a result's E_hull
rises when a later result undercuts it. Each round's ``labels.csv`` keeps the values as they were
then. Computed quantities are taken on the relaxed structure.

In a two-fidelity campaign (``screen``) the table holds the expensive oracle's results; where
the hull holds the screen's energies (the shipped CHGNet hull for a GPAW campaign), a result's
E_hull is the screen's E_hull of the same structure, as :func:`stability_fidelity` says, unless
``fidelity.oracle_hull`` (:class:`OracleHull`) holds the oracle's energies of every phase of MP's
hull of its chemical system: there it is the oracle's. Column ``e_hull_from`` names whose
energies each E_hull compares.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Structure

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.quantities import oracle_values
from matterloop.core.errors import ConfigError, UndefinedQuantity
from matterloop.core.result import OracleResult
from matterloop.core.results_file import ResultRecord
from matterloop.data.computed import computed_values
from matterloop.generator.evaluation import MATCHER_SETTINGS, Novelty, ReferenceSet, novelty_of
from matterloop.oracles.hull import ReferenceHull
from matterloop.oracles.references import SHIPPED_HULLS, load_hull
from matterloop.oracles.stability import STABLE_E_HULL

BASE_COLUMNS = ["id", "round", "formula", "ok", "failure", "novelty"]
KNOWN_NOVELTIES = tuple(n.value for n in Novelty if n is not Novelty.NOVEL)
"""Novelty values of a labeled result that is not new: a known structure, a repeat of an earlier
label, or possibly an MP-20 entry whose positions are not at hand."""


def campaign_hull(config: CampaignConfig) -> ReferenceHull | None:
    """The reference hull of ``config.hull`` (a hull file, or the complete hull of the oracle of
    that name) when it can hold the energies of the campaign's oracle or screen, else None
    (stability unknown).

    A campaign that models E_hull always gets its hull; a result of another footing is then
    refused when it is placed on it (the config check names the mismatch first)."""
    footings = {config.oracle.name} | ({config.screen.name} if config.screen else set())
    modelled = "e_above_hull" in config.modelled
    if not modelled and config.hull in SHIPPED_HULLS and config.hull not in footings:
        return None
    hull = load_hull(config.hull, config.filters.data_dir)
    if not modelled and hull_oracle(hull) not in footings:
        return None
    return hull


def hull_oracle(hull: ReferenceHull) -> str:
    """The name of the oracle whose energies ``hull`` holds."""
    return hull.source.split(" ")[0]


def stability_fidelity(config: CampaignConfig, hull: ReferenceHull | None) -> str | None:
    """Whose E_hull a result gets: ``"screen"`` when the hull holds the screen's energies (a
    two-fidelity campaign whose expensive oracle has no hull of its own), ``"oracle"`` when it
    holds the oracle's, None without a hull."""
    if hull is None:
        return None
    if config.screen is not None and hull_oracle(hull) == config.screen.name:
        return "screen"
    return "oracle"


@dataclass(frozen=True)
class OracleHull:
    """The expensive oracle's own hull in a two-fidelity campaign (a hull file such as
    ``matterloop reference build --oracle gpaw --elements Fe,Mn`` writes), trusted in the
    chemical systems where it holds every phase of ``ground_states`` (MP-20's DFT hull):
    elsewhere a result could sit low on it only because a competing phase was never computed."""

    hull: ReferenceHull
    ground_states: ReferenceHull

    def covers(self, composition: Composition) -> bool:
        """Whether E_hull of ``composition`` on this hull is complete."""
        elements = (el.symbol for el in composition.elements)
        return self.hull.holds_phases_of(self.ground_states, elements)

    def systems(self) -> list[str]:
        """The largest chemical systems it covers, e.g. ``["Fe-Mn"]``."""
        systems = {
            frozenset(el.symbol for el in Composition(formula).elements)
            for formula in self.hull.energies
        }
        covered = [s for s in systems if self.hull.holds_phases_of(self.ground_states, s)]
        return sorted(
            "-".join(sorted(s)) for s in covered if not any(s < other for other in covered)
        )


def oracle_hull(config: CampaignConfig) -> OracleHull | None:
    """The :class:`OracleHull` of ``config.fidelity.oracle_hull`` (None without one); a
    :class:`ConfigError` when its file is missing or holds another oracle's energies."""
    path = config.fidelity.oracle_hull
    if path is None:
        return None
    return load_oracle_hull(path, config.oracle.name, config.filters.data_dir)


@functools.cache
def load_oracle_hull(path: str, oracle: str, data_dir: str | None) -> OracleHull:
    try:
        hull = ReferenceHull.load(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"fidelity.oracle_hull: cannot read {path}: {exc}") from exc
    if hull_oracle(hull) != oracle:
        raise ConfigError(
            f"fidelity.oracle_hull: {path} holds the energies of {hull.source}, not of the "
            f"oracle {oracle}; build it with `matterloop reference build --oracle {oracle} "
            "--elements ...`"
        )
    return OracleHull(hull, ReferenceHull.from_mp20(data_dir))


def judge_novelty(
    result: OracleResult, reference: ReferenceSet | None, earlier: Sequence[Structure]
) -> str:
    """The :class:`~matterloop.generator.evaluation.Novelty` of a result's relaxed structure against
    the ``reference`` set and the ``earlier`` relaxed structures of the campaign (MatterGen's
    matcher: ltol 0.2, stol 0.3, 5°); ``""`` for a failed result."""
    if not result.ok:
        return ""
    matcher = StructureMatcher(**MATCHER_SETTINGS)
    return novelty_of(result.structure, reference, earlier, matcher).value


def current_e_above_hull(
    evaluations: Sequence[ResultRecord], hull: ReferenceHull
) -> dict[str, float]:
    """E_hull (eV/atom) of each labeled evaluation against ``hull`` plus all the other labeled
    results; a result of another footing than the hull's is a :class:`ValueError`."""
    labeled = [e for e in evaluations if e.result.ok]
    for evaluation in labeled:
        hull.check_result(evaluation.result)
    values = hull.e_above_hull_among(
        [(e.result.structure.composition, e.result.energy_per_atom) for e in labeled]
    )
    return {e.id: value for e, value in zip(labeled, values, strict=True)}


def label_row(
    evaluation: ResultRecord,
    config: CampaignConfig,
    hull: ReferenceHull | None,
    e_above_hull: float,
    e_hull_from: str,
) -> dict[str, object]:
    result = evaluation.result
    structure = result.structure or result.initial_structure
    row: dict[str, object] = {
        "id": evaluation.id,
        "round": evaluation.round,
        "formula": structure.composition.reduced_formula,
        "ok": result.ok,
        "failure": "" if result.ok else f"{result.failure.kind.value}: {result.failure.reason}",
        "novelty": evaluation.novelty or "",
    }
    others = [name for name in config.modelled if name != "e_above_hull"]
    row.update(oracle_values(result, others, hull))
    row["e_above_hull"] = e_above_hull
    row["e_hull_from"] = e_hull_from if not math.isnan(e_above_hull) else ""
    for name in config.computed:
        try:
            row.update(computed_values(structure, [name]))
        except UndefinedQuantity:
            row[name] = math.nan
    objectives = [row[o.name] for o in config.objectives]
    constraints_met = all(
        not math.isnan(row[c.name]) and c.satisfied(row[c.name]) for c in config.constraints
    )
    row["stable"] = bool(e_above_hull <= STABLE_E_HULL)  # False for NaN
    row["feasible"] = bool(
        result.ok and not any(math.isnan(v) for v in objectives) and constraints_met
    )
    row["novel"] = row["novelty"] == Novelty.NOVEL.value
    row["hit"] = (
        row["feasible"]
        and row["stable"]
        and row["novel"]
        and all(o.reached(row[o.name]) for o in config.objectives)
    )
    return row


def label_table(
    evaluations: Sequence[ResultRecord],
    config: CampaignConfig,
    hull: ReferenceHull | None,
    e_above_hull: Mapping[str, float] | None = None,
    e_hull_from: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per evaluation (see the module docstring); ``e_above_hull``, by id, replaces the
    E_hull of the evaluations on ``hull`` (in a two-fidelity campaign whose hull holds the
    screen's energies, the screen's E_hull of the same structures), and ``e_hull_from``, by id,
    names whose energies gave it (default: the hull's oracle)."""
    columns = [
        *BASE_COLUMNS,
        *config.modelled,
        *config.computed,
        "e_above_hull",
        "e_hull_from",
        "stable",
        "feasible",
        "novel",
        "hit",
    ]
    columns = list(dict.fromkeys(columns))
    if e_above_hull is not None:
        e_hull = dict(e_above_hull)
    else:
        e_hull = current_e_above_hull(evaluations, hull) if hull is not None else {}
    default = hull_oracle(hull) if hull is not None else ""
    sources = e_hull_from or {}
    rows = [
        label_row(e, config, hull, e_hull.get(e.id, math.nan), sources.get(e.id, default))
        for e in evaluations
    ]
    return pd.DataFrame(rows, columns=columns)


def campaign_label_table(
    config: CampaignConfig,
    hull: ReferenceHull | None,
    evaluations: Sequence[ResultRecord],
    screenings: Sequence[ResultRecord] = (),
) -> pd.DataFrame:
    """The label table of a campaign's oracle results ``evaluations``. Where the hull holds the
    screen's energies, each result's E_hull is that of the screen's result of the same structure
    on the hull grown by all of ``screenings``; but where the oracle's own hull
    (:func:`oracle_hull`) covers a result's chemical system, it is the oracle's, on that hull
    grown by the oracle's results there."""
    if stability_fidelity(config, hull) != "screen":
        return label_table(evaluations, config, hull)
    e_hull = current_e_above_hull(screenings, hull)
    sources = {e.id: config.screen.name for e in evaluations}
    own = oracle_hull(config)
    if own is not None:
        covered = [
            e for e in evaluations if e.result.ok and own.covers(e.result.structure.composition)
        ]
        e_hull.update(current_e_above_hull(covered, own.hull))
        sources.update({e.id: config.oracle.name for e in covered})
    return label_table(evaluations, config, hull, e_hull, sources)


def stability_note(config: CampaignConfig, hull: ReferenceHull | None) -> str:
    """Where a result's E_hull comes from, in words, for the front's readers."""
    fidelity = stability_fidelity(config, hull)
    if fidelity is None:
        return "stability unknown: no hull holds the oracle's energies"
    if fidelity == "oracle":
        return f"E_hull from {config.oracle.name} on the hull of {hull.source}"
    own = oracle_hull(config)
    systems = ", ".join(own.systems()) if own is not None else ""
    if systems:
        return (
            f"E_hull from {config.oracle.name} in {systems} (its own hull holds every phase of "
            f"MP's there), elsewhere from the screen ({config.screen.name}) on the hull of "
            f"{hull.source}"
        )
    return (
        f"E_hull from the screen ({config.screen.name}) on the hull of {hull.source}, not "
        f"from {config.oracle.name}, whose energies have no hull here"
    )


def novel_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a label table whose relaxed structure is novel (an empty table stays a table
    with its columns)."""
    return table[table["novel"].astype(bool)]
