"""MatGL networks: build, warm-start, train on scalar labels, embed structures, save.

A network maps a structure to ``T`` standardized targets; its *embedding* is the pooled,
per-structure vector fed to the network's output MLP (``final_layer``), ``(n, d)`` with ``d`` the
network width. Networks are stored in MatGL's own format (``model.json``, ``model.pt``,
``state.pt``) and read back with :func:`load_network`, which runs no code named by the files.

Training standardizes each target (MatGL's ``data_mean``/``data_std``), so a trained network's
raw outputs are standardized values; predictions in label units, with uncertainty, come from the
GP heads on the embedding (:mod:`matterloop.surrogates.head`).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import lightning
import matgl
import numpy as np
import torch
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.loggers import Logger
from matgl.ext.pymatgen import Structure2Graph
from matgl.graph.data import MGLDataLoader, MGLDataset, collate_fn_graph
from matgl.models import M3GNet, MatGLModel, TensorNet
from matgl.utils.training import ModelLightningModule
from pymatgen.core import Structure
from rich.progress import track
from torch import nn

from matterloop.core.checkpoint import load_tensors
from matterloop.surrogates.config import NetworkConfig, TrainingConfig
from matterloop.surrogates.errors import NetworkError

ARCHITECTURES: dict[str, type[MatGLModel]] = {"tensornet": TensorNet, "m3gnet": M3GNet}
LABEL_KEY = "targets"
MODEL_FILES = ("model.json", "model.pt", "state.pt")


def build_network(config: NetworkConfig, num_targets: int) -> MatGLModel:
    """A new intensive network with ``num_targets`` outputs, or the warm start of ``config``."""
    if config.pretrained is not None:
        network = load_network(config.pretrained)
        check_network(network, num_targets)
        return network
    return ARCHITECTURES[config.architecture](
        units=config.units,
        nblocks=config.nblocks,
        cutoff=config.cutoff,
        is_intensive=True,
        readout_type="weighted_atom",
        ntargets=num_targets,
    )


def num_outputs(network: MatGLModel) -> int:
    """Outputs of the network's final MLP."""
    linears = [m for m in network.final_layer.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features


def check_network(network: MatGLModel, num_targets: int | None = None) -> None:
    """Raise :class:`NetworkError` unless ``network`` is an intensive model with an MLP
    ``final_layer`` (MatGL's TensorNet and M3GNet) and, when given, ``num_targets`` outputs."""
    if not getattr(network, "is_intensive", False) or not hasattr(network, "final_layer"):
        raise NetworkError(
            f"{type(network).__name__} is not an intensive property model with a final_layer"
        )
    if num_targets is not None and num_outputs(network) != num_targets:
        raise NetworkError(
            f"the network has {num_outputs(network)} outputs but {num_targets} targets were given"
        )


def graph_dataset(
    network: MatGLModel, structures: Sequence[Structure], targets: np.ndarray | None = None
) -> MGLDataset:
    """MatGL graphs of ``structures`` with ``(n, T)`` labels (zeros when ``targets`` is None)."""
    if targets is None:
        targets = np.zeros((len(structures), num_outputs(network)))
    converter = Structure2Graph(element_types=network.element_types, cutoff=network.cutoff)
    # MatGL reports its graph conversion on stderr ("Processing...", a progress bar) each call
    with tempfile.TemporaryDirectory() as root, contextlib.redirect_stderr(io.StringIO()):
        return MGLDataset(
            structures=list(structures),
            labels={LABEL_KEY: np.asarray(targets, dtype=float).tolist()},
            converter=converter,
            root=root,
            save_cache=False,
        )


def collate(batch: list) -> tuple:
    """MatGL's graph collation with ``(B, T)`` labels."""
    return collate_fn_graph(batch, multiple_values_per_target=True)


def train_network(
    network: MatGLModel,
    structures: Sequence[Structure],
    targets: np.ndarray,
    val_structures: Sequence[Structure],
    val_targets: np.ndarray,
    config: TrainingConfig,
    logger: Logger | None = None,
    progress: bool = True,
) -> None:
    """Fit ``network`` in place to ``(n, T)`` targets (rows with a NaN are left out).

    Targets are standardized with the training rows' mean and standard deviation; the network
    then predicts standardized values. Validation rows give the logged ``val_MAE``.
    """
    if config.epochs == 0:
        return
    lightning.seed_everything(config.seed, verbose=False)
    keep = ~np.isnan(targets).any(axis=1)
    val_keep = ~np.isnan(val_targets).any(axis=1)
    train_data = graph_dataset(
        network, [s for s, k in zip(structures, keep, strict=True) if k], targets[keep]
    )
    val_data = graph_dataset(
        network,
        [s for s, k in zip(val_structures, val_keep, strict=True) if k],
        val_targets[val_keep],
    )
    train_loader, val_loader = MGLDataLoader(
        train_data, val_data, collate_fn=collate, batch_size=config.batch_size, num_workers=0
    )
    module = ModelLightningModule(
        model=network,
        data_mean=torch.as_tensor(targets[keep].mean(axis=0), dtype=matgl.float_th),
        data_std=torch.as_tensor(targets[keep].std(axis=0), dtype=matgl.float_th),
        lr=config.lr,
        decay_steps=config.epochs * len(train_loader),
    )
    trainer = lightning.Trainer(
        max_epochs=config.epochs,
        accelerator="cpu",
        devices=1,
        logger=logger or False,
        callbacks=[RichProgressBar()] if progress else [],
        enable_progress_bar=progress,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train_loader, val_loader)
    network.eval()


@torch.no_grad()
def embed(
    network: MatGLModel,
    structures: Sequence[Structure],
    batch_size: int = 64,
    progress: bool = False,
) -> torch.Tensor:
    """``(n, d)`` float64 embeddings: the input of the network's ``final_layer``."""
    if not structures:
        raise ValueError("no structures to embed")
    network.eval()
    module = ModelLightningModule(model=network)
    loader = torch.utils.data.DataLoader(
        graph_dataset(network, structures), batch_size=batch_size, collate_fn=collate
    )
    captured: list[torch.Tensor] = []
    hook = network.final_layer.register_forward_pre_hook(
        lambda _module, args: captured.append(args[0].detach())
    )
    try:
        batches = track(loader, description="embedding", transient=True) if progress else loader
        for g, lattice, state_attr, _ in batches:
            module(g=g, lat=lattice, state_attr=state_attr)
    finally:
        hook.remove()
    return torch.cat(captured).reshape(len(structures), -1).double()


def save_network(network: MatGLModel, path: Path, metadata: dict | None = None) -> None:
    """Write ``network`` in MatGL's format (a folder readable by :func:`load_network`)."""
    network.save(path, metadata=metadata)


def load_network(path: Path) -> MatGLModel:
    """The network saved in the MatGL-format folder ``path``, read without running its code.

    :func:`matgl.load_model` imports and calls whatever ``@module`` and ``@class`` the folder's
    ``model.json`` (and any constructor argument in ``model.pt``) names, and falls back to a
    download from the Hugging Face Hub when ``path`` is not a folder. Here the folder must exist
    and hold one of :data:`ARCHITECTURES` with plain-data constructor arguments; ``model.pt`` and
    ``state.pt`` are read with ``torch.load(weights_only=True)`` (also by MatGL's own loader,
    which then builds the network).

    Raises:
        NetworkError: not a MatGL model folder, or another model class than those accepted.
        generator.training.checkpoint.CheckpointError: a tensor file that is corrupt or holds
            pickled objects (refused without running them).
    """
    path = Path(path)
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise NetworkError(
            f"{path}: not a MatGL model folder (no {', '.join(missing)}; expected "
            f"{', '.join(MODEL_FILES)})"
        )
    try:
        description = json.loads((path / "model.json").read_text())
        name = f"{description['@module']}.{description['@class']}"
    except (ValueError, KeyError, TypeError) as exc:
        raise NetworkError(
            f"{path / 'model.json'}: not a MatGL model description ({exc!r})"
        ) from exc
    classes = {cls.__name__: cls for cls in ARCHITECTURES.values()}
    architecture = classes.get(description["@class"])
    if architecture is None or not str(description["@module"]).startswith("matgl.models"):
        raise NetworkError(
            f"{path / 'model.json'}: a {name} model; only MatGL's {', '.join(classes)} are read"
        )
    arguments = load_tensors(path / "model.pt")
    if not isinstance(arguments, dict) or any(
        isinstance(value, dict) and "@class" in value for value in arguments.values()
    ):
        raise NetworkError(
            f"{path / 'model.pt'}: constructor arguments are not plain data (an object to build "
            "from a named class is never loaded)"
        )
    load_tensors(path / "state.pt")  # refuses pickled objects with a clear error
    try:
        return architecture.load({name: path / name for name in MODEL_FILES})
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise NetworkError(f"{path}: the weights do not fit the {name} model ({exc!r})") from exc
