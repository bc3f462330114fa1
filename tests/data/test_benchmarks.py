"""ProcessBench and PRMBench readers on the real files: counts, labels, clamping, writer round trip."""

import gzip
import json

from prmkit.data import ReadReport, read, write
from prmkit.data.stats import dataset_stats

PROCESSBENCH_COUNTS = {"gsm8k": (207, 193), "math": (594, 406), "olympiadbench": (661, 339), "omnimath": (759, 241)}


def test_processbench_counts_and_labels(shared_data):
    examples = list(read(shared_data / "processbench"))
    assert len(examples) == 3400
    stats = dataset_stats(examples)
    for subset, (n_error, n_correct) in PROCESSBENCH_COUNTS.items():
        g = stats["groups"][subset]
        assert (g["error"], g["correct"]) == (n_error, n_correct), subset
    first = examples[0]  # gsm8k-0: Qwen2-7B-Instruct, label 1
    raw = json.load(gzip.open(shared_data / "processbench" / "gsm8k.json.gz"))[0]
    assert first.problem.id == raw["id"] == "gsm8k-0"
    assert first.first_error == raw["label"] == 1
    assert first.labels.values[:3] == (1.0, 0.0, None)  # after the first error: unknown, not "wrong"
    assert first.problem.metadata == {"subset": "gsm8k", "generator": "Qwen2-7B-Instruct"}


def test_processbench_writer_reproduces_the_file(shared_data, tmp_path):
    src = shared_data / "processbench" / "math.json.gz"
    write(read(src), tmp_path / "math.json", "processbench")
    assert json.loads((tmp_path / "math.json").read_text()) == json.load(gzip.open(src))


def test_prmbench_counts_clamping_and_correct_samples(shared_data):
    report = ReadReport()
    examples = list(read(shared_data / "prmbench", report=report))
    assert len(examples) == report.records == 6216
    assert report.notes == {"clamped error_steps": 151, "records with clamped error_steps": 100}
    by_class = dataset_stats(examples, by="classification")["groups"]
    assert by_class["circular"]["items"] == 758 and by_class["multi_solutions"]["correct"] == 165
    # a clamped record keeps its raw indices and marks the last step wrong
    clamped = [e for e in examples if max(e.problem.metadata["error_steps"], default=0) > len(e.solution.steps)]
    assert len(clamped) == 100
    assert all(e.labels.values[-1] == 0.0 for e in clamped)
    # error_steps are 1-based: the first record's error_steps [3, 4, 5] mark 0-based steps 2..4
    first = examples[0]
    assert first.problem.id == "circular_prm_test_p1_0" and first.problem.metadata["error_steps"] == [3, 4, 5]
    assert first.labels.values == (1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0) and first.first_error == 2

    with_correct = list(read(shared_data / "prmbench", with_correct_samples=True))
    extra = [e for e in with_correct if e.problem.metadata["classification"] == "correct"]
    assert len(with_correct) == 6216 + 758 and len(extra) == 758
    assert all(e.first_error is None and e.correct for e in extra)
    assert extra[0].problem.id == "correct_prm_test_p1_0"
