"""Examples <-> ``datasets.Dataset``, losslessly, with a fixed Arrow schema.

Metadata dicts are stored as JSON strings (their keys vary from record to record, which Arrow
structs cannot hold); label and score values are float64 lists with nulls, so soft labels stay
floats. ``datasets`` is imported only when these functions run.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from ..types import Example
from .io import Context, example_from_dict, example_to_dict

__all__ = ["to_hf_dataset", "from_hf_dataset", "features"]


def features() -> Any:
    """The Arrow schema of a prmkit dataset (a function, so importing this module imports no datasets)."""
    from datasets import Features, Sequence, Value

    return Features({
        "problem": {"id": Value("string"), "question": Value("string"), "answer": Value("string"),
                    "metadata": Value("string")},
        "solution": {"steps": Sequence(Value("string")), "final_answer": Value("string"), "metadata": Value("string")},
        "labels": {"values": Sequence(Value("float64")), "kind": Value("string")},
        "scores": {"values": Sequence(Value("float64")), "outcome": Value("float64"), "source": Value("string")},
        "correct": Value("bool"),
    })


def to_hf_dataset(examples: Iterable[Example]) -> Any:
    """Build a ``datasets.Dataset`` with one row per example (see ``features()`` for the columns).

    Example:
        >>> from prmkit.types import *
        >>> ds = to_hf_dataset([Example(Problem("p", "q"), Solution(["a"]), StepLabels([0.7], "soft"))])
        >>> ds[0]["labels"]
        {'values': [0.7], 'kind': 'soft'}
    """
    from datasets import Dataset

    rows = []
    for ex in examples:
        row = example_to_dict(ex)
        for part in ("problem", "solution"):
            row[part]["metadata"] = json.dumps(row[part]["metadata"], ensure_ascii=False)
        if row["labels"] is not None:
            row["labels"]["values"] = [v if v is None else float(v) for v in row["labels"]["values"]]
        rows.append(row)
    return Dataset.from_list(rows, features=features())


def from_hf_dataset(dataset: Iterable[dict]) -> list[Example]:
    """Inverse of ``to_hf_dataset``; rows are validated and located by index on error."""
    return [example_from_dict(dict(row), Context("<datasets.Dataset>", i, "record")) for i, row in enumerate(dataset, 1)]
