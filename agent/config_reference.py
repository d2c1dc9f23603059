"""The configuration reference, generated from the configuration schemas so it cannot drift.

``matterloop config reference --out docs/configuration.md`` writes it; a test fails when the file
in the repository differs from what the schemas produce. Every section of a config (a pydantic
model or a dataclass) becomes a table of its keys with type, default, bounds and description.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.quantities import QUANTITIES
from matterloop.data.quantities import quantities_table
from matterloop.generator.model import DiffusionModelConfig
from matterloop.generator.training.config import TrainConfig
from matterloop.oracles.registry import BUILTIN_ORACLES
from matterloop.surrogates.config import SurrogateConfig

Schema = type[BaseModel] | type

DOCUMENTS: tuple[tuple[str, str, Schema], ...] = (
    ("Campaign", "`configs/*.yaml`, read by `matterloop run`", CampaignConfig),
    (
        "Generator training",
        "`configs/generator/*.yaml`, read by `matterloop generator train`",
        TrainConfig,
    ),
    (
        "Generator model",
        "the `model:` mapping of a generator training config",
        DiffusionModelConfig,
    ),
    (
        "Surrogate training",
        "`configs/surrogates/*.yaml`, read by `matterloop surrogate train`",
        SurrogateConfig,
    ),
    *(
        (
            f"Oracle `{name}`",
            f"the `oracle.settings` mapping of a campaign with `oracle.name: {name}`, and "
            f"`matterloop oracle run --oracle {name} --settings FILE`",
            oracle.config_type,
        )
        for name, oracle in BUILTIN_ORACLES.items()
    ),
)

REQUIRED = "required"
BOUND_SYMBOLS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "length ≥"}


@dataclasses.dataclass
class Key:
    """One key of a section, as shown in the reference."""

    name: str
    type: str
    default: str
    notes: str
    annotation: Any = None


def is_section(annotation: Any) -> bool:
    return inspect.isclass(annotation) and (
        issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)
    )


def section_of(annotation: Any) -> tuple[Schema | None, str]:
    """The section type of a key (itself, or the item of a list of sections) and the suffix its
    path gets (``[]`` for a list)."""
    if is_section(annotation):
        return annotation, ""
    arguments = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        sections = [a for a in arguments if is_section(a)]
        return (sections[0], "") if len(sections) == 1 else (None, "")
    if typing.get_origin(annotation) in (list, tuple) and arguments and is_section(arguments[0]):
        return arguments[0], "[]"
    return None, ""


def type_name(annotation: Any) -> str:
    """A short, readable name of a type annotation (``int | None``, ``list[str]``, …)."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(repr(a).replace("'", '"') for a in arguments)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in arguments)
    if origin in (list, tuple, set, frozenset) and arguments:
        return f"list[{type_name(arguments[0])}]"
    if origin is dict and arguments:
        return f"mapping[{type_name(arguments[0])}, {type_name(arguments[1])}]"
    if annotation is Path:
        return "path"
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def default_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, BaseModel) or dataclasses.is_dataclass(value):
        return "see below"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, set | frozenset):
        return default_text(sorted(value, key=str))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(default_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {default_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def attribute_docs(schema: Schema) -> dict[str, str]:
    """Descriptions from a Google-style ``Attributes:`` block of the docstring."""
    text = inspect.cleandoc(schema.__doc__ or "")
    if "Attributes:" not in text:
        return {}
    block = text.split("Attributes:", 1)[1]
    descriptions: dict[str, str] = {}
    names: list[str] = []
    for line in block.splitlines():
        entry = re.match(r"^    ([\w, ]+):\s*(.*)$", line)
        if entry:
            names = [n.strip() for n in entry.group(1).split(",")]
            for name in names:
                descriptions[name] = entry.group(2)
        elif line.startswith("        ") and names:
            for name in names:
                descriptions[name] += " " + line.strip()
        elif line.strip() and not line.startswith(" "):
            break
    return descriptions


def markdown_text(text: str) -> str:
    """reStructuredText literals and cross-references as Markdown code."""
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    return re.sub(r":\w+:`~?(?:[\w.]+\.)?(\w+)`", r"`\1`", text)


def summary(schema: Schema) -> str:
    """The docstring without its ``Attributes:`` block, as one paragraph per blank line."""
    text = inspect.cleandoc(schema.__doc__ or "").split("Attributes:", 1)[0].strip()
    return markdown_text("\n\n".join(" ".join(p.split()) for p in text.split("\n\n")))


def model_keys(schema: type[BaseModel]) -> Iterator[Key]:
    for name, field in schema.model_fields.items():
        bounds = [
            f"{BOUND_SYMBOLS[k]} {getattr(m, k)}"
            for m in field.metadata
            for k in BOUND_SYMBOLS
            if getattr(m, k, None) is not None
        ]
        notes = ", ".join(bounds)
        if field.description:
            notes = f"{notes}; {field.description}" if notes else field.description
        default = (
            REQUIRED
            if field.is_required()
            else default_text(field.get_default(call_default_factory=True))
        )
        yield Key(name, type_name(field.annotation), default, notes, field.annotation)


def dataclass_keys(schema: type) -> Iterator[Key]:
    descriptions = attribute_docs(schema)
    hints = typing.get_type_hints(schema)
    for field in dataclasses.fields(schema):
        if not field.init:
            continue
        if field.default is not dataclasses.MISSING:
            default = default_text(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            default = default_text(field.default_factory())
        else:
            default = REQUIRED
        annotation = hints[field.name]
        notes = markdown_text(descriptions.get(field.name, ""))
        yield Key(field.name, type_name(annotation), default, notes, annotation)


def keys(schema: Schema) -> list[Key]:
    if inspect.isclass(schema) and issubclass(schema, BaseModel):
        return list(model_keys(schema))
    return list(dataclass_keys(schema))


def escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def section_markdown(schema: Schema, path: str, level: int) -> Iterator[str]:
    """The heading, description and key table of ``schema`` at ``path``, then its subsections."""
    yield f"{'#' * level} `{path}`" if path else f"{'#' * level} top level"
    yield ""
    if summary(schema):
        yield summary(schema)
        yield ""
    rows = keys(schema)
    subsections: list[tuple[Schema, str]] = []
    yield "| key | type | default | notes |"
    yield "|---|---|---|---|"
    for key in rows:
        section, suffix = section_of(key.annotation)
        shown_type = key.type
        if section is not None:
            subpath = f"{path + '.' if path else ''}{key.name}{suffix}"
            subsections.append((section, subpath))
            shown_type = f"list of `{subpath}`" if suffix else f"section `{subpath}`"
            if "null" in key.type.split(" | "):
                shown_type += " or null"
        default = key.default if key.default == REQUIRED else f"`{escape(key.default)}`"
        yield f"| `{key.name}` | {escape(shown_type)} | {default} | {escape(key.notes)} |"
    yield ""
    for section, subpath in subsections:
        yield from section_markdown(section, subpath, level)


def quantities_markdown() -> Iterator[str]:
    """The quantities objectives and constraints may name, and every quantity's one name."""
    yield "### Quantities"
    yield ""
    yield (
        "What `objectives[].name` and `constraints[].name` may be: one of these, a property "
        "the campaign's oracle declares (`OracleProperty`: `bulk_modulus` in GPa from "
        "`chgnet`/`sevennet` with `bulk_modulus: true`, `band_gap` in eV from `gpaw` with "
        "`band_gap: true`, or a plug-in's own), or `package.module:function` (a function of a "
        "pymatgen `Structure` returning a float)."
    )
    yield ""
    yield "| name | unit | from |"
    yield "|---|---|---|"
    for name, item in QUANTITIES.items():
        yield f"| `{name}` | {escape(item.unit)} | {item.source} |"
    yield ""
    yield "### Names and aliases"
    yield ""
    yield (
        "One name and one unit per quantity, everywhere: campaign configs, `generator finetune "
        "--property`, `generator sample --condition`, label files and datasets. An alias means "
        "its quantity (MP-20's `dft_mag_density` is `magnetic_density`); an oracle that declares "
        "one of these quantities uses its name and unit (`matterloop data quantities`)."
    )
    yield ""
    yield from quantities_table()
    yield ""


def configuration_reference() -> str:
    """The whole reference as Markdown."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from the configuration schemas by `matterloop config reference --out "
        "docs/configuration.md`; do not edit by hand. Unknown keys and values out of bounds are "
        "errors that name the field. `matterloop config check FILE` validates a file.",
        "",
        "**A config is code.** A value of the form `package.module:attribute` (a plug-in "
        "oracle class, an ASE calculator, a quantity computed by a function) and an oracle "
        "named by a plug-in entry point are imported and run by `matterloop run`, with your "
        "permissions and on every Ray node. Run only configs you trust; `matterloop config "
        "check FILE` lists every such import before importing anything.",
        "",
    ]
    for title, where, schema in DOCUMENTS:
        lines += [f"## {title}", "", f"{where}.", ""]
        lines += list(section_markdown(schema, "", 3))
        if schema is CampaignConfig:
            lines += list(quantities_markdown())
    return "\n".join(lines).rstrip() + "\n"
