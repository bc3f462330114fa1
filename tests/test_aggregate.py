"""Aggregation and selection: hand-computed cases."""

import math

import pytest

from prmkit.aggregate import AGGREGATORS, aggregate, argmax, geometric_mean, majority_vote, weighted_vote

STEPS = [0.9, 0.5, 0.8]


@pytest.mark.parametrize("name, expected", [
    ("min", 0.5), ("prod", 0.36), ("last", 0.8), ("mean", 2.2 / 3), ("geometric_mean", 0.36 ** (1 / 3)),
])
def test_aggregators_by_hand(name, expected):
    assert math.isclose(AGGREGATORS[name](STEPS), expected, rel_tol=1e-12)


def test_aggregate_skips_unscored_steps_and_rejects_empty():
    assert aggregate([0.9, None, 0.4], "last") == 0.4
    assert aggregate([None, None]) is None
    assert geometric_mean([0.5, 0.0]) == 0.0
    with pytest.raises(ValueError, match="empty"):
        AGGREGATORS["min"]([])
    with pytest.raises(KeyError, match="unknown aggregator"):
        aggregate([0.5], "median")


def test_selection():
    assert argmax([0.1, 0.7, 0.7]) == 1
    assert argmax([None, None]) == 0
    # two weak votes for "5" (0.4 + 0.4) beat one strong vote for "4" (0.7); majority agrees
    assert weighted_vote(["4", "5", "5"], [0.7, 0.4, 0.4]) == "5"
    assert weighted_vote(["4", "5", "5"], [0.9, 0.4, 0.4]) == "4"
    assert majority_vote(["4", "5", "5"]) == "5"
    assert majority_vote([None, None]) is None
    with pytest.raises(ValueError, match="2 answers but 1 weights"):
        weighted_vote(["a", "b"], [1.0])
