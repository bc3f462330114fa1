"""Core types: validation, first-error semantics, soft labels staying floats."""

import pytest

from prmkit.types import Example, Problem, Solution, StepLabels, StepScores


def test_first_error_and_derivations():
    labels = StepLabels((1, 1, 0, None, 1))
    assert labels.first_error == 2
    assert labels.propagated().values == (1.0, 1.0, 0.0, 0.0, 1.0)
    assert StepLabels((1, None, 1)).first_error is None
    assert StepLabels(()).first_error is None
    assert StepLabels.from_first_error(3, 0).values == (0.0, None, None)
    assert StepLabels.from_first_error(3, None).values == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="outside"):
        StepLabels.from_first_error(3, 3)


def test_soft_labels_stay_floats():
    soft = StepLabels((0.7, 0.25, 1.0), kind="soft")
    assert soft.values == (0.7, 0.25, 1.0)
    assert soft.first_error == 1
    assert soft.first_error_at(0.2) is None
    assert soft.hard().values == (1.0, 0.0, 1.0)
    assert soft.hard(threshold=0.1).values == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("values, kind, message", [
    ((0.7,), "hard", "use kind='soft'"),
    ((1.5,), "soft", r"outside \[0, 1\]"),
    ((-0.1,), "soft", r"outside \[0, 1\]"),
    (("1",), "hard", "must be a number"),
    ((1,), "fuzzy", "kind must be one of"),
])
def test_bad_labels_are_rejected(values, kind, message):
    with pytest.raises((ValueError, TypeError), match=message):
        StepLabels(values, kind)


def test_example_checks_lengths_and_types():
    p, s = Problem("p1", "What is 1+1?", "2"), Solution(["1+1=2", "So 2."], "2")
    assert Example(p, s, StepLabels((1, 1))).first_error is None
    with pytest.raises(ValueError, match="1 labels for 2 steps"):
        Example(p, s, StepLabels((1,)))
    with pytest.raises(ValueError, match="3 scores for 2 steps"):
        Example(p, s, scores=StepScores((0.1, 0.2, 0.3)))
    with pytest.raises(TypeError, match="steps\\[1\\] must be a string"):
        Solution(["ok", 3])
    with pytest.raises(ValueError, match="non-empty"):
        Problem("", "q")
    with pytest.raises(TypeError, match="correct must be a bool"):
        Example(p, s, correct=1)


def test_types_are_frozen():
    s = Solution(["a"])
    with pytest.raises(AttributeError):
        s.steps = ("b",)
    assert isinstance(Solution(["a", "b"]).steps, tuple)
