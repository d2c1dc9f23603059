"""The campaign's work on Ray: generation, oracle evaluations and adapter refits.

- Oracle evaluations are one Ray task per structure (:func:`evaluate_on_ray`); results stream
  back as they finish, so the driver persists each one the moment it returns.
- Generation and adapter fine-tuning are Ray tasks that may request a GPU.

``connect`` starts a local Ray instance or joins a cluster by address
(:func:`matterloop.core.cluster.start_ray`; one BLAS/OpenMP thread per CPU an oracle task
requests).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from pymatgen.core import Structure

from matterloop.agent.campaign.sections import GeneratorSettings, RaySettings
from matterloop.core.cluster import start_ray
from matterloop.core.errors import MatterloopError
from matterloop.core.result import OracleResult
from matterloop.oracles.distributed import crashed, label_chunks, make_chunks
from matterloop.oracles.registry import OracleSpec


class MissingGPUError(MatterloopError):
    """Generation requests more GPUs than the Ray cluster has (Ray would wait for them
    forever)."""


def connect(settings: RaySettings) -> None:
    """Start or join Ray (no-op when already connected).

    Raises:
        ClusterUnreachableError: no cluster answers at ``settings.address`` within
            ``settings.connect_timeout_s``.
        MissingGPUError: ``settings.generator_gpus`` exceeds the cluster's GPUs.
    """
    if ray.is_initialized():
        check_generator_gpus(settings.generator_gpus)
        return
    threads = math.floor(settings.oracle_cpus)
    start_ray(settings.address, settings.num_cpus, threads, settings.connect_timeout_s)
    check_generator_gpus(settings.generator_gpus)


def check_generator_gpus(requested: float) -> None:
    """Fail where the cluster has fewer GPUs than one generation task requests."""
    available = ray.cluster_resources().get("GPU", 0.0)
    if requested > available:
        raise MissingGPUError(
            f"ray.generator_gpus is {requested:g}, but the Ray cluster has {available:g} GPUs; "
            "set it to 0 to generate on the CPU, or start Ray on a machine with a GPU"
        )


def generation_device(settings: RaySettings) -> str:
    """Where generation and adapter refits run their network: the GPU Ray assigned to the task
    when ``settings.generator_gpus`` > 0, else the CPU."""
    return "cuda" if settings.generator_gpus > 0 else "cpu"


def evaluate_on_ray(
    items: Sequence[tuple[str, Structure]], spec: OracleSpec, settings: RaySettings
) -> Iterator[tuple[str, OracleResult]]:
    """Yield ``(id, result)`` for each item as soon as its evaluation finishes.

    Each structure is one Ray task (:func:`matterloop.oracles.distributed.label_chunks`); a worker
    process builds the oracle once and keeps it for later tasks. A task whose worker or node dies is
    retried elsewhere, up to ``settings.max_retries`` times; one that fails every time yields a
    ``worker_crashed`` failure, so every item yields exactly one result.
    """
    chunks = make_chunks(list(items), spec, size=1)
    for chunk, outcome in label_chunks(chunks, settings.max_retries, settings.oracle_cpus):
        ((identifier, structure),) = chunk.items
        if isinstance(outcome, str):
            yield identifier, crashed(spec.name, structure, outcome)
        else:
            yield identifier, outcome[0]


def remote_call(
    function: Callable[..., Any], *args: Any, num_gpus: float = 0.0, **kwargs: Any
) -> Any:
    """``function(*args, **kwargs)`` run as a Ray task (with ``num_gpus`` GPUs) and awaited."""
    task = ray.remote(num_gpus=num_gpus, max_retries=1)(function)
    return ray.get(task.remote(*args, **kwargs))


@dataclass(frozen=True)
class GenerationRequest:
    """One round's generation, carried whole to its Ray task.

    Attributes:
        model: the model file (None: the shipped base model).
        settings: the campaign's generator settings (sampler steps, guidance, batch size, type
            temperature, elements, Wyckoff and composition options).
        targets: the property conditions of this round (empty: unconditional).
        seed: this round's seed.
        known_dataset: compositions to steer away from (``known_structures``), or None.
        device: where the network runs (``"cpu"`` or ``"cuda"``).
        max_atoms: the most sites a crystal may have (None: any).
    """

    model: Path | None
    settings: GeneratorSettings
    targets: dict[str, Any]
    seed: int
    known_dataset: str | None = None
    device: str = "cpu"
    max_atoms: int | None = None


def generate_structures(request: GenerationRequest) -> tuple[list[dict[str, Any]], int]:
    """Sample ``settings.num_candidates`` structures (as dicts, for transport) and the number the
    sampler dropped (:func:`matterloop.generator.guided.generate`)."""
    from matterloop.generator.guided import generate

    settings = request.settings
    result = generate(
        request.model,
        settings.num_candidates,
        steps=settings.steps,
        conditions=request.targets or None,
        guidance=settings.guidance,
        batch_size=settings.batch_size,
        seed=request.seed,
        type_temperature=settings.type_temperature,
        elements=settings.elements,
        wyckoff=settings.wyckoff,
        compositions_first=settings.compositions_first,
        known_dataset=request.known_dataset,
        device=request.device,
        max_atoms=request.max_atoms,
    )
    return [s.as_dict() for s in result.structures], result.num_dropped


def fit_adapters(
    base: Path | None,
    structures: list[dict[str, Any]],
    labels: dict[str, list[float]],
    properties: list[str],
    out: Path,
    steps: int,
    seed: int,
    init_from: Path | None,
    prior: str | None = None,
    prior_count: int | None = None,
    data_dir: Path | None = None,
    device: str = "cpu",
) -> Path:
    """Fine-tune adapters on labeled structures (dicts), joined with ``prior_count`` structures
    (None: all) of the training splits of the dataset ``prior``, on ``device``; returns the
    adapted model file."""
    from matterloop.data.labels import dataset_labeled_structures, merge_labeled
    from matterloop.generator.conditioning.finetune import finetune_adapters

    parts = [([Structure.from_dict(s) for s in structures], labels)]
    if prior is not None:
        parts.append(
            dataset_labeled_structures(prior, limit=prior_count, seed=seed, data_dir=data_dir)
        )
    joined, joined_labels = merge_labeled(parts, properties)
    return finetune_adapters(
        base,
        joined,
        joined_labels,
        properties,
        out,
        steps=steps,
        seed=seed,
        init_from=init_from,
        device=device,
    )


def learn_generator(
    start: Path | None,
    structures: list[dict[str, Any]],
    rewards: list[float],
    out: Path,
    config: dict[str, Any],
    replay_dataset: str = "mp_20",
    data_dir: Path | None = None,
) -> Path:
    """Reward fine-tuning (:func:`matterloop.generator.training.reward.reward_finetune`) of the base
    network of the model file ``start`` (None: the shipped base) on relaxed ``structures`` (dicts)
    with their ``rewards``, anchored by the training crystals of ``replay_dataset``; an adapted
    model keeps its adapters on the new base. Writes and returns ``out``."""
    from matterloop.data import CrystalDataset, load_dataset_split
    from matterloop.generator.conditioning import AdaptedGenerator, load_generator
    from matterloop.generator.conditioning.adapted_model import AdaptedModel
    from matterloop.generator.pretrained import default_checkpoint
    from matterloop.generator.training.reward import RewardFinetuneConfig, reward_finetune

    generator = load_generator(Path(start) if start else default_checkpoint())
    base = generator.base if isinstance(generator, AdaptedGenerator) else generator
    replay = CrystalDataset.concatenate(
        [load_dataset_split(replay_dataset, split, data_dir) for split in ("train", "val")]
    )
    learned = reward_finetune(
        base,
        [Structure.from_dict(s) for s in structures],
        rewards,
        replay,
        RewardFinetuneConfig(**config),
    )
    if isinstance(generator, AdaptedGenerator):
        adapters = AdaptedModel(
            learned.model, list(generator.model.specs.values()), generator.model.adapter_config
        )
        adapters.adapters.load_state_dict(generator.model.adapters.state_dict())
        learned = AdaptedGenerator(learned, adapters.eval(), generator.info, generator.templates)
    learned.save(Path(out))
    return Path(out)
