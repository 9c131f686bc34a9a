"""Nothing dropped or cut silently: an SFT run's metrics.json counts the records ``on_error: skip``
dropped (by field) and the pairs longer than ``stage.max_length``."""

from __future__ import annotations

import json

from _helpers import run_cli, single_run_dir, write_jsonl


def sft_rows(n: int = 24) -> list[dict]:
    return [{"prompt": f"sort : {i} =>", "completion": f" {i}", "user_id": f"u{i % 8}"} for i in range(n)]


def test_skipped_records_and_truncated_pairs_reach_metrics_json(tmp_path):
    rows = sft_rows()
    rows.insert(3, {"prompt": "no completion here"})                          # line 4: missing field
    rows.insert(7, {"prompt": "   ", "completion": " blank prompt"})         # line 8: empty text
    rows.append({"prompt": "long " * 40 + "=>", "completion": " x", "user_id": "u1"})  # > 64 byte tokens
    path = write_jsonl(tmp_path / "sft.jsonl", rows)
    result = run_cli("train", "stage=sft", f"data.sft.train.path={path}", "data.sft.train.on_error=skip",
                     "model=tiny", "debug=fast", "logger=none", f"paths.runs_dir={tmp_path / 'runs'}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((single_run_dir(tmp_path / "runs") / "metrics.json").read_text())
    prefix = "data/sft/train/"
    assert metrics[f"{prefix}records"] == 27 and metrics[f"{prefix}examples"] == 25
    assert metrics[f"{prefix}skipped"] == 2
    assert metrics[f"{prefix}skipped/completion"] == 1 and metrics[f"{prefix}skipped/prompt"] == 1
    # debug=fast sets stage.max_length=64: only the long prompt is cut, in whichever split its user went
    assert metrics["data/sft/train/truncated"] + metrics["data/sft/valid/truncated"] == 1
