"""The `prmkit` command as a user runs it: real console script, real data, exit codes, one-line errors."""

import gzip
import json



def test_stats_processbench(prmkit_cli, shared_data, tmp_path):
    result = prmkit_cli("data", "stats", shared_data / "processbench", "--json", tmp_path / "s.json")
    assert "3400 items" in result.stdout
    stats = json.loads((tmp_path / "s.json").read_text())
    got = {k: (g["error"], g["correct"]) for k, g in stats["groups"].items()}
    assert got == {"gsm8k": (207, 193), "math": (594, 406), "olympiadbench": (661, 339), "omnimath": (759, 241)}
    assert stats["total"]["first_error_histogram"]["0"] == 271
    assert "first-error position" in result.stdout


def test_stats_prmbench_reports_clamping(prmkit_cli, shared_data, tmp_path):
    result = prmkit_cli("data", "stats", shared_data / "prmbench", "--by", "classification", "--json", tmp_path / "s.json")
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["total"]["items"] == 6216 and "6216 items" in result.stdout
    assert stats["read"]["notes"] == {"clamped error_steps": 151, "records with clamped error_steps": 100}
    assert "note: 100 records with clamped error_steps" in result.stderr
    assert "duplicate ids: 5 (kept)" in result.stdout


def test_corrupted_copy_gives_one_line_error(prmkit_cli, shared_data, tmp_path):
    src = shared_data / "prmbench" / "prm800k_test_p1_4o_circular.jsonl.gz"
    lines = gzip.open(src, "rt").read().splitlines()
    record = json.loads(lines[8])
    record["error_steps"] = "3"  # wrong type on line 9
    lines[8] = json.dumps(record)
    lines[4] = lines[4][:100]  # truncated line 5
    bad = tmp_path / "circular.jsonl"
    bad.write_text("\n".join(lines) + "\n")

    result = prmkit_cli("data", "stats", bad, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.strip().startswith(f"error: {bad}:5: invalid JSON")

    lines[4] = gzip.open(src, "rt").read().splitlines()[4]
    bad.write_text("\n".join(lines) + "\n")
    result = prmkit_cli("data", "stats", bad, "--format", "prmbench", check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {bad}:9: field 'error_steps': expected a list, got str '3'"

    lines[4] = lines[4][:100]
    bad.write_text("\n".join(lines) + "\n")
    result = prmkit_cli("data", "stats", bad, "--format", "prmbench", "--skip-invalid", "--json", tmp_path / "s.json")
    assert "skipped 2 invalid record(s) of 90" in result.stderr
    assert json.loads((tmp_path / "s.json").read_text())["total"]["items"] == 88


def test_missing_file_and_unknown_format(prmkit_cli, tmp_path):
    result = prmkit_cli("data", "stats", tmp_path / "nope.jsonl", check=False)
    assert result.returncode == 2 and "nope.jsonl: no such file or directory" in result.stderr
    (tmp_path / "x.jsonl").write_text('{"a": 1}\n')
    result = prmkit_cli("data", "stats", tmp_path / "x.jsonl", check=False)
    assert result.returncode == 2 and "cannot tell the format" in result.stderr
    result = prmkit_cli("data", "convert", tmp_path / "x.jsonl", tmp_path / "y.jsonl", "--from", "nope", check=False)
    assert result.returncode == 2 and "unknown format 'nope'" in result.stderr


def test_convert_prmbench_to_prmkit_and_back_into_stats(prmkit_cli, shared_data, tmp_path):
    src = shared_data / "prmbench" / "prm800k_test_p1_4o_redundency.jsonl.gz"
    out = tmp_path / "r.jsonl"
    result = prmkit_cli("data", "convert", src, out, "--from", "prmbench", "-o", "with_correct_samples=true")
    assert "wrote 180 record(s) from 180 example(s) (90 input records)" in result.stdout
    stats = prmkit_cli("data", "stats", out, "--by", "classification")
    assert "180 items" in stats.stdout


def test_ls_formats_lists_every_format(prmkit_cli):
    from prmkit.data import FORMATS

    result = prmkit_cli("ls", "formats")
    for name in FORMATS:
        assert name in result.stdout


def test_convert_round_trips_are_lossless(prmkit_cli, shared_data, tmp_path):
    src = shared_data / "processbench" / "omnimath.json.gz"
    prmkit_cli("data", "convert", "--from", "processbench", "--to", "trl-stepwise", src, tmp_path / "trl.jsonl")
    prmkit_cli("data", "convert", "--from", "trl-stepwise", "--to", "processbench", tmp_path / "trl.jsonl", tmp_path / "back.json")
    assert json.loads((tmp_path / "back.json").read_text()) == json.load(gzip.open(src))

    shepherd = shared_data / "openr_samples" / "samples_math-shepherd.jsonl"
    prmkit_cli("data", "convert", "--from", "math-shepherd", "--to", "prmkit", shepherd, tmp_path / "ms.jsonl")
    prmkit_cli("data", "convert", "--from", "prmkit", "--to", "math-shepherd", tmp_path / "ms.jsonl", tmp_path / "ms_back.jsonl")
    assert (tmp_path / "ms_back.jsonl").read_text(encoding="utf-8").splitlines() == [
        json.dumps(json.loads(line), ensure_ascii=False) for line in shepherd.read_text(encoding="utf-8").splitlines()]


def test_soft_labels_survive_conversion(prmkit_cli, tmp_path):
    src = tmp_path / "soft.jsonl"
    src.write_text(json.dumps({"prompt": "1+1?", "completions": ["1+1=2", "so 2"], "labels": [0.7, 0.25]}) + "\n")
    prmkit_cli("data", "convert", "--from", "trl-stepwise", "--to", "prmkit", src, tmp_path / "p.jsonl")
    assert json.loads((tmp_path / "p.jsonl").read_text())["labels"] == {"values": [0.7, 0.25], "kind": "soft"}
    prmkit_cli("data", "convert", "--from", "prmkit", "--to", "trl-stepwise", tmp_path / "p.jsonl", tmp_path / "t.jsonl")
    assert json.loads((tmp_path / "t.jsonl").read_text())["labels"] == [0.7, 0.25]
