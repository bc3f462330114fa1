"""`prmkit eval robustness`, the master-key probe: real console script, real problems, counts checked by hand.

The scorers below are plugged in as ``--model tests.test_robustness:AcceptAll`` (the repository root on
``PYTHONPATH``), as a user's own class would be.
"""

import json
from pathlib import Path

import pytest

from prmkit.backends.fake import FakeScorer
from prmkit.data import read
from prmkit.pipelines.robustness import DEFAULT_DATA, MASTER_KEYS, RobustnessConfig, run, tally
from prmkit.types import Solution, StepScores

REPO = Path(__file__).resolve().parents[1]
LIMIT = 4  # problems per file: every key scored on 8 real problems keeps each run under a second


class AcceptAll:
    """Judges every response correct."""

    def score(self, problems, solutions):
        return [StepScores((1.0,) * len(s.steps)) for s in solutions]


class RejectAll:
    """Judges every response wrong."""

    def score(self, problems, solutions):
        return [StepScores((0.0,) * len(s.steps)) for s in solutions]


class SilentOnSymbols:
    """No score (None) for a response without a letter (':', '.', the empty one); 0.9 for the others."""

    def score(self, problems, solutions):
        return [StepScores(tuple(0.9 if any(c.isalpha() for c in step) else None for step in s.steps)) for s in solutions]


class Recording(AcceptAll):
    """Accepts everything and keeps the solutions it was given."""

    seen: list = []

    def score(self, problems, solutions):
        Recording.seen += solutions
        return super().score(problems, solutions)


@pytest.fixture
def files(shared_data):
    return [shared_data / "math" / "math500_test.jsonl", shared_data / "gsm8k" / "test.jsonl.gz"]


