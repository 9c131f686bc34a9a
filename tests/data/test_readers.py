"""Readers: every source type, record origins, and read errors that name file and line."""

from __future__ import annotations

import gzip
import json

import pytest

from rlhfkit.data import DataFormatError, Record, looks_like_path, read_records

ROWS = [{"text": "first"}, {"text": "second"}, {"text": "third"}]


def write_jsonl(path, rows, opener=open):
    with opener(path, "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def test_jsonl_origins_are_one_based_lines_and_skip_blank_lines(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [ROWS[0], "", ROWS[1]])
    records = list(read_records(str(path)))
    assert records == [Record(f"{path}:1", ROWS[0]), Record(f"{path}:3", ROWS[1])]


def test_jsonl_gz(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl.gz", ROWS, opener=gzip.open)
    records = list(read_records(str(path)))
    assert [r.row for r in records] == ROWS
    assert records[2].origin == f"{path}:3"


def test_json_list(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(ROWS))
    records = list(read_records(str(path)))
    assert [r.row for r in records] == ROWS
    assert records[1].origin == f"{path}#1"


def test_json_must_be_a_list(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"text": "x"}))
    with pytest.raises(DataFormatError, match="must hold a list of objects"):
        list(read_records(str(path)))


def test_parquet_origins_are_row_indices(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    records = list(read_records(str(path)))
    assert [r.row for r in records] == ROWS
    assert [r.origin for r in records] == [f"{path}#{i}" for i in range(3)]


def test_save_to_disk_dataset_and_dataset_dict(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "ds"))
    records = list(read_records(str(tmp_path / "ds")))
    assert [r.row for r in records] == ROWS and records[0].origin == f"{tmp_path / 'ds'}#0"

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS),
                               "test": datasets.Dataset.from_list(ROWS[:1])})
    dd.save_to_disk(str(tmp_path / "dd"))
    records = list(read_records(str(tmp_path / "dd"), split="test"))
    assert [r.row for r in records] == ROWS[:1]
    assert records[0].origin == f"{tmp_path / 'dd'}[test]#0"
    with pytest.raises(DataFormatError, match=r"split 'valid' not in the saved DatasetDict \(splits: \['test', 'train'\]\)"):
        list(read_records(str(tmp_path / "dd"), split="valid"))


def test_hub_path_goes_through_load_dataset(tmp_path):
    # A builder name is not a local path: read_records calls
    # datasets.load_dataset("json", split="train", data_files=..., cache_dir=...), no network.
    path = write_jsonl(tmp_path / "train.jsonl", ROWS)
    records = list(read_records("json", split="train", data_files=str(path), cache_dir=str(tmp_path / "cache")))
    assert [r.row for r in records] == ROWS
    assert records[2].origin == "json[train]#2"


def test_malformed_json_line_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [ROWS[0], '{"text": "oops",'])
    with pytest.raises(DataFormatError) as info:
        list(read_records(str(path)))
    assert info.value.origin == f"{path}:2"
    assert str(info.value).startswith(f"{path}:2: invalid JSON at column")


def test_non_object_line(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", ["[1, 2]"])
    with pytest.raises(DataFormatError, match=r":1: expected a JSON object per line, got list"):
        list(read_records(str(path)))


@pytest.mark.parametrize("name", ["missing.jsonl", "data/missing.parquet", "a/b/c", "./x"])
def test_missing_local_file_is_not_sent_to_the_hub(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="data file not found: " + name.replace(".", r"\.")):
        read_records(name)


def test_looks_like_path():
    for s in ["/abs/x", "./x", "../x", "~/x", "x.jsonl", "x.jsonl.gz", "x.parquet", "a/b/c", "C:\\x"]:
        assert looks_like_path(s), s
    for s in ["Anthropic/hh-rlhf", "imdb", "json", "openai/summarize_from_feedback"]:
        assert not looks_like_path(s), s


def test_unsupported_local_file_and_plain_directory(tmp_path):
    (tmp_path / "train.csv").write_text("a,b\n")
    with pytest.raises(DataFormatError, match="unsupported file type"):
        read_records(str(tmp_path / "train.csv"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataFormatError, match="save_to_disk"):
        list(read_records(str(tmp_path / "plain")))


def test_hub_kwargs_refused_for_local_files(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", ROWS)
    with pytest.raises(TypeError, match="only apply to hub datasets"):
        read_records(str(path), revision="main")
