"""Arithmetic tool checks: hand cases, the synthetic world's injected errors, real GSM8K solutions."""

from collections import Counter

from hypothesis import given, settings, strategies as st

from prmkit.annotate.tool_check import check_step, find_claims, tool_labels
from prmkit.data import read
from prmkit.world import generate, gold_steps, inject_error


def test_hand_cases():
    assert check_step("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.") is True
    assert check_step("She makes 9 * 2 = $<<9*2=19>>19 every day") is False
    assert [c.holds for c in find_claims("10/3 = 3.33 and 10/3 = 3.4")] == [True, False]  # stated precision
    assert check_step("1,000 + 200 = 1,200") is True and check_step("2 x 3 = 7") is False
    assert check_step("<<5/0=1>>") is False  # cannot be evaluated: not a true claim
    assert check_step("So she has more apples than Leo.") is None
    assert tool_labels(["3 + 4 = 7", "no numbers", "7 * 2 = 15"]).values == (1.0, None, 0.0)


def test_world_arithmetic_errors_are_flagged_at_their_step():
    for p in generate(300, seed=8):
        assert all(v in (1.0, None) for v in tool_labels(gold_steps(p)).values)
        k = len(p.events) // 2
        labels = tool_labels(inject_error(p, "arithmetic", k))
        assert labels.values[k] == 0.0 and labels.first_error == k
        # a wrong operand is arithmetic done right: invisible to a calculator, as it should be
        assert labels.values[:k] == (1.0,) * k
        assert tool_labels(inject_error(p, "wrong_operand", k)).first_error is None


def test_real_gsm8k_model_solutions(shared_data):
    """Issue 5: how many steps the checker could check, and how many it flags, on real solutions."""
    c = Counter()
    for ex in read(shared_data / "gsm8k" / "example_model_solutions.jsonl.gz", "gsm8k-solutions"):
        results = [check_step(s) for s in ex.solution.steps]
        c["steps"] += len(results)
        c["checkable"] += sum(r is not None for r in results)
        c["flagged"] += sum(r is False for r in results)
        c["flagged correct" if ex.correct else "flagged incorrect"] += any(r is False for r in results)
        c["correct" if ex.correct else "incorrect"] += 1
    assert (c["steps"], c["checkable"], c["flagged"]) == (17876, 16807, 411)
    # flags concentrate on wrong solutions: 291/3275 (8.9%) vs 33/2001 (1.6%)
    assert (c["flagged incorrect"], c["incorrect"], c["flagged correct"], c["correct"]) == (291, 3275, 33, 2001)


@given(st.text(alphabet=st.sampled_from(list("0123456789 +-*/x=.,()<>$abc")), max_size=80))
@settings(max_examples=300, deadline=None)
def test_never_raises(text):
    assert check_step(text) in (True, False, None)