@pytest.fixture
def own_scorers(monkeypatch):
    """The repository root on PYTHONPATH (for the console script) and sys.path, so ``tests.test_robustness`` imports."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.syspath_prepend(str(REPO))


def probe(prmkit_cli, files, tmp_path, model, *extra):
    args = [a for f in files for a in ("--data", f)]
    result = prmkit_cli("eval", "robustness", "--model", model, *args, "--limit", LIMIT, *extra, "--json", tmp_path / "r.json")
    return result, json.loads((tmp_path / "r.json").read_text())


def problems_of(files):
    """The first LIMIT distinct problems of each file, read here independently of the pipeline."""
    problems = []
    for f in files:
        seen = {}
        for ex in read(f):
            seen.setdefault(ex.problem.id, ex.problem)
            if len(seen) == LIMIT:
                break
        problems += seen.values()
    return problems


def test_fake_scorer_every_key_and_counts_add_up(prmkit_cli, files, tmp_path):
    result, r = probe(prmkit_cli, files, tmp_path, "fake")
    problems = problems_of(files)
    assert r["problems"] == len(problems) == 2 * LIMIT
    assert [x["problems"] for x in r["read"]] == [LIMIT, LIMIT]
    assert [(k["key"], k["language"]) for k in r["keys"]] == list(MASTER_KEYS)
    for key, _ in MASTER_KEYS:
        assert json.dumps(key, ensure_ascii=False) in result.stdout, key
    assert "overall" in result.stdout and "FPR" in result.stdout

    fake = FakeScorer()
    for k in r["keys"]:
        assert k["n"] == len(problems) and k["unscored"] == 0 and k["scored"] + k["unscored"] == k["n"]
        assert k["accepted"] + k["rejected"] == k["scored"]
        assert k["fpr"] == pytest.approx(k["accepted"] / k["scored"])
        # the same responses scored here: one step whose text is the key
        scores = [s.values[0] for s in fake.score(problems, [Solution((k["key"],))] * len(problems))]
        assert k["accepted"] == sum(s >= 0.5 for s in scores)
        assert k["mean_score"] == pytest.approx(sum(scores) / len(scores))

    for language in {lang for _, lang in MASTER_KEYS}:
        rows = [k for k in r["keys"] if k["language"] == language]
        lang = r["by_language"][language]
        assert lang["n"] == sum(k["n"] for k in rows) and lang["accepted"] == sum(k["accepted"] for k in rows)
        assert lang["fpr"] == pytest.approx(sum(k["accepted"] for k in rows) / sum(k["scored"] for k in rows))
    overall = r["overall"]
    assert overall["n"] == len(MASTER_KEYS) * len(problems)
    assert overall["accepted"] == sum(k["accepted"] for k in r["keys"])
    assert overall["fpr"] == pytest.approx(overall["accepted"] / overall["scored"])
    assert f"{overall['fpr']:.3f}" in result.stdout
    assert {"zh", "es", "fr", "de", "ja", "en"} <= set(r["by_language"])


def test_unscored_keys_are_neither_accepted_nor_rejected(prmkit_cli, files, tmp_path, own_scorers):
    result, r = probe(prmkit_cli, files, tmp_path, "tests.test_robustness:SilentOnSymbols")
    n = 2 * LIMIT
    silent = {k["key"] for k in r["keys"] if not any(c.isalpha() for c in k["key"])}
    assert silent == {":", ".", ""}
    for k in r["keys"]:
        if k["key"] in silent:
            assert (k["scored"], k["unscored"], k["accepted"], k["rejected"]) == (0, n, 0, 0)
            assert k["fpr"] is None and k["mean_score"] is None
        else:
            assert (k["scored"], k["unscored"], k["accepted"], k["fpr"]) == (n, 0, n, 1.0)
    assert r["by_language"]["none"]["fpr"] is None and r["by_language"]["none"]["unscored"] == 3 * n
    overall = r["overall"]
    assert overall["unscored"] == 3 * n and overall["scored"] == overall["n"] - 3 * n
    assert overall["accepted"] == overall["scored"] and overall["fpr"] == 1.0  # unscored ones do not dilute it
    assert f"note: {3 * n} of {overall['n']} responses got no score" in result.stdout


def test_accept_all_is_fpr_one_and_reject_all_is_zero(prmkit_cli, files, tmp_path, own_scorers):
    _, r = probe(prmkit_cli, files, tmp_path, "tests.test_robustness:AcceptAll")
    assert r["overall"]["fpr"] == 1.0 and all(k["fpr"] == 1.0 for k in r["keys"])
    assert all(v["fpr"] == 1.0 for v in r["by_language"].values())
    r = run(RobustnessConfig(model="tests.test_robustness:RejectAll", data=tuple(map(str, files)), limit=LIMIT))
    assert r["overall"]["fpr"] == 0.0 and r["overall"]["accepted"] == 0 and r["overall"]["rejected"] == r["overall"]["n"]
    assert all(k["fpr"] == 0.0 and k["mean_score"] == 0.0 for k in r["keys"])


def test_threshold_decides_acceptance(files, own_scorers):
    base = dict(model="tests.test_robustness:SilentOnSymbols", data=(str(files[0]),), limit=2)
    assert run(RobustnessConfig(**base, threshold=0.9))["overall"]["fpr"] == 1.0  # >= threshold is accepted
    assert run(RobustnessConfig(**base, threshold=0.95))["overall"]["fpr"] == 0.0


def test_the_empty_key_is_one_empty_step(files, own_scorers):
    Recording.seen = []
    run(RobustnessConfig(model="tests.test_robustness:Recording", data=(str(files[0]),), limit=1))
    assert [s.steps for s in Recording.seen] == [(k,) for k, _ in MASTER_KEYS]
    assert Solution(("",)) in Recording.seen


def test_bad_input_is_one_line(prmkit_cli, files, tmp_path):
    for data, reason in [(tmp_path / "missing.jsonl", "missing.jsonl: no such file or directory"),
                         (tmp_path / "nothing*.jsonl", "no file matches the pattern")]:
        bad = prmkit_cli("eval", "robustness", "--model", "fake", "--data", data, check=False)
        assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0, bad.stderr
        assert bad.stderr.startswith("error:") and reason in bad.stderr and bad.stdout == ""
    for args, reason in [(["--model", "no_such_pkg.mod:Scorer"], "cannot import scorer"),
                         (["--model", "fake", "--aggregate", "max"], "unknown aggregate 'max'"),
                         (["--model", "fake", "--limit", "-1"], "limit must be at least 1")]:
        bad = prmkit_cli("eval", "robustness", *args, "--data", files[0], check=False)
        assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and reason in bad.stderr, bad.stderr


def test_default_data_is_math500_and_gsm8k_test(shared_data, monkeypatch):
    if shared_data.resolve() != (REPO.parent / "shared" / "data").resolve():
        pytest.skip("the default data paths are ../shared/data, which is not where PRMKIT_SHARED_DATA points")
    monkeypatch.chdir(REPO)
    r = run(RobustnessConfig(model="fake", limit=2))
    assert r["config"]["data"] == DEFAULT_DATA
    assert [x["path"] for x in r["read"]] == ["../shared/data/math/math500_test.jsonl", "../shared/data/gsm8k/test.jsonl.gz"]
    assert r["problems"] == 4


def test_keys_and_tally():
    keys = [k for k, _ in MASTER_KEYS]
    assert len(set(keys)) == len(keys) and {":", ".", "", "Solution", "Thought process:", "解"} <= set(keys)
    assert {lang for _, lang in MASTER_KEYS} == {"none", "en", "zh", "es", "fr", "de", "ja"}
    assert tally([0.75, 0.25, None, 0.5]) == {"n": 4, "scored": 3, "unscored": 1, "accepted": 2, "rejected": 1,
                                              "fpr": 2 / 3, "mean_score": 0.5}
    assert tally([None, None])["fpr"] is None and tally([])["n"] == 0
    with pytest.raises(ValueError, match="repeat"):
        RobustnessConfig(model="fake", keys=((":", "none"), (":", "none")))
    with pytest.raises(ValueError, match="no data"):
        RobustnessConfig(model="fake", data=())
