"""The format table: name -> module implementing one external data format.

A format module defines:

* ``DESCRIPTION``: one line for ``prmkit ls formats``.
* ``Options``: a frozen dataclass of the reader/writer options (may be empty).
* ``sniff(raw) -> bool``: whether a decoded record looks like this format (auto-detection).
* ``parse(raw, ctx) -> Iterable[Example]``: one raw record to examples; raise ``ctx.error(reason,
  field)`` for bad input, use ``prmkit.data.io.get`` to type-check fields, ``ctx.note(key)`` to
  count things the user should see (never drop data silently).
* optionally ``dump(examples, options) -> Iterator[dict]`` and ``CONTAINER`` (``"jsonl"`` or
  ``"json"``) to write the format.

* optionally ``EXAMPLE``: a command-line example for ``prmkit ls formats``.

The order of the table is the order of auto-detection: more specific formats first.
Add your own without editing this file by passing its module name (``"myformat"``, ``"mypkg.myformat"``)
wherever a name is taken; a name that is not in the table is imported.
"""

FORMATS: dict[str, str] = {
    "prmkit": "prmkit.data.formats.prmkit_jsonl",
    "processbench": "prmkit.data.formats.processbench",
    "prmbench": "prmkit.data.formats.prmbench",
    "prm800k": "prmkit.data.formats.prm800k",
    "math-shepherd": "prmkit.data.formats.math_shepherd",
    "trl-stepwise": "prmkit.data.formats.trl_stepwise",
    "omegaprm": "prmkit.data.formats.omegaprm",
    "gsm8k-solutions": "prmkit.data.formats.gsm8k_solutions",
    "qwen-bon": "prmkit.data.formats.qwen_bon",
    "rewardmath": "prmkit.data.formats.rewardmath",
    "gsm8k": "prmkit.data.formats.gsm8k",
    "math": "prmkit.data.formats.math",
    "fields": "prmkit.data.formats.fields",  # never detected: named with its field mapping
}
