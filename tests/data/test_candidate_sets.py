"""Candidate sets (several solutions per problem): gsm8k-solutions, qwen-bon and rewardmath on the real files."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from prmkit.answers import answers_equal
from prmkit.data import ReadReport, group_by_problem, read
from prmkit.data.formats import gsm8k_solutions, qwen_bon, rewardmath
from prmkit.errors import DataError

PRMS = ("Easy_to_hard", "Math_Shepherd", "ReasonEval_34B", "ReasonEval_7B")
SCORE_ONLY = ("ArmoRM", "Easy_to_hard", "Math_Shepherd", "ReasonEval_7B", "skywork_llama3")



# ----------------------------------------------------------------------------- gsm8k-solutions


def test_gsm8k_example_model_solutions(shared_data):
    report = ReadReport()
    examples = list(read((shared_data / "gsm8k/example_model_solutions.jsonl.gz"), "gsm8k-solutions", report=report))
    groups = group_by_problem(examples)
    assert (len(examples), len(groups)) == (5276, 1319)
    assert all([ex.solution.metadata["system"] for ex in g] == list(gsm8k_solutions.SYSTEMS) for g in groups.values())
    assert report.notes == {"solution without a final 'A:' line": 11}
    by_system = Counter(ex.solution.metadata["system"] for ex in examples if ex.correct)
    accuracy = {s: round(n / 1319, 4) for s, n in by_system.items()}
    assert by_system == {"6b_finetuning": 286, "6b_verification": 515, "175b_finetuning": 458, "175b_verification": 742}, accuracy
    # is_correct agrees with comparing the 'A:' answer to the ground truth, for every solution
    assert all(answers_equal(ex.solution.final_answer, ex.problem.answer) == ex.correct for ex in examples)
    first = groups["gsm8k-example_model_solutions-1"]
    assert first[0].problem.answer == "18" and first[3].solution.final_answer == "18" and first[3].correct
    assert first[0].solution.steps[-1] == "She has 13 ducks eggs and she sells 2 each day so she makes 13 * 2 = $<<13*2=26>>26"


def test_gsm8k_solutions_errors(tmp_path):
    rec = {"question": "q", "ground_truth": "1+1=2\nA: 2", "6b_finetuning": {"is_correct": "yes", "solution": "A: 2"}}
    assert gsm8k_solutions.sniff(rec)
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    with pytest.raises(DataError, match=r"s.jsonl:1: field '6b_finetuning.is_correct': expected a boolean"):
        list(read(path, "gsm8k-solutions"))


# ----------------------------------------------------------------------------- qwen-bon


def _majority_correct(candidates) -> bool:
    """maj@N: cluster final answers with answers_equal; the largest cluster wins, ties to the first seen."""
    clusters: list[list] = []
    for ex in candidates:
        for cluster in clusters:
            if answers_equal(ex.solution.final_answer, cluster[0].solution.final_answer):
                cluster.append(ex)
                break
        else:
            clusters.append([ex])
    return bool(max(clusters, key=len)[0].correct)


def test_qwen_bon_best_of_8(shared_data):
    examples = list(read((shared_data / "qwen25_math_bon/math_cot_100.jsonl.gz"), "qwen-bon"))
    groups = group_by_problem(examples)
    assert (len(examples), len(groups)) == (800, 100) and all(len(g) == 8 for g in groups.values())
    assert all(ex.scores.source == "Qwen2.5-Math-RM-72B" and len(ex.scores) == len(ex.solution.steps) > 0
               and set(ex.scores.values) == {None} for ex in examples)
    rm_at_8 = sum(max(g, key=lambda ex: ex.scores.outcome).correct for g in groups.values()) / 100
    pass_at_1 = sum(ex.correct for ex in examples) / 800
    maj_at_8 = sum(_majority_correct(g) for g in groups.values()) / 100
    pass_at_8 = sum(any(ex.correct for ex in g) for g in groups.values()) / 100
    measured = f"RM@8={rm_at_8} pass@1={pass_at_1} maj@8={maj_at_8} pass@8={pass_at_8}"
    assert (rm_at_8, pass_at_1, maj_at_8, pass_at_8) == (0.94, 0.91, 0.93, 0.96), measured
    first = groups["qwen-bon-0"][0]
    assert first.problem.answer == "420" and first.solution.final_answer == "420" and first.scores.outcome == 3.546875


def test_qwen_bon_length_mismatch_is_located(tmp_path):
    rec = {"idx": 0, "question": "q", "gt": "1", "code": ["a\n\nb", "c"], "pred": ["1"], "score": [True, False],
           "pred_score": [[0.5], [0.1]]}
    assert qwen_bon.sniff(rec)
    path = tmp_path / "b.jsonl"
    path.write_text("\n" + json.dumps(rec) + "\n")
    with pytest.raises(DataError, match=r"b.jsonl:2: field 'pred': 1 items but 'code' has 2 responses"):
        list(read(path, "qwen-bon"))


# ----------------------------------------------------------------------------- rewardmath


@pytest.mark.parametrize("prm", PRMS)
def test_rewardbench_prm_scores(shared_data, prm):
    path = (shared_data / f"rewardmath/rewardbench_math_prm_scores/rewardbench_{prm}.json.gz")
    report = ReadReport()
    examples = list(read(path, "rewardmath", skip_invalid=True, report=report))
    # Easy_to_hard has 3 records with one score more than steps (records 401, 410, 583): reported, not guessed
    skipped = 3 if prm == "Easy_to_hard" else 0
    assert report.records == 894 and len(examples) == 894 - skipped and report.n_skipped == skipped
    assert all(len(ex.scores.values) == len(ex.solution.steps) and ex.scores.source == prm for ex in examples)
    assert len(group_by_problem(examples)) == 447 and sum(ex.correct for ex in examples) == 447 - (2 if skipped else 0)
    assert examples[0].problem.id == "rewardbench-math-0" and examples[0].solution.final_answer == "1600"


def test_rewardbench_score_count_mismatch_is_an_error(shared_data):
    path = (shared_data / "rewardmath/rewardbench_math_prm_scores/rewardbench_Easy_to_hard.json.gz")
    with pytest.raises(DataError, match=r"record 401: field 'output.step_scores': 3 scores for 2 steps"):
        list(read(path, "rewardmath"))


def _pairwise_min_accuracy(examples) -> float:
    pairs = [g for g in group_by_problem(examples).values() if len(g) == 2]
    wins = sum(min(next(e for e in g if e.correct).scores.values) > min(next(e for e in g if not e.correct).scores.values)
               for g in pairs)
    return wins / len(pairs)


def test_rewardbench_math_shepherd_pairwise_accuracy(shared_data):
    examples = list(read((shared_data / "rewardmath/rewardbench_math_prm_scores/rewardbench_Math_Shepherd.json.gz"), "rewardmath"))
    accuracy = _pairwise_min_accuracy(examples)
    assert round(accuracy * 447) == 371 and accuracy == pytest.approx(0.82998, abs=1e-5), accuracy


@pytest.mark.parametrize("rm", SCORE_ONLY)
def test_rewardmath_score_only(shared_data, rm):
    examples = list(read((shared_data / f"rewardmath/rewardmath_scores/{rm}_reward.json.gz"), "rewardmath"))
    groups = group_by_problem(examples)
    assert (len(examples), len(groups)) == (4830, 483) and all(len(g) == 10 for g in groups.values())
    assert all(ex.solution.steps == () and len(ex.scores) == 0 and ex.scores.outcome is not None for ex in examples)
    assert [ex.correct for ex in groups["rewardmath-0"]] == [True] + [False] * 9
    assert groups["rewardmath-0"][0].solution.metadata["reference"] == "human_to_GPT-4"
    assert ("step_scores" in examples[0].solution.metadata) == (rm not in ("ArmoRM", "skywork_llama3"))


def test_rewardmath_score_only_aggregate_option(shared_data):
    path = (shared_data / "rewardmath/rewardmath_scores/Math_Shepherd_reward.json.gz")
    first = next(iter(read(path, "rewardmath", aggregate="last")))
    assert first.scores.outcome == first.solution.metadata["step_scores"][-1] == pytest.approx(0.26695704460144043)


def test_rewardmath_direct_sample(shared_data):
    examples = list(read((shared_data / "rewardmath/RewardMATH_direct_sample20.json"), "rewardmath"))
    assert len(examples) == 20 and sum(ex.correct for ex in examples) == 2
    assert set(group_by_problem(examples)) == {"rewardmath-0", "rewardmath-399"}
    assert examples[0].problem.answer == "1600" and examples[0].solution.metadata["reference"] == "human_to_GPT-4"
    assert examples[0].scores is None and len(examples[0].solution.steps) == 7


def test_sniffs_tell_the_candidate_formats_apart():
    rec_a = {"problem": "p", "eval_solution": ["s"], "output": {"step_scores": [0.5]}, "solution_type": "chosen"}
    rec_b = {"problem": "p", "solution_reference": ["a", "b"], "score": [0.1, 0.2]}
    qwen = {"question": "q", "code": [], "pred": [], "score": [], "pred_score": []}
    gsm = {"question": "q", "ground_truth": "A: 1", "6b_finetuning": {}}
    for mod, rec in ((rewardmath, rec_a), (rewardmath, rec_b), (qwen_bon, qwen), (gsm8k_solutions, gsm)):
        assert [m.sniff(rec) for m in (gsm8k_solutions, qwen_bon, rewardmath)] == [m is mod for m in (gsm8k_solutions, qwen_bon, rewardmath)]


def test_rewardmath_unknown_aggregate_is_refused():
    with pytest.raises(ValueError, match="unknown aggregate 'max'"):
        rewardmath.Options(aggregate="max")


@pytest.mark.parametrize("rel, fmt", [
    ("gsm8k/example_model_solutions.jsonl.gz", "gsm8k-solutions"), ("qwen25_math_bon/math_cot_100.jsonl.gz", "qwen-bon"),
    ("rewardmath/rewardbench_math_prm_scores/rewardbench_Math_Shepherd.json.gz", "rewardmath"),
    ("rewardmath/rewardmath_scores/ArmoRM_reward.json.gz", "rewardmath"), ("rewardmath/RewardMATH_direct_sample20.json", "rewardmath"),
])
def test_auto_detection(shared_data, rel, fmt):
    from prmkit.data import detect
    from prmkit.data.io import iter_raw
    assert detect(next(iter_raw((shared_data / rel)))[1]) == fmt
