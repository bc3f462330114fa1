"""The `prmkit` command as a user runs it: real console script, real data, exit codes, one-line errors."""

import gzip
import json
import zlib

import pytest

from prmkit.data import example_to_dict
from prmkit.types import Example, Problem, Solution, StepLabels, StepScores


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


# --------------------------------------------------------------------------- files that cannot be read (issue 13)
# Each unreadable file ends the command with one located line on stderr and exit code 2.


def _record(i: int, subset: str = "s", **overrides) -> dict:
    """One prmkit-format record with labels and scores, so every command can read it."""
    ex = Example(Problem(f"p{i}", f"What is {i}+1?", str(i + 1), {"subset": subset}),
                 Solution((f"{i}+1={i + 1}", f"so {i + 1}"), str(i + 1)),
                 StepLabels((1, 1), "hard"), StepScores((0.9, 0.8)), correct=True)
    return {**example_to_dict(ex), **overrides}


def _lines(records) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def _truncated_gzip(path, complete: int = 10):
    """A .jsonl.gz whose compressed stream stops right after line ``complete``, as an interrupted download."""
    gz = zlib.compressobj(wbits=31)  # gzip header, no trailer: the stream never ends
    path.write_bytes(gz.compress(_lines(_record(i) for i in range(complete))) + gz.flush(zlib.Z_FULL_FLUSH))
    return path


def _error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.strip().count("\n") == 0, result.stderr
    return result.stderr.strip()


TRUNCATED = "truncated gzip file: the compressed data ends before its end marker"


def test_truncated_gzip_names_the_line_it_stops_at(prmkit_cli, tmp_path):
    bad = _truncated_gzip(tmp_path / "cut.jsonl.gz")
    assert _error_line(prmkit_cli("data", "stats", bad, check=False)) == f"error: {bad}:11: {TRUNCATED}"
    # not a record that --skip-invalid could step over: the rest of the file is gone
    result = prmkit_cli("data", "stats", bad, "--skip-invalid", check=False)
    assert _error_line(result) == f"error: {bad}:11: {TRUNCATED}"


def test_gz_file_that_is_not_gzip(prmkit_cli, tmp_path):
    bad = tmp_path / "plain.jsonl.gz"
    bad.write_bytes(_lines([_record(1)]))
    assert _error_line(prmkit_cli("data", "stats", bad, check=False)) == \
        f"error: {bad}: not a gzip file despite its .gz name (it starts with b'{{\"')"


def test_deeply_nested_json_is_located(prmkit_cli, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    array = tmp_path / "deep.json"
    array.write_text(deep)
    assert _error_line(prmkit_cli("data", "stats", array, check=False)) == \
        f"error: {array}: invalid JSON (nested too deeply)"
    lines = tmp_path / "deep.jsonl"
    lines.write_bytes(_lines([_record(1)]) + deep.encode() + b"\n")
    assert _error_line(prmkit_cli("data", "stats", lines, check=False)) == \
        f"error: {lines}:2: invalid JSON (nested too deeply)"


def test_invalid_utf8_names_file_line_and_column(prmkit_cli, tmp_path):
    lines = tmp_path / "latin1.jsonl"
    lines.write_bytes(_lines([_record(1), _record(2)]) + b'{"prompt": "caf\xe9"}\n')
    assert _error_line(prmkit_cli("data", "stats", lines, check=False)) == \
        f"error: {lines}:3: invalid UTF-8 (byte 0xe9 at column 16)"
    array = tmp_path / "latin1.json"
    array.write_bytes(b'[\n' + json.dumps(_record(1)).encode() + b',\n  {"prompt": "\xff"}\n]\n')
    assert _error_line(prmkit_cli("data", "stats", array, check=False)) == \
        f"error: {array}:3: invalid UTF-8 (byte 0xff at column 15)"


def test_utf8_bom_is_accepted_in_json_and_jsonl(prmkit_cli, tmp_path):
    folder = tmp_path / "bom"
    folder.mkdir()
    bom = b"\xef\xbb\xbf"
    (folder / "a.json").write_bytes(bom + json.dumps([_record(1), _record(2)]).encode())
    (folder / "b.jsonl").write_bytes(bom + _lines([_record(3)]))
    result = prmkit_cli("data", "stats", folder, "--json", tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text())["total"]["items"] == 3, result.stdout


def test_data_values_are_never_read_as_markup(prmkit_cli, tmp_path):
    src = tmp_path / "markup.jsonl"
    records = [_record(1, subset="[bold]x[/bold]"), _record(2, labels="[/red]"), _record(3, subset="plain")]
    src.write_bytes(_lines(records))
    wrong = f"{src}:2: field 'labels': expected an object, got str '[/red]'"
    assert _error_line(prmkit_cli("data", "stats", src, check=False)) == f"error: {wrong}"

    result = prmkit_cli("data", "stats", src, "--skip-invalid")
    assert "[bold]x[/bold]" in result.stdout and "\\[" not in result.stdout  # the group's row, as written
    assert f"e.g. {wrong}" in result.stderr and "got str '[/red]'" in result.stderr
    result = prmkit_cli("eval", "processbench", src, "--skip-invalid")
    assert "[bold]x[/bold]" in result.stdout and "\\[" not in result.stdout


def test_convert_into_a_directory(prmkit_cli, tmp_path):
    src = tmp_path / "one.jsonl"
    src.write_bytes(_lines([_record(1)]))
    (tmp_path / "outdir").mkdir()
    dst = f"{tmp_path / 'outdir'}/"
    assert _error_line(prmkit_cli("data", "convert", src, dst, check=False)) == \
        f"error: {dst}: is a directory, not an output file"
    assert list((tmp_path / "outdir").iterdir()) == []


def test_missing_file_named_like_a_hub_id_is_no_such_file(prmkit_cli):
    # a relative owner/name path ending in a data suffix is a file, not a hub dataset (no 24 s of retries)
    result = prmkit_cli("data", "stats", "nosuchowner/nosuchname.jsonl", check=False)
    assert _error_line(result) == "error: nosuchowner/nosuchname.jsonl: no such file or directory"


@pytest.mark.parametrize("command", [
    ("data", "convert", "{src}", "{tmp}/out.jsonl"),
    ("eval", "processbench", "{src}"),
    ("eval", "prmbench", "{src}"),
    ("eval", "bon", "{src}"),
    ("eval", "pairwise", "{src}"),
    ("score", "{src}", "--model", "fake", "--out", "{tmp}/scores.jsonl"),
    ("annotate", "tool", "{src}", "--out", "{tmp}/job"),
    ("search", "{src}", "--model", "fake", "--generator", "http://127.0.0.1:9/v1", "-g", "model=x"),
], ids=lambda c: " ".join(c[:2]).replace(" {src}", ""))
def test_every_command_reads_through_the_same_path(prmkit_cli, tmp_path, command):
    bad = _truncated_gzip(tmp_path / "cut.jsonl.gz")
    args = [a.format(src=bad, tmp=tmp_path) for a in command]
    assert _error_line(prmkit_cli(*args, check=False)) == f"error: {bad}:11: {TRUNCATED}"
