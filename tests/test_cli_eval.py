"""`prmkit eval ...` and `prmkit score` as a user runs them: real console script, real data, pinned numbers."""

import json

import pytest



def test_bon_qwen25_math_acceptance(prmkit_cli, shared_data, tmp_path):
    """Issue 3: RM@8 = 0.94 from the file's own RM scores; pass@1 = 0.91 and maj@8 = 0.93 from its labels."""
    result = prmkit_cli("eval", "bon", shared_data / "qwen25_math_bon", "--json", tmp_path / "bon.json")
    r = json.loads((tmp_path / "bon.json").read_text())
    assert r["problems"] == 100 and r["set_sizes"] == {"8": 100} and list(r["n"]) == ["1", "2", "4", "8"]
    assert r["n"]["8"]["rm"]["value"] == pytest.approx(0.94)
    assert r["n"]["1"]["pass"]["value"] == pytest.approx(0.91)
    assert r["n"]["8"]["maj"]["value"] == pytest.approx(0.93)
    assert r["n"]["8"]["pass"]["value"] == pytest.approx(0.96)
    assert r["n"]["1"]["rm"]["value"] == pytest.approx(0.91)  # all 8 singletons enumerated: exactly pass@1
    lo, hi = r["n"]["8"]["rm"]["ci"]
    assert lo < 0.94 < hi
    assert "0.940" in result.stdout and "Best-of-N on 100 problems" in result.stdout
    again = prmkit_cli("eval", "bon", shared_data / "qwen25_math_bon", "--n", "2,8", "--json", tmp_path / "b2.json")
    assert json.loads((tmp_path / "b2.json").read_text())["n"]["2"] == r["n"]["2"] and again.returncode == 0


PAIRWISE = {  # correct pairs of 447 (Easy_to_hard: 444 complete pairs), per aggregation; measured, pinned
    "Easy_to_hard": {"min": 237, "prod": 302, "last": 140, "mean": 120, "geometric_mean": 130},
    "Math_Shepherd": {"min": 371, "prod": 422, "last": 294, "mean": 363, "geometric_mean": 364},
    "ReasonEval_34B": {"min": 190, "prod": 373, "last": 130, "mean": 82, "geometric_mean": 88},
    "ReasonEval_7B": {"min": 187, "prod": 282, "last": 105, "mean": 54, "geometric_mean": 66},
}


def test_pairwise_rewardbench_math(prmkit_cli, shared_data, tmp_path):
    files = sorted((shared_data / "rewardmath" / "rewardbench_math_prm_scores").glob("*.json.gz"))
    assert len(files) == 4
    bad = prmkit_cli("eval", "pairwise", *files, check=False)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "rewardbench_Easy_to_hard.json.gz: record 401: field 'output.step_scores': 3 scores for 2 steps" in bad.stderr
    assert "--skip-invalid" in bad.stderr

    result = prmkit_cli("eval", "pairwise", *files, "--skip-invalid", "--json", tmp_path / "p.json")
    r = json.loads((tmp_path / "p.json").read_text())["files"]
    got = {v["prm"]: {k: a["correct"] for k, a in v["aggregations"].items()} for v in r.values()}
    assert got == PAIRWISE
    e2h = r[str(files[0])]
    assert e2h["pairs"] == 444 and e2h["unpaired_problems"] == 3
    assert e2h["unpaired_ids"] == ["rewardbench-math-200", "rewardbench-math-204", "rewardbench-math-291"]
    assert e2h["aggregations"]["min"]["ties"] == 3 and e2h["aggregations"]["min"]["accuracy"] == pytest.approx(237 / 444)
    assert sum(e2h["read"]["skipped"].values()) == 3
    assert "skipped 3 invalid record(s) of 894" in result.stderr
    assert "3 problem(s) lack a chosen or a rejected solution" in result.stderr
    assert "rewardbench-math-200" in result.stderr
    assert "Math_Shepherd" in result.stdout and "0.944" in result.stdout and "(3 ties)" in result.stdout


