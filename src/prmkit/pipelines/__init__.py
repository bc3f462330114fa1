"""Pipelines: one readable file per job, each with a ``Config`` dataclass and ``run(config)``.

``evaluate.py``: ProcessBench, PRMBench, Best-of-N and pairwise evaluation of a PRM or a scores file.
``annotate.py``: automatic step labels (MC, binary search, judge, tool, consensus), resumable, with a quality report.
``train.py``: PRM training on soft or hard step labels through the spec that scores the model.
"""
