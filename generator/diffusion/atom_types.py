"""D3PM discrete diffusion of atom types with an absorbing [MASK] state (Austin et al., 2021).

Vocabulary: the elements Z = 1..MAX_Z as tokens ``Z - 1`` and [MASK] as token ``MAX_Z``.
MAX_Z = 100 (Fm) covers every element of MP-20 and Alex-MP-20 (which stop at Pu, Z = 94) with room
to spare, and matches MatterGen's 101-way vocabulary.

Forward process over discrete steps ``k = 0..T``: at the step from ``j`` to ``j + 1`` each unmasked
atom is masked with probability ``1 / (T - j)``, so after ``k`` steps an atom is masked with
probability ``k / T`` (none at 0, all at T). Continuous time maps to steps by ``k = ⌈t T⌉``, so the
same ``t ∈ (0, 1]`` drives all three corruption processes.

The network predicts ``p̃(x_0 | x_t)`` over the elements only (a clean type is never [MASK]); the
reverse kernel ``p(x_s | x_t)`` follows from it and the forward process.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from matterloop.generator.diffusion.scatter import crystal_mean

MAX_Z = 100
MASK_TOKEN = MAX_Z
VOCAB_SIZE = MAX_Z + 1


def atomic_numbers_to_tokens(atomic_numbers: torch.Tensor) -> torch.Tensor:
    """Tokens ``Z - 1`` of atomic numbers ``(n,)`` in 1..MAX_Z."""
    if atomic_numbers.numel() and (atomic_numbers.min() < 1 or atomic_numbers.max() > MAX_Z):
        raise ValueError(f"atomic numbers must lie in 1..{MAX_Z}")
    return atomic_numbers - 1


def tokens_to_atomic_numbers(tokens: torch.Tensor) -> torch.Tensor:
    """Atomic numbers of element tokens ``(n,)``; raises if a [MASK] is left."""
    if bool((tokens == MASK_TOKEN).any()):
        raise ValueError("cannot convert [MASK] tokens to atomic numbers")
    return tokens + 1


@dataclass(frozen=True)
class AtomTypeDiffusion:
    """Absorbing-state D3PM.

    Attributes:
        num_steps: ``T``.
        hybrid_lambda: weight λ of the auxiliary cross-entropy in ``L_vb + λ L_ce``.
    """

    num_steps: int = 1000
    hybrid_lambda: float = 0.01

    def discrete_step(self, t: torch.Tensor) -> torch.Tensor:
        """Discrete steps ``⌈t T⌉`` (long, in 0..T) of continuous times ``t`` in [0, 1].

        ``t T`` within a few float epsilons above an integer counts as that integer, so that the
        grid ``t = i/T`` maps to ``i`` in any float precision.
        """
        tolerance = 4 * self.num_steps * torch.finfo(t.dtype).eps
        return torch.ceil(t * self.num_steps - tolerance).long().clamp(0, self.num_steps)

    def step_mask_rate(self, step: torch.Tensor) -> torch.Tensor:
        """Probability ``1 / (T - j)`` that an unmasked atom is masked from step j to j + 1."""
        return 1.0 / (self.num_steps - step.double())

    def mask_probability(self, step: torch.Tensor) -> torch.Tensor:
        """Probability ``k / T`` that an atom is masked after ``k`` forward steps."""
        return step.double() / self.num_steps

    def sample_marginal(self, tokens: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """Draw ``x_k ~ q(x_k | x_0)``: tokens ``(n,)`` masked with probability ``k / T``.

        Args:
            tokens: ``(n,)`` clean element tokens; step: ``(n,)`` discrete step of each atom.
        """
        masked = torch.rand(tokens.shape, device=tokens.device) < self.mask_probability(step)
        return torch.where(masked, torch.full_like(tokens, MASK_TOKEN), tokens)

    def loss(
        self,
        logits: torch.Tensor,
        tokens: torch.Tensor,
        noisy_tokens: torch.Tensor,
        step: torch.Tensor,
        batch: torch.Tensor,
        num_atoms: torch.Tensor,
    ) -> torch.Tensor:
        """Hybrid loss ``KL(q(x_{k-1} | x_k, x_0) ‖ p(x_{k-1} | x_k)) + λ (-log p̃(x_0 | x_k))``.

        For a masked atom the posterior reveals ``x_0`` with probability ``1/k``, so the KL is
        ``-(1/k) log p̃(x_0 | x_k)``; for an unmasked atom both kernels are the same point mass and
        both terms vanish.

        Args:
            logits: ``(n, MAX_Z)`` predicted logits of ``x_0``; tokens: ``(n,)`` clean;
            noisy_tokens: ``(n,)``; step: ``(n,)`` in 0..T (0: shown clean); batch: ``(n,)``;
            num_atoms: ``(B,)``.

        Returns:
            ``(B,)`` loss per crystal, averaged over its atoms (nats).
        """
        nll = F.cross_entropy(logits, tokens, reduction="none")
        weight = 1.0 / step.clamp_min(1).to(logits.dtype) + self.hybrid_lambda  # 0: unmasked
        per_atom = torch.where(noisy_tokens == MASK_TOKEN, weight * nll, torch.zeros_like(nll))
        return crystal_mean(per_atom, batch, num_atoms)

    def prior_sample(self, num_atoms_total: int, device: torch.device) -> torch.Tensor:
        """``(n,)`` all-[MASK] tokens (the k = T marginal)."""
        return torch.full((num_atoms_total,), MASK_TOKEN, dtype=torch.long, device=device)

    def reverse_step(
        self,
        noisy_tokens: torch.Tensor,
        logits: torch.Tensor,
        step_now: torch.Tensor,
        step_next: torch.Tensor,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """Draw ``x_s ~ p(x_s | x_k)`` for ``s = step_next < k = step_now``.

        A masked atom is revealed with probability ``(k - s)/k``, its type drawn from
        ``softmax(logits / temperature)``; revealed atoms stay as they are. At ``s = 0`` every
        atom is revealed. ``temperature`` 1 is the model's own kernel; below 1 sharpens it.

        Args:
            noisy_tokens: ``(n,)``; logits: ``(n, MAX_Z)``; step_now, step_next: ``(n,)`` long.
        """
        reveal_probability = (step_now - step_next).double() / step_now.clamp(min=1).double()
        reveal = torch.rand(noisy_tokens.shape, device=noisy_tokens.device) < reveal_probability
        drawn = torch.distributions.Categorical(logits=logits / temperature).sample()
        return torch.where(reveal & (noisy_tokens == MASK_TOKEN), drawn, noisy_tokens)
