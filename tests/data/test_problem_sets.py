"""Problem sets with reference solutions: the gsm8k and math formats, on the real files."""

from __future__ import annotations

import json

import pytest

from prmkit.data import ReadReport, read
from prmkit.data.formats import gsm8k, math as math_fmt
from prmkit.errors import DataError




@pytest.mark.parametrize("name, n", [("test", 1319), ("train", 7473), ("test_socratic", 1319)])
def test_gsm8k_files(shared_data, name, n):
    examples = list(read((shared_data / f"gsm8k/{name}.jsonl.gz"), "gsm8k"))
    assert len(examples) == n
    assert len({ex.problem.id for ex in examples}) == n
    assert all(ex.problem.answer and ex.solution.final_answer == ex.problem.answer for ex in examples)
    assert all(ex.correct is True and ex.labels is None and ex.solution.steps for ex in examples)
    assert not any("####" in step for ex in examples for step in ex.solution.steps)


def test_gsm8k_first_test_problem(shared_data):
    ex = next(iter(read((shared_data / "gsm8k/test.jsonl.gz"), "gsm8k")))
    assert ex.problem.id == "gsm8k-test-1" and ex.problem.answer == "18"
    assert ex.problem.question.startswith("Janet’s ducks lay 16 eggs per day.")
    assert ex.solution.steps == ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.",
                                 "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer’s market.")


def test_gsm8k_sniff_and_errors(tmp_path):
    good = {"question": "1+1?", "answer": "1 + 1 = <<1+1=2>>2\n#### 2"}
    assert gsm8k.sniff(good) and not gsm8k.sniff({"question": "q", "answer": "2"})
    assert not gsm8k.sniff({**good, "ground_truth": "x"})
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({"question": "q", "answer": "no marker"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'answer': no '#### <answer>' line"):
        list(read(path, "gsm8k"))
    report = ReadReport()
    assert len(list(read(path, "gsm8k", skip_invalid=True, report=report))) == 1 and report.n_skipped == 1


def test_math500(shared_data):
    examples = list(read((shared_data / "math/math500_test.jsonl"), "math"))
    assert len(examples) == 500 and len({ex.problem.id for ex in examples}) == 500
    first = examples[0]
    assert first.problem.id == "test/precalculus/807.json"
    assert first.problem.answer == "\\left( 3, \\frac{\\pi}{2} \\right)" == first.solution.final_answer
    assert first.problem.metadata["subject"] == "Precalculus" and first.problem.metadata["level"] == 2
    assert len(first.solution.steps) == 3 and first.solution.steps[0].startswith("We have that $r = \\sqrt{0^2 + 3^2} = 3.$")
    # the boxed answer of every MATH-500 reference solution is literally the answer field
    assert sum(ex.solution.final_answer == ex.problem.answer for ex in examples) == 500


def test_math_full_test_set(shared_data):
    report = ReadReport()
    examples = list(read((shared_data / "math/math_test_5000.jsonl.gz"), "math", report=report))
    assert len(examples) == 5000 and len({ex.problem.id for ex in examples}) == 5000
    extracted = sum(ex.problem.answer is not None for ex in examples)
    assert extracted == 5000, f"answers extracted from \\boxed{{}}: {extracted}/5000"
    assert report.notes == {"answer from \\boxed{}": 5000}
    first = examples[0]
    assert (first.problem.id, first.problem.answer) == ("0", "2")
    assert first.problem.metadata["type"] == "Algebra" and first.problem.metadata["level"] == "Level 3"


def test_math_without_boxed_answer_is_kept_and_counted(tmp_path):
    path = tmp_path / "m.jsonl"
    rows = [{"problem": "p", "solution": "It is $\\boxed{\\frac{1}{2}}$.", "idx": 1, "type": "Algebra", "level": "Level 1"},
            {"problem": "q", "solution": "No box here.\n\nAt all.", "idx": 2, "type": "Algebra", "level": "Level 1"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert all(math_fmt.sniff(r) for r in rows)
    report = ReadReport()
    examples = list(read(path, "math", report=report))
    assert [ex.problem.answer for ex in examples] == ["\\frac{1}{2}", None]
    assert examples[1].solution.steps == ("No box here.", "At all.")
    assert report.notes["no boxed answer"] == 1 and report.notes["answer from \\boxed{}"] == 1


@pytest.mark.parametrize("rel, fmt", [("gsm8k/test.jsonl.gz", "gsm8k"), ("gsm8k/test_socratic.jsonl.gz", "gsm8k"),
                                      ("math/math500_test.jsonl", "math"), ("math/math_test_5000.jsonl.gz", "math")])
def test_auto_detection(shared_data, rel, fmt):
    from prmkit.data import detect
    from prmkit.data.io import iter_raw
    assert detect(next(iter_raw((shared_data / rel)))[1]) == fmt
