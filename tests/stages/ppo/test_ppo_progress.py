"""PPO's progress bar: iterations done / total (with an ETA, the score and the KL), from a prompt
stream that has a length, and still exactly ``total_steps`` iterations, resumable and sharded."""

from __future__ import annotations

import json
import random
import re

import pytest
from _helpers import run_cli, single_run_dir, write_jsonl

from rlhfkit.stages.ppo.streams import BatchStream

WORDS = "please thanks hello world the a cat dog say tell me you".split()
TINY = ["model.size=nano", "model.tokenizer=words", f"+model.words=[{','.join(WORDS)}]", "stage.max_new_tokens=6",
        "stage.lr_scheduler.warmup_steps=0", "reward=keyword", "reward.wanted=[please]", "reward.banned=[]",
        "stage.rollout_batch_size=8", "stage.minibatch_size=8", "stage.ppo_epochs=1", "logger=none"]


def test_a_stream_with_a_stop_has_the_run_as_its_length_and_yields_from_start():
    stream = BatchStream(list(range(10)), batch_size=3, seed=0, stop=5)
    endless = BatchStream(list(range(10)), batch_size=3, seed=0)
    assert len(stream) == 5 and bool(stream) and bool(endless)
    with pytest.raises(TypeError):
        len(endless)  # Lightning reads this as "no length" (the old behaviour)
    assert list(stream) == [endless.batch(i) for i in range(5)]
    stream.start = 3  # a resume at iteration 3: the same batches 3 and 4, nothing after the stop
    assert list(stream) == [endless.batch(3), endless.batch(4)] and len(stream) == 5
    stream.start = 5
    assert list(stream) == []
    from lightning_fabric.utilities.types import _Stateful

    assert isinstance(stream, _Stateful) and stream.state_dict() == {}  # resumable: the position is the iteration


def test_the_stop_changes_no_batch_of_any_rank():
    for rank in range(2):
        sized, endless = BatchStream(list(range(7)), 2, seed=3, stop=6), BatchStream(list(range(7)), 2, seed=3)
        sized.shard(rank, 2)
        endless.shard(rank, 2)
        it = iter(endless)
        assert list(sized) == [next(it) for _ in range(6)]


def bar_totals(output: str) -> list[str]:
    """The "n/total" counters of Lightning's training bar ("Epoch 0: 75%|...| 3/4 [00:06<00:02, ...]")."""
    return re.findall(r"Epoch \d+:[^|]*\|[^|]*\|\s*(\d+/[\d?]+)\s*\[", output)


@pytest.mark.slow
def test_the_progress_bar_counts_iterations_of_total_and_a_resume_goes_on_to_the_total(tmp_path):
    rng = random.Random(0)
    prompts = write_jsonl(tmp_path / "prompts.jsonl",
                          [{"prompt": " ".join(rng.choice(WORDS[2:]) for _ in range(3))} for _ in range(32)])
    common = ["train", "stage=ppo", f"data.prompts.train.path={prompts}", *TINY, "stage.total_steps=4",
              "callbacks=default", "~callbacks.model_checkpoint", "callbacks.progress_bar.refresh_rate=1"]
    first = run_cli(*common, "stage.checkpoint_every=2", f"paths.runs_dir={tmp_path / 'a'}", timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    counters = bar_totals(first.stdout + first.stderr)
    assert counters and counters[-1] == "4/4" and not any(c.endswith("/?") for c in counters), counters[-5:]
    last_line = [l for l in re.split(r"[\r\n]", first.stdout + first.stderr) if l.startswith("Epoch 0") and "4/4" in l][-1]
    assert "<00:00" in last_line or re.search(r"\d\d:\d\d<\d\d:\d\d", last_line), last_line  # elapsed<ETA
    assert "objective/score=" in last_line and "objective/kl=" in last_line, last_line
    run = single_run_dir(tmp_path / "a")
    rows = [json.loads(l) for l in (run / "ppo_history.jsonl").read_text().splitlines()]
    assert [r["ppo/iteration"] for r in rows] == [1, 2, 3, 4]  # stops exactly at total_steps

    ckpt = run / "checkpoints" / "iter000002.ckpt"
    resumed = run_cli(*common, f"ckpt_path={ckpt}", f"paths.runs_dir={tmp_path / 'b'}", timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "not resumable" not in resumed.stderr
    counters = re.findall(r"(?:Epoch \d+|Training):[^|]*\|[^|]*\|\s*(\d+/[\d?]+)\s*\[", resumed.stdout + resumed.stderr)
    # iterations 3 and 4 are counted as such (not "1", "2"); the total: Lightning skips
    # on_train_epoch_start on a mid-epoch resume, where TQDMProgressBar sets it, so it reads "?"
    assert counters and counters[-1].split("/")[0] == "4", counters[-5:]
    again = [json.loads(l) for l in (single_run_dir(tmp_path / "b") / "ppo_history.jsonl").read_text().splitlines()]
    assert [r["ppo/iteration"] for r in again] == [3, 4]
    for key in ("objective/score", "objective/kl", "ppo/policy/loss"):
        assert again[-1][key] == pytest.approx(rows[-1][key], rel=1e-5, abs=1e-7), key
