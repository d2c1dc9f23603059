"""A campaign as one self-contained HTML page: :func:`render_report`, ``matterloop report``.

The page needs no network to be read: the plots and the pictures of the structures are PNG data
URIs, each front member's CIF is a ``data:`` link with a ``download`` name, and the CSS and the
table's sort script are inline. Sections: the campaign at a glance, the Pareto front after each
round (earlier fronts faded), hypervolume against oracle calls, the front members (a table sorted
by clicking a header), the rounds, and the configuration the campaign stored.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from ase.data.colors import jmol_colors
from ase.io import write as write_atoms
from matplotlib.figure import Figure
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from matterloop.agent.campaign.config import CampaignConfig, ConstraintConfig
from matterloop.agent.campaign.labels import (
    campaign_hull,
    campaign_label_table,
    novel_rows,
    stability_note,
)
from matterloop.agent.campaign.pareto import (
    front_table,
    fronts_figure,
    hypervolume_figure,
    hypervolume_trace,
    hypervolume_unit,
)
from matterloop.agent.campaign.pareto import (
    hypervolume as pareto_hypervolume,
)
from matterloop.agent.campaign.quantities import quantity
from matterloop.agent.campaign.report_page import PAGE
from matterloop.agent.campaign.store import CampaignStore
from matterloop.agent.campaign.summary import RoundSummary
from matterloop.core.results_file import ResultRecord
from matterloop.oracles.hull import ReferenceHull

SYMPREC = 0.1
"""Symmetry tolerance of the space groups (Å), as in MatterGen's evaluation."""

ROUND_COLUMNS = (
    ("round", "round"),
    ("method", "method"),
    ("candidates_generated", "generated"),
    ("candidates_kept", "kept"),
    ("evaluated", "evaluated"),
    ("oracle_failures", "failed"),
    ("hit_rate", "hit rate"),
    ("total_oracle_calls", "oracle calls"),
    ("hits", "hits so far"),
    ("known_results", "known after relaxation"),
    ("hypervolume", "hypervolume"),
    ("novel_hypervolume", "novel hypervolume"),
    ("pareto_size", "front size"),
)
"""Summary entries shown per round, and their headings."""


