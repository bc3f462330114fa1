"""Generic reading machinery: located errors, skip-invalid accounting, JSONL/datasets round trips, hub ids."""

import gzip
import json
import zlib

import pytest

from prmkit.data import ReadReport, read, write
from prmkit.data.hf import from_hf_dataset, to_hf_dataset
from prmkit.errors import DataError, UnreadableFile
from prmkit.types import Example, Problem, Solution, StepLabels, StepScores


def _processbench_jsonl(shared_data, tmp_path, n=5):
    records = json.load(gzip.open(shared_data / "processbench" / "gsm8k.json.gz"))[:n]
    path = tmp_path / "pb.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path, records


def test_wrong_type_is_located(shared_data, tmp_path):
    path, records = _processbench_jsonl(shared_data, tmp_path)
    lines = path.read_text().splitlines()
    bad = dict(records[2], label="two")
    lines[2] = json.dumps(bad)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        list(read(path, "processbench"))
    assert str(info.value) == f"{path}:3: field 'label': expected an integer, got str 'two'"
    report = ReadReport()
    assert len(list(read(path, "processbench", skip_invalid=True, report=report))) == 4
    assert report.skipped == {"field 'label': expected an integer, got str 'two'": 1}


def test_truncated_line_and_nested_field(shared_data, tmp_path):
    path, records = _processbench_jsonl(shared_data, tmp_path)
    lines = path.read_text().splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]
    lines[3] = json.dumps(dict(records[3], steps=records[3]["steps"][:2] + [7]))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"^{path}:2: invalid JSON"):
        list(read(path, "processbench"))
    report = ReadReport()
    kept = list(read(path, "processbench", skip_invalid=True, report=report))
    assert [e.problem.id for e in kept] == ["gsm8k-0", "gsm8k-2", "gsm8k-4"]
    assert report.n_skipped == 2 and report.records == 5
    assert any("field 'steps[i]'" in reason for reason in report.skipped)


def test_label_out_of_range_in_json_array(shared_data, tmp_path):
    records = json.load(gzip.open(shared_data / "processbench" / "gsm8k.json.gz"))[:3]
    records[1]["label"] = 99
    path = tmp_path / "pb.json"
    path.write_text(json.dumps(records))
    with pytest.raises(DataError, match=rf"{path}: record 2: field 'label': first-error index 99 is outside"):
        list(read(path, "processbench"))


def test_prmkit_jsonl_roundtrip_keeps_soft_floats(tmp_path):
    ex = Example(Problem("p", "q", "3", {"subset": "x"}), Solution(["a", "b", "c"], "3"),
                 StepLabels((1.0, 0.7, 0.0), "soft"), StepScores((0.9, None, 0.1), outcome=0.5, source="m"), correct=False)
    write([ex], tmp_path / "x.jsonl")
    assert '"values": [1.0, 0.7, 0.0], "kind": "soft"' in (tmp_path / "x.jsonl").read_text()
    assert list(read(tmp_path / "x.jsonl")) == [ex]
    write([ex], tmp_path / "x.jsonl.gz")
    assert list(read(tmp_path / "x.jsonl.gz", "prmkit")) == [ex]


def test_datasets_roundtrip(shared_data):
    examples = list(read(shared_data / "processbench" / "gsm8k.json.gz"))
    soft = Example(Problem("s", "q"), Solution(["a", "b"]), StepLabels((0.7, None), "soft"))
    ds = to_hf_dataset(examples + [soft])
    assert ds.num_rows == 401 and ds[400]["labels"]["values"] == [0.7, None]
    assert from_hf_dataset(ds) == examples + [soft]


def test_hub_path_through_a_local_dataset_folder(shared_data, tmp_path):
    """`owner/name` ids go through datasets.load_dataset; a local folder takes the same code path."""
    examples = list(read(shared_data / "processbench" / "gsm8k.json.gz"))[:20]
    folder = tmp_path / "my-prm-data"
    folder.mkdir()
    to_hf_dataset(examples).to_parquet(str(folder / "train.parquet"))
    rows = list(read(f"hf:{folder}"))  # rows come back as Arrow structs with JSON metadata strings
    assert len(rows) == 20 and rows[0].problem.id == "gsm8k-0"
    assert rows[0].labels == examples[0].labels
    with pytest.raises(DataError, match="could not load dataset"):
        list(read("hf:/no/such/dataset/folder"))


def test_unknown_format_and_option(shared_data):
    with pytest.raises(KeyError, match="unknown format 'nope'"):
        list(read(shared_data / "processbench" / "gsm8k.json.gz", "nope"))
    with pytest.raises(ValueError, match="has no option"):
        list(read(shared_data / "processbench" / "gsm8k.json.gz", "processbench", neutral="x"))


def test_user_format_by_import_path(shared_data):
    """A format outside the table is used by its module path, with no registration step."""
    examples = list(read(shared_data / "processbench" / "gsm8k.json.gz", "prmkit.data.formats.processbench"))
    assert len(examples) == 400
    with pytest.raises(KeyError, match="cannot import format 'nopkg.nomod'"):
        list(read(shared_data / "processbench" / "gsm8k.json.gz", "nopkg.nomod"))


# --------------------------------------------------------------------------- unreadable files (issue 13)


def _prmkit_lines(n: int) -> bytes:
    from prmkit.data import example_to_dict

    return b"".join(json.dumps(example_to_dict(Example(Problem(f"p{i}", "q?"), Solution(["a"])))).encode() + b"\n"
                    for i in range(n))


def test_names_with_a_data_suffix_are_never_hub_ids():
    from prmkit.data.io import is_hub_id

    assert is_hub_id("owner/name") and is_hub_id("owner/name@test") and is_hub_id("hf:owner/name.jsonl")
    for name in ("owner/name.jsonl", "owner/name.json", "owner/name.jsonl.gz", "owner/name.gz", "owner/NAME.JSONL"):
        assert not is_hub_id(name), name
    with pytest.raises(DataError, match="^owner/name.json.gz: no such file or directory$"):
        list(read("owner/name.json.gz"))


def test_bad_lines_are_skipped_and_counted_but_a_cut_file_always_stops(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(_prmkit_lines(2) + b'{"x": "\xff"}\n' + b"[" * 100_000 + b"\n" + _prmkit_lines(1))
    report = ReadReport()
    assert len(list(read(path, skip_invalid=True, report=report))) == 3
    assert report.skipped == {"invalid UTF-8 (byte 0xff at column 8)": 1, "invalid JSON (nested too deeply)": 1}

    gz = zlib.compressobj(wbits=31)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gz.compress(_prmkit_lines(3)) + gz.flush(zlib.Z_FULL_FLUSH))
    with pytest.raises(UnreadableFile, match=r"cut.jsonl.gz:4: truncated gzip file"):
        list(read(cut, skip_invalid=True))
    array = tmp_path / "array.json"
    array.write_text('[{"problem": {}},\n {"problem": }]')  # one bad record: none of the file decodes
    with pytest.raises(UnreadableFile, match=r"array.json:2: invalid JSON \(Expecting value at column 14\)"):
        list(read(array, skip_invalid=True))


def test_write_into_a_directory_fails_before_reading(tmp_path):
    from prmkit.data.io import write_records

    def records():
        raise AssertionError("read although the output cannot be written")
        yield

    for target in (tmp_path, f"{tmp_path / 'new'}/"):
        with pytest.raises(ValueError, match="not an output file"):
            write_records(records(), target)
    assert list(tmp_path.iterdir()) == []
