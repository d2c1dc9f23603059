"""Models shipped with matterloop (see ``MODEL_CARD.md`` beside this file)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from matterloop.core.checkpoint import CheckpointError
from matterloop.generator.symmetry.arrangements import ArrangementTable

BASE_MODEL = Path(__file__).with_name("mp20_base.pt")
CSP_MODEL = Path(__file__).with_name("mp20_csp.pt")
ARRANGEMENTS = Path(__file__).with_name("mp20_arrangements.json.gz")


def default_checkpoint() -> Path:
    """The shipped base generator, trained on MP-20."""
    if not BASE_MODEL.is_file():
        raise CheckpointError(
            f"{BASE_MODEL}: the shipped base model is missing from this installation; "
            "pass --checkpoint or train one with `matterloop generator train`"
        )
    return BASE_MODEL


@cache
def default_arrangements() -> ArrangementTable:
    """The Wyckoff arrangements of the MP-20 train and val crystals (see
    :mod:`matterloop.generator.symmetry.arrangements`), what symmetric sampling draws from."""
    return ArrangementTable.load(ARRANGEMENTS)


def default_csp_checkpoint() -> Path:
    """The shipped generator for fixed compositions (crystal-structure prediction): the base
    fine-tuned with visible atom types (``configs/generator/csp.yaml``)."""
    if not CSP_MODEL.is_file():
        raise CheckpointError(
            f"{CSP_MODEL}: the shipped CSP model is missing from this installation; pass "
            "--checkpoint (any model predicts structures, see generator.csp)"
        )
    return CSP_MODEL
