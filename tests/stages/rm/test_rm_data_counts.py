"""Nothing dropped or cut silently in the RM stage: the records ``on_error: skip`` dropped and the
(prompt, completion) rows longer than ``stage.max_length`` are in metrics.json and in the
"hygiene" section of rm_report.json."""

from __future__ import annotations

import json

from _helpers import run_stage_in_process, write_jsonl


def test_skips_and_truncation_reach_metrics_and_rm_report(tmp_path):
    rows = [{"prompt": f"say {i} :", "chosen": " yes good", "rejected": " no bad", "user_id": f"u{i % 8}"}
            for i in range(24)]
    rows.insert(2, {"prompt": "no rejected here", "chosen": " yes"})                  # skipped: rejected
    rows.append({"prompt": "long " * 20, "chosen": " yes", "rejected": " no", "user_id": "u1"})  # 100 byte tokens
    path = write_jsonl(tmp_path / "prefs.jsonl", rows)
    run = tmp_path / "run"
    run_stage_in_process(run, "stage=rm", "model=tiny", "debug=fast", f"data.preference.train.path={path}",
                         "data.preference.train.on_error=skip", "stage.valid_fraction=0.25")  # max_length=64
    metrics = json.loads((run / "metrics.json").read_text())
    prefix = "data/preference/train/"
    assert metrics[f"{prefix}records"] == 26 and metrics[f"{prefix}examples"] == 25
    assert metrics[f"{prefix}skipped"] == 1 and metrics[f"{prefix}skipped/rejected"] == 1
    # the long prompt's two rows (chosen, rejected) are cut, in whichever split its user went
    assert metrics["data/preference/train/truncated"] + metrics["data/preference/valid/truncated"] == 2
    hygiene = json.loads((run / "rm_report.json").read_text())["hygiene"]
    assert hygiene[f"{prefix}skipped/rejected"] == 1
    assert hygiene["data/preference/train/truncated"] == metrics["data/preference/train/truncated"]
