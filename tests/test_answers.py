"""Answer extraction and comparison: hand cases, a never-raises property, and real MATH/GSM8K data."""

from __future__ import annotations

import gzip
import json
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prmkit.answers import answers_equal, extract_answer, grade




def test_import_is_light():
    import subprocess
    code = "import sys, prmkit.answers; print('sympy' in sys.modules or 'math_verify' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("text, style, expected", [
    ("so $x = \\boxed{\\frac{a}{b}}$.", "auto", "\\frac{a}{b}"),
    ("first \\boxed{1} then \\boxed{\\sqrt{\\frac{1}{2}}}", "boxed", "\\sqrt{\\frac{1}{2}}"),
    ("\\fbox{7}", "auto", "7"),
    ("the answer is $\\boxed 5$.", "boxed", "5"),
    ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18", "auto", "18"),
    ("#### $1,000", "gsm8k", "1000"),
    ("Step 3: 13520 in all. The answer is: 13520 ки", "auto", "13520"),
    ("So the final answer is 42.", "the-answer-is", "42"),
    ("We get 5.\n\n# Answer\n\n\\frac{3}{4}", "auto", "\\frac{3}{4}"),
    ("I have 3 apples and 1,250 pears.", "auto", "1250"),
    ("x = -2.5 so", "last-number", "-2.5"),
    ("no answer here", "auto", None),
    ("\\boxed{", "auto", None),
    ("", "auto", None),
])
def test_extract_answer(text, style, expected):
    assert extract_answer(text, style=style) == expected


def test_extract_answer_rejects_unknown_style_and_non_text():
    assert extract_answer(None) is None and extract_answer(12) is None
    with pytest.raises(ValueError, match="unknown answer style"):
        extract_answer("1", style="nope")


@pytest.mark.parametrize("pred, gold", [
    ("\\frac{1}{2}", "0.5"), ("0.5", "\\frac{1}{2}"), ("1/2", "\\frac{1}{2}"), ("1,000", "1000"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "\\left( 3, \\frac{\\pi}{2} \\right)"), ("(3,\\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\dfrac{\\sqrt3}{2}", "\\frac{\\sqrt{3}}{2}"), ("3\\sqrt{2}", "\\sqrt{18}"), ("\\$18.00", "18"),
    ("5\\text{ cm}", "5"), ("10\\%", "10"), ("x = 5", "5"), ("\\{1,2\\}", "\\{2,1\\}"),
])
def test_answers_equal_true(pred, gold):
    assert answers_equal(pred, gold)


@pytest.mark.parametrize("pred, gold", [
    ("17", "18"), ("\\frac{1}{3}", "0.5"), ("(1,2)", "(2,1)"), ("1,2", "12"), (None, "1"), ("1", None), ("", "1"),
    ("\\frac{1}{0}", "1"), ("abc", "xyz"),
])
def test_answers_equal_false(pred, gold):
    assert not answers_equal(pred, gold)


def test_answers_equal_outside_the_main_thread():
    result = []
    worker = threading.Thread(target=lambda: result.append(answers_equal("\\sqrt{18}", "3\\sqrt{2}")))
    worker.start()
    worker.join()
    assert result == [True]


def test_grade():
    assert grade("3 + 4 = <<3+4=7>>7\n#### 7", "7")
    assert grade("Step 1: ... The answer is: 13520", "13520")
    assert grade("\\frac{1}{2}", "0.5") and grade(18, "18")
    assert not grade("so it is \\boxed{17}", "18")


@settings(max_examples=150, deadline=None)
@given(st.text(), st.text(alphabet=st.sampled_from(list("\\{}$#0123456789.,/-^_ abxfrac()boxed\n")), max_size=40))
def test_never_raises(text, latexish):
    for t in (text, latexish):
        for style in ("auto", "boxed", "gsm8k", "the-answer-is", "prm800k", "last-number"):
            extract_answer(t, style=style)
    assert isinstance(answers_equal(text, latexish, timeout_s=2), bool)
    assert isinstance(answers_equal(latexish, "1", timeout_s=2), bool)
    assert isinstance(grade(latexish, text), bool)


def test_math500_answers_are_extracted_from_the_solutions(shared_data):
    rows = [json.loads(line) for line in (shared_data / "math/math500_test.jsonl").open(encoding="utf-8")]
    assert len(rows) == 500
    hits = sum(answers_equal(extract_answer(r["solution"]), r["answer"]) for r in rows)
    assert hits / len(rows) >= 0.98, f"extracted {hits}/500 = {hits / 500:.3f}"
    assert hits == 500, f"measured 500/500 when written; now {hits}/500"


def test_gsm8k_test_answers(shared_data):
    with gzip.open((shared_data / "gsm8k/test.jsonl.gz"), "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 1319
    answers = [extract_answer(r["answer"], style="gsm8k") for r in rows]
    assert all(a is not None for a in answers)
    assert all(answers_equal(a, r["answer"].rsplit("####", 1)[1].strip()) for a, r in zip(answers, rows))
    assert answers[0] == "18"
    assert all(float(a) == float(a) for a in answers)  # every GSM8K answer is a plain number
