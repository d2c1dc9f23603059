"""Resolve ``"package.module:attribute"`` strings from configs."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Any

IMPORT_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
"""What a config value that names code looks like: ``package.module:attribute``."""


def import_object(spec: str) -> Any:
    """The object named by ``"package.module:attribute"`` (the attribute may be dotted)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"{spec!r} is not of the form 'package.module:attribute'")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} from {spec!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return obj


def import_specs(tree: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """``(key path, spec)`` of every string in the nested dicts and lists ``tree`` (a config
    as read from YAML) that has the form of :func:`import_object`'s argument, without
    importing anything: the code a config would import and run."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from import_specs(value, f"{where}.{key}" if where else str(key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from import_specs(value, f"{where}[{index}]")
    elif isinstance(tree, str) and IMPORT_SPEC.fullmatch(tree):
        yield where, tree
