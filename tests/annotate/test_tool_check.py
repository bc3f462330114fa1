"""Arithmetic tool checks: hand cases, random equations, the synthetic world's injected errors, real GSM8K solutions."""

from collections import Counter
from fractions import Fraction

from hypothesis import assume, given, settings, strategies as st

from prmkit.annotate.tool_check import check_step, find_claims, tool_labels
from prmkit.data import read
from prmkit.world import generate, gold_steps, inject_error


def test_hand_cases():
    assert check_step("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.") is True
    assert check_step("She makes 9 * 2 = $<<9*2=19>>19 every day") is False
    assert [c.holds for c in find_claims("10/3 = 3.33 and 10/3 = 3.4")] == [True, False]  # stated precision
    assert check_step("1,000 + 200 = 1,200") is True and check_step("2 x 3 = 7") is False
    assert check_step("<<5/0=1>>") is None  # cannot be evaluated: unknown, not wrong (issue 14)
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
    assert (c["steps"], c["checkable"], c["flagged"]) == (17876, 16710, 365)
    # flags concentrate on wrong solutions: 275/3275 (8.4%) vs 21/2001 (1.0%; 33 before issue 14)
    assert (c["flagged incorrect"], c["incorrect"], c["flagged correct"], c["correct"]) == (275, 3275, 21, 2001)


@given(st.text(alphabet=st.sampled_from(list("0123456789 +-*/x=.,()<>$abc")), max_size=80))
@settings(max_examples=300, deadline=None)
def test_never_raises(text):
    assert check_step(text) in (True, False, None)


def test_issue_14_faults():
    # a claim that cannot be evaluated leaves the step unchecked, and does not hide a checkable one
    assert check_step("2x + 3 = 7") is None and check_step("x - 5 = 3") is None and check_step("5/0 = 1") is None
    assert check_step("3^2 + 1 = 10") is None and check_step("25% of 80 = 0.25 * 80 = 20") is True
    assert check_step("5/0 = 1 and 2 + 2 = 5") is False
    # a negative operand after an operator belongs to the expression
    assert check_step("(-5 + -3 - 24) = -32") is True and check_step("(-5 + -3 - 24) = -21") is False
    # every link of a chain is checked
    assert check_step("(22 + 17) * (11 - 11) = 39 * 0 = 0") is True
    assert check_step("(22 + 17) * (11 - 11) = 39 * 1 = 39") is False
    assert [c.holds for c in find_claims("2 + 3 = 5 = 10 / 2 = 6")] == [True, True, False]
    # real-trace forms: LaTeX, Unicode operators, fractions, thousands separators
    assert check_step(r"Since there were 18, \(1/3 \times 18 = 6\) are taken. So \(18 - 6 = 12\) left.") is True
    assert check_step(r"\[ \frac{3}{4} \cdot 8 = 6 \]") is True and check_step(r"$\dfrac{1}{3} + \frac{1}{6} = \frac{1}{2}$") is True
    assert check_step("10 − 3 = 7, 12 ÷ 4 = 3, 2 × 3 = 6") is True and check_step("1{,}000 + 1 = 1{,}001") is True
    assert check_step("7 / 2 = 3.5") is True and check_step("7 / 2 = 3") is False
    # not arithmetic claims: list bullets, lines, units, integer division, mixed numbers
    assert check_step("- 3 + 4 = 7") is True and check_step("- 93 = 3 \\times 31\n- 94 = 2 \\times 47") is True
    assert check_step("1 hour = 60 minutes") is None and check_step(r"23 \div 4 = 5 \text{ remainder } 3") is None
    assert check_step(r"1\frac{9}{10} = \frac{19}{10}") is None


_OPS = {"+": ("+",), "-": ("-", "−"), "*": ("*", "×", r"\times", r"\cdot", "x"), "/": ("/", "÷", r"\div", "frac")}


def _number(n: int, commas: bool) -> str:
    text = f"{abs(n):,}" if commas else str(abs(n))
    return ("-" if n < 0 else "") + text


@st.composite
def _expression(draw, depth=0):
    """(text, exact value) of a random arithmetic expression in the forms real traces use."""
    if depth >= 3 or (depth and draw(st.booleans())):  # the whole expression is an operation
        n = draw(st.integers(-2000, 2000))
        return _number(n, draw(st.booleans())), Fraction(n)
    (a, va), (b, vb) = draw(_expression(depth + 1)), draw(_expression(depth + 1))
    op = draw(st.sampled_from("+-*/"))
    assume(op != "/" or vb != 0)
    sign = draw(st.sampled_from(_OPS[op]))
    if sign == "frac":
        return rf"\frac{{{a}}}{{{b}}}", va / vb
    if sign == "x" and not b[0].isdigit():
        sign = "*"
    value = {"+": va + vb, "-": va - vb, "*": va * vb, "/": va / vb if vb else None}[op]
    return f"({a} {sign} {b})", value


def _value_text(v: Fraction) -> str:
    return _number(int(v), True) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


_WRAP = ("{}", "So {}.", r"\({}\)", r"$$ {} $$", "We get {} apples", "Step 2: {}")


@given(_expression(), _expression(), st.sampled_from(_WRAP), st.booleans())
@settings(max_examples=200, deadline=None)
def test_random_true_equations_are_never_flagged(left, other, wrap, chain):
    (text, value), (extra, extra_value) = left, other
    link = f"({text}) + ({extra}) - ({extra})" if chain else None  # a middle link with the same value
    equation = f"{text} = {link} = {_value_text(value)}" if chain else f"{text} = {_value_text(value)}"
    assert check_step(wrap.format(equation)) is True, equation


@given(_expression(), st.integers(-50, 50).filter(bool), st.sampled_from(_WRAP), st.integers(0, 2))
@settings(max_examples=200, deadline=None)
def test_random_false_equations_are_flagged_at_their_step(left, delta, wrap, where):
    text, value = left
    wrong = _value_text(value + delta)
    equation = [f"{text} = {wrong}", f"{text} = {_value_text(value)} + 0 = {wrong}",
                f"{text} = {wrong} = {wrong}"][where]  # a bare "7 = 8" link is no computation: not judged
    steps = ["She has 3 + 4 = 7 pens.", wrap.format(equation), "The answer is 7."]
    labels = tool_labels(steps)
    assert labels.values[:2] == (1.0, 0.0) and labels.first_error == 1, equation
