"""Resolve names to objects through plain ``name -> "module:attr"`` tables, importing lazily.

Every extension point (formats, scorers, aggregators, ...) is a dict in its package. A user plugs in
their own object by passing ``"mypkg.mod:MyThing"`` wherever a built-in name is accepted; nothing
is imported until it is asked for, so listing names never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

__all__ = ["resolve", "describe"]


def _import(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    if not attr:
        return module
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def resolve(value: Any, table: Mapping[str, str], what: str = "name") -> Any:
    """Turn a table name or a ``"pkg.module:attr"`` path into the object it names.

    Args:
        value: a key of ``table``, an import path (``"pkg.mod:Obj"``, or a module ``"pkg.mod"``), or
            an object, which is returned unchanged.
        table: the extension table, mapping names to import paths.
        what: noun used in the error message (``"format"``, ``"scorer"``...).

    Raises:
        KeyError: unknown name, listing the known ones.

    Example:
        >>> resolve("json:dumps", {})([1])
        '[1]'
    """
    if not isinstance(value, str):
        return value
    if value in table:
        return _import(table[value])
    if ":" in value or "." in value:
        try:
            return _import(value)
        except (ImportError, AttributeError) as e:
            raise KeyError(f"cannot import {what} {value!r}: {e}") from e
    raise KeyError(f"unknown {what} {value!r}; known: {', '.join(sorted(table))} (or give 'package.module:Object')")


def describe(table: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(name, first docstring line)`` for each entry, importing each target (for ``prmkit ls``)."""
    rows = []
    for name in sorted(table):
        obj = _import(table[name])
        doc = (getattr(obj, "DESCRIPTION", None) or obj.__doc__ or "").strip().splitlines()
        rows.append((name, doc[0] if doc else ""))
    return rows
