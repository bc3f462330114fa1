"""Pipelines: one readable file per job, each with a ``Config`` dataclass and ``run(config)``.

``evaluate.py``: ProcessBench, PRMBench, Best-of-N and pairwise evaluation of a PRM or a scores file.
"""
