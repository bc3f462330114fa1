"""Resolve names to objects through plain ``name -> "module:attr"`` tables, importing lazily.

Every extension point (formats, scorers, aggregators, ...) is a dict in its package. A user plugs in
their own object by passing ``"mypkg.mod:MyThing"`` (or a module: ``"mypkg.mod"``, ``"mymodule"``)
wherever a built-in name is accepted; where the table's objects are modules (``FORMATS``), a plain name
that is not in the table is imported as a module too.
Nothing is imported until it is asked for, so listing names never imports torch.
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


def resolve(value: Any, table: Mapping[str, str], what: str = "name", *, modules: bool = False) -> Any:
    """Turn a table name or a ``"pkg.module:attr"`` path into the object it names.

    Args:
        value: a key of ``table``, an import path (``"pkg.mod:Obj"``, or a module ``"pkg.mod"`` or
            ``"mymodule"``: a name not in the table is imported), or an object, which is returned unchanged.
        table: the extension table, mapping names to import paths.
        what: noun used in the error message (``"format"``, ``"scorer"``...).
        modules: the table's objects are modules, so a plain name not in it (``"mymodule"``) is imported
            as one; elsewhere (an unknown ``--spec json``) it is an unknown name, not Python's ``json``.

    Raises:
        KeyError: unknown name (neither in the table nor an importable module), listing the known ones.

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
    module = _plain_module(value, what) if modules else None
    if module is not None:
        return module
    plug = "a module name or 'package.module'" if modules else "'package.module:Object'"
    raise KeyError(f"unknown {what} {value!r}; known: {', '.join(sorted(table))} (or give {plug})")


def _plain_module(name: str, what: str) -> Any:
    """The module ``name`` (``"myformat"``) if one is importable, else None.

    Only a module missing under exactly this name counts as "no such module": an import error raised
    inside the module is the user's to see. A bare folder (a namespace package, e.g. a run folder
    in the working directory) is not a module here.
    """
    if not name.isidentifier():
        return None
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            return None
        raise KeyError(f"cannot import {what} {name!r}: {e}") from e
    except ImportError as e:
        raise KeyError(f"cannot import {what} {name!r}: {e}") from e
    return module if getattr(module, "__file__", None) else None


def describe(table: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(name, first docstring line)`` for each entry, importing each target (for ``prmkit ls``)."""
    rows = []
    for name in sorted(table):
        obj = _import(table[name])
        doc = (getattr(obj, "DESCRIPTION", None) or obj.__doc__ or "").strip().splitlines()
        rows.append((name, doc[0] if doc else ""))
    return rows
