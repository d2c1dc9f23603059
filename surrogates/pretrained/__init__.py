"""The surrogate shipped with matterloop (see ``MODEL_CARD.md`` beside this file).

``mp20_tensornet/`` is a :class:`~matterloop.surrogates.surrogate.Surrogate` checkpoint: a TensorNet
trained on MP-20 formation energy (eV/atom) and magnetic density (µB/Å³), saved in MatGL's format
under ``network/``, with GP heads calibrated on MP-20 validation structures. Campaigns use its
network as the structure featurizer of their own GP heads.
"""

from __future__ import annotations

from pathlib import Path

from matterloop.surrogates.errors import SurrogateError

SHIPPED_SURROGATE = Path(__file__).with_name("mp20_tensornet")


def default_surrogate() -> Path:
    """The shipped surrogate checkpoint folder."""
    if not (SHIPPED_SURROGATE / "surrogate.json").is_file():
        raise SurrogateError(
            f"{SHIPPED_SURROGATE}: the shipped surrogate is missing from this installation; "
            "train one with `matterloop surrogate train`"
        )
    return SHIPPED_SURROGATE


def default_network() -> Path:
    """The shipped featurizer network, a folder in MatGL's format."""
    return default_surrogate() / "network"
