"""Property-conditioned generation: adapters, property embeddings, fine-tuning and
classifier-free guidance (MatterGen's fine-tuning scheme)."""

from generator.conditioning.adapted_model import AdaptedModel, drop_conditions
from generator.conditioning.adapters import AdapterConfig
from generator.conditioning.finetune import FinetuneConfig, finetune
from generator.conditioning.model_io import AdaptedGenerator, load_generator
from generator.conditioning.properties import PropertyKind, PropertySpec, PropertyValues
from generator.conditioning.targets import Target, parse_targets, split_condition

__all__ = [
    "AdaptedGenerator",
    "AdaptedModel",
    "AdapterConfig",
    "FinetuneConfig",
    "PropertyKind",
    "PropertySpec",
    "PropertyValues",
    "Target",
    "drop_conditions",
    "finetune",
    "load_generator",
    "parse_targets",
    "split_condition",
]
