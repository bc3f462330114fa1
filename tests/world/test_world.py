"""The synthetic world: gold solutions check as correct, injected errors are located, junk never raises."""

import random

from hypothesis import given, settings, strategies as st

from prmkit.world import ERROR_KINDS, WorldConfig, check, generate, gold_steps, inject_error, parse_step

configs = st.builds(WorldConfig, min_steps=st.integers(1, 4), max_steps=st.integers(4, 8),
                    max_operand=st.integers(1, 30), max_distractors=st.integers(0, 3))


@given(configs, st.integers(0, 10_000))
@settings(max_examples=200, deadline=None)
def test_gold_solutions_are_fully_correct(config, seed):
    for p in generate(5, config, seed=seed):
        r = check(p, "\n".join(gold_steps(p)))
        assert r.first_error is None and r.final_correct and all(r.step_correct)
        assert r.final_answer == p.answer and len(r.steps) == len(p.events) + 1
        assert config.min_steps <= len(p.events) <= config.max_steps


def _ambiguous(p, kind, k, steps):
    """The injected text also reads as another kind (e.g. a skipped step whose next event has the same
    operand reads as a wrong operation): then only the position is asserted."""
    parsed = parse_step(steps[k]) if k < len(steps) else None
    if not isinstance(parsed, tuple):
        return False
    a, op, b, _ = parsed
    nxt = p.events[k + 1] if k + 1 < len(p.events) else None
    as_skip = nxt is not None and op == nxt.op and b == nxt.operand
    as_wrong_op = b == p.events[k].operand and op != p.events[k].op
    return (kind == "skipped_step" and as_wrong_op) or (kind == "wrong_operand" and as_skip)


@given(st.integers(0, 10_000), st.sampled_from(ERROR_KINDS), st.data())
@settings(max_examples=400, deadline=None)
def test_a_single_injected_error_is_located(seed, kind, data):
    p = generate(1, WorldConfig(min_steps=2, max_steps=8), seed=seed)[0]
    n = len(p.events)
    k = n if kind == "wrong_final_answer" else data.draw(st.integers(0, n - 1))
    if kind == "skipped_step" and k + 1 < n and (p.events[k].op, p.events[k].operand) == (p.events[k + 1].op, p.events[k + 1].operand):
        k = n - 1  # two identical events in a row: skipping either gives the same text; skip the last one instead
    steps = inject_error(p, kind, k, random.Random(seed))
    r = check(p, steps)
    assert r.first_error == k, (p.text, steps, r)
    assert all(r.step_correct[:k]) and not any(r.step_correct[k:])
    if not _ambiguous(p, kind, k, steps):
        assert r.error_kind == kind, (p.text, steps, r)
    # usually the error changes the answer, but not always: "2 + 2 = 4" in place of "2 * 2 = 4" is a wrong
    # step with the right result (a right answer reached by a wrong process, which PRMs must catch)
    assert r.final_correct == (r.final_answer == p.answer)


@given(st.text(), st.integers(0, 50))
@settings(max_examples=300, deadline=None)
def test_random_garbage_never_raises(text, seed):
    p = generate(1, seed=seed)[0]
    r = check(p, text)
    assert len(r.step_correct) == len(r.steps)
    assert r.first_error is None or not r.step_correct[r.first_error]
    r2 = check(p, text.split("\n"))
    assert r2.step_correct == r.step_correct


def test_hand_checked_example():
    p = generate(1, WorldConfig(min_steps=3, max_steps=3), seed=11)[0]
    gold = gold_steps(p)
    assert check(p, gold[:2]).error_kind == "incomplete" and not check(p, gold[:2]).final_correct
    swapped = list(gold)
    a, op, b, c = parse_step(gold[0])
    if op in "+*":  # commutative equations are accepted both ways
        swapped[0] = f"{b} {op} {a} = {c}"
        assert check(p, swapped).first_error is None
    extra = check(p, list(gold) + ["The answer is 3."])
    assert extra.first_error == len(gold) and extra.error_kind == "extra_step"
    junk = check(p, ["I think", *gold[1:]])
    assert junk.first_error == 0 and junk.error_kind == "unparseable"
    labels = check(p, inject_error(p, "arithmetic", 1)).labels
    assert labels.values == (1.0, 0.0, 0.0, 0.0) and labels.first_error == 1