def test_processbench_fake_model_and_scores_file_agree(prmkit_cli, shared_data, tmp_path):
    pb = shared_data / "processbench"
    direct = prmkit_cli("eval", "processbench", pb, "--model", "fake", "--json", tmp_path / "direct.json")
    d = json.loads((tmp_path / "direct.json").read_text())
    hits = {k: (round(v["error_acc"] * v["n_error"]), round(v["correct_acc"] * v["n_correct"])) for k, v in d["subsets"].items()}
    assert hits == {"gsm8k": (44, 9), "math": (123, 18), "olympiadbench": (86, 3), "omnimath": (112, 2)}
    for s in d["subsets"].values():
        assert s["f1"] == pytest.approx(2 * s["error_acc"] * s["correct_acc"] / (s["error_acc"] + s["correct_acc"]))
    assert d["average_f1"] == pytest.approx(sum(s["f1"] for s in d["subsets"].values()) / 4)
    assert "average F1" in direct.stdout and "0.045" in direct.stdout

    shown = prmkit_cli("score", pb, "--model", "fake", "--out", tmp_path / "scores.jsonl.gz", "--show", "2")
    assert "wrote 3400 scored example(s)" in shown.stdout
    assert "gsm8k-0" in shown.stdout and "gsm8k-1" in shown.stdout and "gsm8k-2:" not in shown.stdout
    assert "score < 0.5 in red" in shown.stdout

    via_file = prmkit_cli("eval", "processbench", pb, "--scores", tmp_path / "scores.jsonl.gz", "--json", tmp_path / "f.json")
    f = json.loads((tmp_path / "f.json").read_text())
    assert f["subsets"] == d["subsets"] and f["average_f1"] == d["average_f1"]
    def table(stdout):  # the rows, without the title (which names the score source)
        lines = stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if "error acc" in line)
        return lines[start:next(i for i, line in enumerate(lines) if "average F1" in line) + 1]

    assert table(via_file.stdout) == table(direct.stdout)
    alone = prmkit_cli("eval", "processbench", "--scores", tmp_path / "scores.jsonl.gz", "--json", tmp_path / "a.json")
    assert json.loads((tmp_path / "a.json").read_text())["subsets"] == d["subsets"] and alone.returncode == 0


def test_processbench_policies_on_the_command_line(prmkit_cli, shared_data, tmp_path):
    pb = shared_data / "processbench"
    cal = prmkit_cli("eval", "processbench", pb, "--model", "fake", "--threshold-policy", "calibrated", "--calibrate-on", "gsm8k",
              "--json", tmp_path / "c.json")
    c = json.loads((tmp_path / "c.json").read_text())
    assert c["threshold"]["calibrated_on"] == "gsm8k" and c["threshold"]["threshold"] != 0.5
    assert c["average_f1"] > c["threshold"]["average_f1_at_fixed"]
    assert "calibrated on gsm8k" in cal.stdout and "in-sample" in cal.stdout
    oracle = prmkit_cli("eval", "processbench", pb, "--model", "fake", "--threshold-policy", "oracle", "--json", tmp_path / "o.json")
    o = json.loads((tmp_path / "o.json").read_text())
    assert o["threshold"]["upper_bound"] is True and o["average_f1"] >= c["average_f1"]
    assert "UPPER BOUND" in oracle.stdout


def test_prmbench_fake_model(prmkit_cli, shared_data, tmp_path):
    src = shared_data / "prmbench" / "prm800k_test_p1_4o_redundency.jsonl.gz"
    result = prmkit_cli("eval", "prmbench", src, "--model", "fake", "--json", tmp_path / "r.json")
    r = json.loads((tmp_path / "r.json").read_text())
    assert set(r["classes"]) == {"redundency", "correct"} and r["classes"]["correct"]["samples"] == 90
    assert r["overall"]["samples"] == 90  # the 90 extra error-free samples are not in the overall numbers
    o = r["overall"]
    assert o["prm_score"] == pytest.approx(0.5 * o["f1"] + 0.5 * o["negative_f1"])
    assert "overall (without correct)" in result.stdout and "PRMScore" in result.stdout


