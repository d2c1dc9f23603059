"""The generator learns from its oracle, offline (``matterloop generator improve``).

Each round: sample ``samples`` crystals from the current model → relax them with the oracle on
Ray → measure them on the S.U.N. protocol (complete hull, novelty after relaxation; the figures
of ``bench/sun.py``) → reward each relaxed structure (:class:`RewardWeights`) → fine-tune the
model on the rewarded relaxed structures with MP-20 replay
(:func:`matterloop.generator.training.reward.reward_finetune`). Round ``k`` samples model ``k``: the
base for round 0, round ``k - 1``'s fine-tuned model after.

Everything is kept under the output folder, so a killed run resumes where it stopped::

    improve.json               settings and the MLflow run id (a resume must not change them,
                               but for more rounds)
    round_000/structures.jsonl the samples; results.jsonl the oracle's results;
              evaluation.json  the S.U.N. protocol's rows; model.pt the fine-tuned model;
              summary.json     the round's figures (written last: the round is done)
    model.pt                   the last round's model

Sampling seeds are ``SEED_OFFSET + 1_000_003 seed + 100_003 round`` plus the crystal's position,
disjoint from the seeds ``bench/sun.py`` evaluates with (its ``--seed`` plus the position), so a
model is never measured on the noise its own training samples came from.

Parts: :mod:`~matterloop.agent.improve.settings` (what a run does, and which changes a resume
accepts), :mod:`~matterloop.agent.improve.rounds` (the rounds, and each sample's reward) and
:mod:`~matterloop.agent.improve.summary` (a round's figures in MLflow and in the terminal).
"""

from matterloop.agent.improve.rounds import GeneratorImprovement
from matterloop.agent.improve.settings import ImproveSettings
from matterloop.agent.improve.summary import rounds_table

__all__ = ["GeneratorImprovement", "ImproveSettings", "rounds_table"]
