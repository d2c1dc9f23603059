"""Property-conditioned generation: adapters, property embeddings, fine-tuning and
classifier-free guidance (MatterGen's fine-tuning scheme)."""

from matterloop.data.properties import PropertyKind
from matterloop.generator.conditioning.adapted_model import AdaptedModel, drop_conditions
from matterloop.generator.conditioning.adapters import AdapterConfig
from matterloop.generator.conditioning.finetune import FinetuneConfig, finetune
from matterloop.generator.conditioning.model_io import AdaptedGenerator, load_generator
from matterloop.generator.conditioning.properties import PropertySpec, PropertyValues
from matterloop.generator.conditioning.targets import Target, parse_targets, split_condition

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