def test_eval_bad_input_is_one_line(prmkit_cli, shared_data, tmp_path):
    pb = shared_data / "processbench" / "gsm8k.json.gz"
    for args, message in [
        (("processbench", pb, "--model", "fake", "--scores", pb), "error: give either a model or a scores file, not both"),
        (("processbench", pb), "carry no scores; pass a model or a scores file"),
        (("processbench", pb, "--model", "fake", "--threshold-policy", "calibrated", "--calibrate-on", "nope"),
         "neither a subset of the data (gsm8k) nor a file"),
        (("bon", shared_data / "qwen25_math_bon", "--n", "1,16"), "every N must be in 1..8"),
        (("bon", shared_data / "qwen25_math_bon", "--n", "a"), "not a comma-separated list"),
        (("processbench", pb, "--model", "fake", "--threshold-policy", "best"), "unknown threshold policy 'best'"),
        (("processbench", pb, "--model", str(tmp_path / "no-such-prm")), "no such folder"),  # not "no PRM spec"
        (("processbench", pb, "--model", "nosuch/prm"), "no hub id with a PRM preset"),  # refused before any hub call
    ]:
        result = prmkit_cli("eval", *args, check=False)
        assert result.returncode == 2, result.stdout
        assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr


def test_bon_first_n_reproduces_qwen25_math_rm_maj_eval(prmkit_cli, shared_data, tmp_path):
    """Qwen2.5-Math evaluation/rm_maj_eval.py takes the first k samples and votes over identical strings."""
    result = prmkit_cli("eval", "bon", shared_data / "qwen25_math_bon", "--first-n", "--exact-vote", "--n", "2,4",
                        "--bootstrap", "50", "--json", tmp_path / "b.json")
    n = json.loads((tmp_path / "b.json").read_text())["n"]
    assert [round(n[k][m]["value"], 2) for k in ("2", "4") for m in ("maj", "rm")] == [0.90, 0.93, 0.93, 0.93]
    assert "first N candidates in file order" in result.stdout and "identical answer strings" in result.stdout


def test_prmbench_multi_solutions_prm_score_is_its_f1_and_groups_are_printed(prmkit_cli, shared_data, tmp_path):
    src = shared_data / "prmbench" / "prm_test_p12_multi_solutions.jsonl.gz"
    result = prmkit_cli("eval", "prmbench", src, "--model", "fake", "--json", tmp_path / "r.json")
    r = json.loads((tmp_path / "r.json").read_text())
    ms = r["classes"]["multi_solutions"]
    assert ms["TN"] + ms["FP"] == 0 and ms["prm_score"] == pytest.approx(ms["f1"]) and ms["f1"] > 0
    assert r["groups"]["sensitivity"] == {"prm_score": ms["prm_score"], "classes": ["multi_solutions"],
                                          "missing": ["missing_condition", "deception"]}
    assert "PRMScore by group" in result.stdout and "sensitivity" in result.stdout


def test_scores_alone_prints_that_completeness_was_not_checked(prmkit_cli, tmp_path):
    from prmkit.data import write
    from prmkit.types import Example, Problem, Solution, StepLabels, StepScores

    scored = tmp_path / "s.jsonl"
    write([Example(Problem(f"p{i}", "q"), Solution(["a", "b"]), StepLabels([1, i % 2]), StepScores([0.9, 0.2]))
           for i in range(4)], scored)
    result = prmkit_cli("eval", "processbench", "--scores", scored)
    assert "completeness not checked (no reference data given)" in result.stdout


def test_empty_input_is_0_items_and_rc_2(prmkit_cli, tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    for args in (("processbench", tmp_path / "empty.jsonl", "--model", "fake"), ("bon", tmp_path / "empty.jsonl"),
                 ("pairwise", tmp_path / "empty.jsonl"), ("processbench", "--scores", tmp_path / "empty.jsonl")):
        result = prmkit_cli("eval", *args, check=False)
        assert result.returncode == 2 and "0 items" in result.stderr, (args, result.stdout, result.stderr)
        assert result.stderr.strip().count("\n") == 0
