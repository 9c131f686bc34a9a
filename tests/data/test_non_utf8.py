"""Bytes that are not UTF-8: one DataFormatError naming file, line and byte column, never a bare
UnicodeDecodeError (and through the CLI: one line on stderr, exit 2, no traceback).

Line and column are counted by hand in each test: line 1-based as an editor shows it, column the
1-based byte column within that line.
"""

from __future__ import annotations

import gzip

import pytest
from _helpers import run_cli

from rlhfkit.data import DataFormatError, load_examples_with_report, read_records

# line 1 fine, line 2 blank, line 3: `{"text": "é` is 12 bytes (é is 2), so 0xff is byte 13
JSONL = b'{"text": "ok"}\n\n{"text": "\xc3\xa9\xff"}\n{"text": "after"}\n'


def first_error(path) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        list(read_records(str(path)))
    return info.value


def test_jsonl_names_line_and_byte_column(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(JSONL)
    err = first_error(path)
    assert str(err) == f"{path}:3: not UTF-8 (byte 0xff at column 13)"
    assert err.origin == f"{path}:3" and err.field is None


def test_jsonl_gz_names_line_and_byte_column(tmp_path):
    path = tmp_path / "train.jsonl.gz"
    path.write_bytes(gzip.compress(JSONL))
    assert str(first_error(path)) == f"{path}:3: not UTF-8 (byte 0xff at column 13)"


def test_jsonl_crlf_and_a_cut_multibyte_sequence(tmp_path):
    # line 2 is `{"t": "` (7 bytes) then the first 2 bytes of a 3-byte character: 0xe2 is byte 8
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"t": "a"}\r\n{"t": "\xe2\x82"}\r\n')
    assert str(first_error(path)) == f"{path}:2: not UTF-8 (byte 0xe2 at column 8)"


def test_json_list_computes_line_and_column_from_the_offset(tmp_path):
    # line 3 is `  {"text": "` (12 bytes) then 0xfe: byte 13
    path = tmp_path / "train.json"
    path.write_bytes(b'[\n  {"text": "ok"},\n  {"text": "\xfe"}\n]\n')
    assert str(first_error(path)) == f"{path}:3: not UTF-8 (byte 0xfe at column 13)"


def test_json_gz_bad_byte_on_the_first_line(tmp_path):
    # `[{"text": "` is 11 bytes, then 0x80 (a continuation byte with no start): byte 12 of line 1
    path = tmp_path / "train.json.gz"
    path.write_bytes(gzip.compress(b'[{"text": "\x80"}]'))
    assert str(first_error(path)) == f"{path}:1: not UTF-8 (byte 0x80 at column 12)"


def test_valid_utf8_still_reads(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes('{"text": "café ☕"}\r\n'.encode())
    assert [r.row for r in read_records(str(path))] == [{"text": "café ☕"}]


def test_on_error_skip_does_not_hide_an_unreadable_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(JSONL)
    with pytest.raises(DataFormatError, match=r":3: not UTF-8"):
        load_examples_with_report(str(path), kind="text", on_error="skip")


def test_cli_prints_one_line_and_exits_2(tmp_path):
    path = tmp_path / "sft.jsonl"
    path.write_bytes(b'{"prompt": "a", "completion": " b"}\n{"prompt": "\xff", "completion": " b"}\n')
    result = run_cli("train", "stage=sft", f"data.sft.train.path={path}", "model=tiny", "debug=fast",
                     "logger=none", f"paths.runs_dir={tmp_path / 'runs'}")
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    # `{"prompt": "` is 12 bytes: 0xff is byte 13 of line 2
    line = f"rlhfkit: error: {path}:2: not UTF-8 (byte 0xff at column 13)"
    assert [ln for ln in result.stderr.splitlines() if ln.startswith("rlhfkit: error:")] == [line]


def test_a_cut_off_gzip_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(b'{"text": "row %d"}\n' % i for i in range(2000)))[:300])
    with pytest.raises(DataFormatError, match=r"cut\.jsonl\.gz:\d+: the gzip data is damaged or cut off"):
        list(read_records(str(path)))
    whole = tmp_path / "cut.json.gz"
    whole.write_bytes(gzip.compress(b'[{"text": "a"}]')[:10])
    with pytest.raises(DataFormatError, match=r"cut\.json\.gz: the gzip data is damaged"):
        list(read_records(str(whole)))
