"""Labels the surrogate starts from: known structures of a dataset (``surrogate.prior``).

A campaign's GP heads otherwise learn from the oracle's labels alone, so the first rounds are an
initial design of random picks and the first BoTorch rounds rest on a handful of labels. Seeding
the heads with labeled structures of MP-20 (DFT magnetic densities in µB/Å³, E_hull in eV/atom on
Materials Project's hull) lets the acquisition rank candidates from round 0. The dataset's labels
come from another level of theory than the campaign's oracle (e.g. CHGNet), and MP-20 holds only
near-stable crystals; the oracle's labels join them round by round.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from matterloop.data.labels import dataset_labeled_structures
from matterloop.data.properties import ConditionError, raw_labels


def prior_labels(
    dataset: str,
    quantities: Sequence[str],
    count: int,
    seed: int,
    data_dir: str | Path | None = None,
    learned: Collection[str] | None = None,
) -> tuple[list[Structure], np.ndarray]:
    """``count`` structures drawn at random (by ``seed``) from the training splits of
    ``dataset``, and their ``(count, len(quantities))`` labels under each quantity's name or an
    alias (``magnetic_density`` from MP-20's ``dft_mag_density``), NaN where the dataset has
    none and for quantities outside ``learned`` (None: all); structures with no label at all are
    left out.
    """
    structures, labels = dataset_labeled_structures(
        dataset, limit=count, seed=seed, data_dir=data_dir
    )

    def column(name: str) -> list[float]:
        if learned is None or name in learned:
            try:
                return raw_labels(name, structures, labels)
            except ConditionError:
                pass  # the dataset does not label this quantity
        return [math.nan] * len(structures)

    table = np.array([column(name) for name in quantities], dtype=float).T
    labeled = ~np.isnan(table).all(axis=-1)
    return [s for s, keep in zip(structures, labeled, strict=True) if keep], table[labeled]
