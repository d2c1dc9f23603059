"""The extension point through which per-property adapters act on the network's hidden state."""

from __future__ import annotations

from typing import Protocol

import torch


class BlockHook(Protocol):
    """Called after every block; returns an increment that is added to the atom features.

    A property adapter (MLP on ``[h, property embedding]`` followed by a zero-initialised mix-in
    linear layer) is such a hook: it closes over its per-crystal property embedding and so leaves
    an untouched network unchanged at initialisation.
    """

    def __call__(self, hidden: torch.Tensor, block_index: int, batch: torch.Tensor) -> torch.Tensor:
        """Args: hidden ``(n, H)`` atom features after block ``block_index``; batch ``(n,)`` crystal
        index of each atom. Returns the ``(n, H)`` increment."""
        ...