def data_uri(content: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def structure_png(structure: Structure) -> bytes:
    """A picture of the unit cell, slightly rotated (atoms at 0.45 of their covalent radii)."""
    buffer = io.BytesIO()
    atoms = AseAtomsAdaptor.get_atoms(structure)
    write_atoms(
        buffer, atoms, format="png", rotation="10x,-15y", show_unit_cell=2, radii=0.45, scale=30
    )
    return buffer.getvalue()


def element_legend(structure: Structure) -> str:
    """The structure's elements, each after a dot of its colour in :func:`structure_png`."""
    items = []
    for element in structure.composition.elements:
        red, green, blue = (round(255 * c) for c in jmol_colors[element.Z])
        items.append(
            f'<span class="element"><span class="dot" style="background: rgb({red}, {green}, '
            f'{blue})"></span>{html.escape(element.symbol)}</span>'
        )
    return "".join(items)


def space_group(structure: Structure) -> str:
    """International symbol and number at ``SYMPREC``, e.g. ``Fm-3m (225)``."""
    analyzer = SpacegroupAnalyzer(structure, symprec=SYMPREC)
    return f"{analyzer.get_space_group_symbol()} ({analyzer.get_space_group_number()})"


def novelty_note(config: CampaignConfig) -> str:
    """How the novelty column was judged."""
    reference = config.known_structures
    against = (
        f"no structure of {reference} and no earlier label of the campaign"
        if reference
        else "no earlier label of the campaign (known_structures: null, so known phases are not "
        "recognised)"
    )
    return (
        "Novelty is judged on the relaxed structure: novel means it matches "
        f"{against} (pymatgen StructureMatcher, ltol 0.2, stol 0.3, angle 5°); known, a "
        f"structure of {reference}; repeat, an earlier label; formula_without_structure, no "
        "structure matches but the formula is an entry whose positions are not at hand. A hit "
        "is feasible, stable (E_hull ≤ 0.1 eV/atom on the hull grown by the campaign's "
        "results), novel and meets every goal."
    )


def constraint_text(constraint: ConstraintConfig) -> str:
    """E.g. ``e_above_hull ≤ 0.1 eV/atom``."""
    bounds = [
        f"{sign} {bound:g}"
        for sign, bound in (("≥", constraint.min), ("≤", constraint.max))
        if bound is not None
    ]
    return f"{constraint.name} {' and '.join(bounds)} {quantity(constraint.name).unit}".strip()


def shown_quantities(config: CampaignConfig, table: pd.DataFrame) -> list[str]:
    """The objectives, then the constrained quantities, then E_hull when labeled."""
    names = [o.name for o in config.objectives] + [c.name for c in config.constraints]
    if "e_above_hull" in table.columns:
        names.append("e_above_hull")
    return list(dict.fromkeys(names))


def cell(text: object, sort_key: object | None = None, css: str = "") -> str:
    """A ``<td>``: escaped ``text``, sorted by ``sort_key`` (default: the text)."""
    key = text if sort_key is None else sort_key
    attributes = f' data-sort="{html.escape(str(key))}"'
    if css:
        attributes += f' class="{css}"'
    return f"<td{attributes}>{html.escape(str(text))}</td>"


def number_cell(value: float) -> str:
    if math.isnan(value):
        return cell("—", "", "num")
    return cell(f"{value:.4g}", repr(float(value)), "num")


def header(label: str, unit: str = "", css: str = "", sortable: bool = True) -> str:
    unit_html = f'<span class="unit">{html.escape(unit)}</span>' if unit else ""
    attributes = f' class="{css}"' if css else ""
    if sortable:
        attributes += ' data-sortable="true" aria-sort="none" title="click to sort"'
    return f'<th{attributes}><span class="label">{html.escape(label)}</span>{unit_html}</th>'


def front_section(
    config: CampaignConfig,
    table: pd.DataFrame,
    front: pd.DataFrame,
    evaluations: dict[str, ResultRecord],
    hull: ReferenceHull | None,
) -> tuple[str, str, str]:
    """The head, rows and note of the table of ``front``, the front of the label ``table``
    (E_hull on ``hull``)."""
    names = shown_quantities(config, table)
    directions = {o.name: " ↑" if o.direction == "maximize" else " ↓" for o in config.objectives}
    head = "".join(
        [
            header("structure", sortable=False),
            header("id"),
            header("formula"),
            header("space group"),
            *(
                header(
                    name.replace("_", " ") + directions.get(name, ""), quantity(name).unit, "num"
                )
                for name in names
            ),
            header("oracle"),
            header("round", css="num"),
            header("novelty"),
        ]
    )
    rows = []
    for _, row in front.iterrows():
        evaluation = evaluations[row["id"]]
        structure = evaluation.result.structure or evaluation.result.initial_structure
        name = f"{row['id']}_{row['formula']}.cif"
        picture = data_uri(structure_png(structure), "image/png")
        cif = data_uri(structure.to(fmt="cif").encode(), "chemical/x-cif")
        group = space_group(structure)
        cells = [
            f'<td class="picture"><img src="{picture}" alt="{html.escape(row["formula"])} '
            f'unit cell"><div class="legend">{element_legend(structure)}</div>'
            f'<a href="{cif}" download="{html.escape(name)}">download CIF</a></td>',
            cell(row["id"]),
            cell(row["formula"]),
            cell(group, group.rsplit("(", 1)[-1].rstrip(")")),
            *(number_cell(float(row[name])) for name in names),
            cell(evaluation.result.provenance.oracle),
            cell(row["round"], css="num"),
            cell(row["novelty"] or "—"),
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    notes = [
        "No feasible structure yet." if front.empty else "",
        "Objectives: ↑ maximized, ↓ minimized. Values are those of the relaxed structure (the "
        f"oracle's labels, computed quantities); space groups by spglib at symprec {SYMPREC} Å.",
        novelty_note(config),
        stability_note(config, hull) + ".",
    ]
    return head, "\n".join(rows), " ".join(html.escape(n) for n in notes if n)


def rounds_section(summaries: list[RoundSummary]) -> tuple[str, str]:
    """The rounds' table head and rows."""
    head = "".join(
        header(label, css="" if key == "method" else "num", sortable=False)
        for key, label in ROUND_COLUMNS
    )
    rows = []
    for summary in summaries:
        cells = []
        for key, _ in ROUND_COLUMNS:
            value = getattr(summary, key)
            if key == "method":
                cells.append(cell(value or "—"))
            elif isinstance(value, float):
                text = f"{value:.0%}" if key == "hit_rate" else f"{value:.4g}"
                cells.append(cell(text, value, "num"))
            else:
                cells.append(cell("—" if value is None else value, css="num"))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return head, "\n".join(rows)


def confirmation_sections(config: CampaignConfig, store: CampaignStore) -> str:
    """A section per confirmation of the front (``matterloop confirm``): each member's values
    from the campaign's oracle and from the confirming one, side by side."""
    sections = []
    for path in sorted((store.root / "confirm").glob("*/table.csv")):
        oracle = path.parent.name
        front = pd.read_csv(path, keep_default_na=False, na_values=[""])
        names = [n for n in config.modelled if n != "e_above_hull"]
        head = "".join(
            [header("id"), header("formula")]
            + [
                header(f"{quantity(n).header} ({who})", quantity(n).unit)
                for n in names
                for who in (config.oracle.name, oracle)
            ]
            + [header(f"hit ({config.oracle.name})"), header(f"hit ({oracle})")]
        )
        rows = []
        for _, row in front.iterrows():
            cells = [cell(row["id"]), cell(row["formula"])]
            for name in names:
                cells += [number_cell(row[name]), number_cell(row[f"{name}_confirmed"])]
            cells += [
                cell("yes" if row["hit"] else "no"),
                cell("yes" if row["hit_confirmed"] else "no"),
            ]
            rows.append(f"<tr>{''.join(cells)}</tr>")
        failed = int((~front["ok_confirmed"].astype(bool)).sum())
        note = (
            f"{len(front)} members relabeled by {oracle} on the campaign's relaxed structures; "
            f"{failed} failed. Hits after confirmation use {oracle}'s values with the campaign's "
            f"novelty and E_hull ({stability_note(config, campaign_hull(config))})."
        )
        sections.append(
            f"<section>\n  <h2>Front confirmed by {html.escape(oracle)}</h2>\n"
            f'  <div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>\n"
            f'  <p class="note">{html.escape(note)}</p>\n</section>\n'
        )
    return "".join(sections)


def render_report(config: CampaignConfig, store: CampaignStore) -> str:
    """The campaign report of ``store`` as one self-contained HTML page."""
    evaluations = store.evaluations()
    hull = campaign_hull(config)
    table = campaign_label_table(config, hull, evaluations, store.screenings())
    summaries = store.summaries()
    units = [quantity(o.name).unit for o in config.objectives]
    unit = hypervolume_unit(config.objectives)
    trace = hypervolume_trace(table, config.objectives)  # recomputed from the labels
    front = front_table(table, config.objectives)
    front_head, front_rows, front_note = front_section(
        config, table, front, {e.id: e for e in evaluations}, hull
    )
    rounds_head, rounds_rows = rounds_section(summaries)
    objectives = ", ".join(
        f"{o.direction} {o.name} [{quantity(o.name).unit}]" for o in config.objectives
    )
    constraints = ", ".join(constraint_text(c) for c in config.constraints)
    hypervolume = float(trace[-1]) if len(trace) else 0.0
    facts = [
        ("rounds", str(len(summaries))),
        ("oracle calls", str(len(table))),
        ("failed", str(int((~table["ok"]).sum()))),
        ("feasible", str(int(table["feasible"].sum()))),
        ("stable", str(int(table["stable"].sum()))),
        ("novel after relaxation", str(int(table["novel"].sum()))),
        ("hits", str(int(table["hit"].sum()))),
        ("front size", str(len(front))),
        ("hypervolume", f"{hypervolume:.4g}"),
        (
            "novel hypervolume",
            f"{pareto_hypervolume(novel_rows(table), config.objectives):.4g}",
        ),
    ]
    return PAGE.substitute(
        title=html.escape(f"matterloop campaign {config.name}"),
        name=html.escape(config.name),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        objectives=html.escape(objectives),
        constraints=html.escape(constraints or "none"),
        oracle=html.escape(config.oracle.name),
        facts="".join(
            f'<div class="fact"><span class="value">{html.escape(v)}</span>'
            f'<span class="label">{html.escape(k)}</span></div>'
            for k, v in facts
        ),
        pareto_png=data_uri(
            figure_png(fronts_figure(table, config.objectives, units)), "image/png"
        ),
        hypervolume_png=data_uri(
            figure_png(hypervolume_figure(summaries, unit, trace)), "image/png"
        ),
        hypervolume_unit=html.escape(unit),
        front_count=len(front),
        front_head=front_head,
        front_rows=front_rows,
        front_note=front_note,
        confirmation=confirmation_sections(config, store),
        rounds_head=rounds_head,
        rounds_rows=rounds_rows,
        config=html.escape(store.config_path.read_text(encoding="utf-8")),
    )


def write_report(config: CampaignConfig, store: CampaignStore, path: Path) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(config, store), encoding="utf-8")
    return path
