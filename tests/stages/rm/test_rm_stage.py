"""`stage=rm`: the reward-model stage end to end on every preference format, plus its parts
(one forward pass per batch, bias normalisation, hygiene filters, export as reward/value model)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

import rlhfkit.config_dir
from rlhfkit.data import RankingExample
from rlhfkit.models import build_tiny
from rlhfkit.models.scalar_head import ScalarHeadModel, scalar_model_from
from rlhfkit.plugins import PluginManager
from rlhfkit.stages.rm.module import RewardModelModule, score_texts
from rlhfkit.stages.rm.builder import run_rm
from rlhfkit.stages.rm.config import RMConfig
from rlhfkit.stages.rm.normalisation import fit_normalisation
from rlhfkit.stages.data_sources import apply_filters
from rlhfkit.stages.rm.batching import RankingCollator
from rlhfkit.plugins.config_specs import ConfigNamesError, check_names

from _helpers import run_cli, single_run_dir, write_jsonl

WORDS = "apple river stone cloud green quick lamp tree".split()


def compose_rm(tmp_path: Path, *overrides: str):
    """The real config with stage=rm, shrunk for a CPU test; outputs under ``tmp_path``."""
    with initialize_config_dir(config_dir=str(rlhfkit.config_dir.config_dir()), version_base="1.3"):
        return compose("config", overrides=[
            "stage=rm", "model.size=nano", "logger=none", "callbacks=none", f"paths.output_dir={tmp_path}",
            "trainer.enable_progress_bar=false", "stage.max_length=48", "stage.batch_size=8", *overrides,
        ])


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def pairwise_rows(n: int = 128, seed: int = 0) -> list[dict]:
    """Learnable TRL pairwise data: the chosen completion ends with the marker word "good"."""
    rng = random.Random(seed)
    return [{"prompt": "say : " + _words(rng, 3), "chosen": " " + _words(rng, 2) + " good",
             "rejected": " " + _words(rng, 2) + " bad", "user_id": f"u{i % 32}"} for i in range(n)]


def kway_rows(n: int = 96, seed: int = 0) -> list[dict]:
    """K = 2..5 rankings by the number of "good" markers (equal counts tie; some rankings are all
    ties), labelers L0-L5 in groups "train" (L0-L3) and "heldout" (L4, L5); every third prompt is
    ranked again by another labeler who swaps the two best (for the agreement figures)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = 2 + i % 4
        goods = [rng.randint(0, 3) for _ in range(k)]
        levels = sorted(set(goods), reverse=True)
        ranking = [levels.index(g) for g in goods]  # dense ranking, 0 = most markers
        completions = [" " + _words(rng, 2) + " good" * g for g in goods]
        labeler = f"L{i % 6}"
        row = {"prompt": f"say {i} : " + _words(rng, 2), "completions": completions, "ranking": ranking,
               "labeler_id": labeler, "labeler": {"group": "train" if i % 6 < 4 else "heldout"},
               "user_id": f"u{i % 16}"}
        rows.append(row)
        if i % 3 == 0:
            other = f"L{(i + 1) % 6}"
            swapped = [1 if r == 0 else 0 if r == 1 else r for r in ranking] if len(levels) > 1 else ranking
            rows.append(row | {"ranking": swapped, "labeler_id": other,
                               "labeler": {"group": "train" if (i + 1) % 6 < 4 else "heldout"}})
    return rows


# --------------------------------------------------------------------------- parts


def test_one_forward_pass_scores_every_completion_of_every_prompt():
    bundle = build_tiny(size="nano")
    rm = ScalarHeadModel.from_causal_lm(bundle.model, role="reward").eval()
    examples = [
        RankingExample("p1 :", [" a", " bb"], [0, 1], "t:1"),
        RankingExample("prompt two :", [" x", " yy yy", " z", " w", " v"], [2, 0, 1, 1, 3], "t:2"),
        RankingExample("p3 :", [" only", " three", " here"], [0, 0, 1], "t:3"),
    ]
    batch = RankingCollator(bundle.tokenizer, 64)(examples)
    assert batch["input_ids"].shape[0] == 2 + 5 + 3  # packed: present completions only
    assert batch["ranks"].tolist() == [[0, 1, -1, -1, -1], [2, 0, 1, 1, 3], [0, 0, 1, -1, -1]]
    module = RewardModelModule(rm, bundle.tokenizer, RMConfig(), make_optimizer=lambda p, lr: torch.optim.SGD(p, lr=lr))
    calls = []
    handle = rm.backbone.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        scores = module(batch)  # (B, K)
    handle.remove()
    assert len(calls) == 1 and scores.shape == (3, 5)
    for b, ex in enumerate(examples):
        for i, completion in enumerate(ex.completions):
            alone = score_texts(rm, bundle.tokenizer, [ex.prompt], [completion], 64)  # scored alone
            torch.testing.assert_close(scores[b, i], alone[0], atol=1e-5, rtol=1e-5)
    assert scores[0, 2:].eq(0).all() and scores[2, 3:].eq(0).all()  # absent slots


def test_fit_normalisation_modes():
    raw = torch.tensor([1.0, 2.0, 6.0])
    gain, offset = fit_normalisation(raw, "demonstrations", 0.0, 1.0)
    assert (gain, offset) == (1.0, -3.0)
    assert float((gain * raw + offset).mean()) == pytest.approx(0.0)
    gain, offset = fit_normalisation(raw, "gain_bias", 0.0, 1.0)
    normed = gain * raw + offset
    assert float(normed.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(normed.std(correction=0)) == pytest.approx(1.0, abs=1e-6)
    assert fit_normalisation(raw, "none", 0.0, 1.0) == (1.0, 0.0)


def test_hygiene_filters_are_applied_and_reported(tmp_path):
    rows = [{"prompt": "mail me at a@b.com", "chosen": " y", "rejected": " n", "user_id": "u1"},
            {"prompt": "Mail me at a@b.com!", "chosen": " y", "rejected": " n", "user_id": "u1"},
            {"prompt": "third", "chosen": " y", "rejected": " n", "user_id": "u1"},
            {"prompt": "fourth", "chosen": " y", "rejected": " n", "user_id": "u2"}]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    cfg = compose_rm(tmp_path, f"data.preference.train.path={path}",
                     "data.preference.filters=[{name: scrub_pii}, {name: dedupe}, {name: cap_per_user, max_per_user: 1}]")
    plugins = PluginManager()
    examples = plugins.build("dataset", {"name": "files", "path": str(path)}, "x", kind="preference")
    kept, report = apply_filters(examples, cfg, plugins, "preference", "train")
    assert [e.prompt for e in kept] == ["mail me at [EMAIL]", "fourth"]
    prefix = "data/preference/train/hygiene/"
    assert report[f"{prefix}0_scrub_pii/pii_email"] == 2
    assert report[f"{prefix}1_dedupe/dropped/duplicate_prefix"] == 1
    assert report[f"{prefix}2_cap_per_user/dropped/over_user_cap"] == 1
    assert report[f"{prefix}2_cap_per_user/in"] == 3 and report[f"{prefix}2_cap_per_user/out"] == 2

    bad = compose_rm(tmp_path, f"data.preference.train.path={path}", "data.preference.filters=[{name: scrub_everything}]")
    with pytest.raises(ConfigNamesError, match="scrub_everything"):
        check_names(bad, plugins, [("data_filter", "data.preference.filters[0]")])
    with pytest.raises(ConfigNamesError, match="scrub_everything"):
        run_rm(bad, plugins, tmp_path / "bad_run")  # fails at start-up, before any model is built


# --------------------------------------------------------------------------- runs


@pytest.mark.slow
def test_cli_kway_rankings_with_labelers_ties_and_agreement(tmp_path):
    data = write_jsonl(tmp_path / "kway.jsonl", kway_rows())
    runs = tmp_path / "runs"
    result = run_cli("train", "stage=rm", f"data.preference.train.path={data}", "model.size=nano", "logger=csv",
                     "stage.max_length=48", "stage.batch_size=8", "stage.max_epochs=1", "stage.valid_fraction=0.3",
                     "stage.n_table_pairs=4", f"paths.runs_dir={runs}")
    assert result.returncode == 0, result.stderr[-3000:]
    run = single_run_dir(runs)
    for name in ("metrics.json", "rm_report.json", "resolved_config.yaml", "versions.json",
                 "final/config.json", "final/model.safetensors", "final/tokenizer.json"):
        assert (run / name).exists(), name
    report = json.loads((run / "rm_report.json").read_text())
    summary = report["summary"]
    assert 0.0 <= summary["valid_accuracy"] <= 1.0 and summary["valid_pairs"] > 0
    assert set(summary["valid_accuracy_per_group"]) <= {"train", "heldout"} and summary["valid_accuracy_per_group"]
    assert summary["tied_pairs_dropped"]["train"] > 0
    assert sum(summary["all_tied_rankings_dropped"].values()) > 0
    # the second labeler swaps the two best of each re-ranked prompt: agreement below 1, above 0
    for split in ("train", "valid"):
        assert report["agreement"][split]["all"]["total"] > 0
        assert 0.0 < summary["agreement"][split] < 1.0
    assert report["valid"]["per_labeler"] and report["hygiene"]
    assert abs(summary["demo_score_mean_after_norm"]) < 1e-4
    metrics = json.loads((run / "metrics.json").read_text())
    assert "val/accuracy" in metrics and "agreement/train" in metrics
    assert any(k.startswith("val/accuracy/group/") for k in metrics)
    table = (run / "tables" / "val_pairs_table.jsonl").read_text().splitlines()
    assert len(table) == 4 and {"chosen", "rejected", "score_chosen", "score_rejected", "labeler"} <= set(json.loads(table[0]))
    assert list((run / "checkpoints").glob("*.ckpt"))


@pytest.mark.slow
def test_pairwise_learns_and_exports_as_reward_and_value_model(tmp_path):
    data = write_jsonl(tmp_path / "pw.jsonl", pairwise_rows())
    cfg = compose_rm(tmp_path, f"data.preference.train.path={data}", "stage.max_epochs=3", "stage.valid_fraction=0.25")
    metrics = run_rm(cfg, PluginManager(), tmp_path / "run")
    assert metrics["val/accuracy"] > 0.8, metrics
    assert abs(metrics["rm/demo_score_mean_after_norm"]) < 1e-4
    final = tmp_path / "run" / "final"

    reward = PluginManager().build("reward", {"name": "reward_model", "path": str(final), "max_length": 48}, "reward")
    rows = pairwise_rows(16, seed=1)
    prompts = [r["prompt"] for r in rows]
    scores = reward(prompts, [r["chosen"] for r in rows])
    assert scores.shape == (16,)
    raw = PluginManager().build("reward", {"name": "reward_model", "path": str(final), "max_length": 48,
                                           "normalise": False}, "reward")(prompts, [r["chosen"] for r in rows])
    torch.testing.assert_close(scores - raw, torch.full((16,), metrics["rm/offset"]), atol=1e-4, rtol=0)
    assert float((scores - reward(prompts, [r["rejected"] for r in rows])).gt(0).float().mean()) > 0.8

    value = scalar_model_from(final, "value")
    assert value.role == "value" and float(value.gain) == 1.0 and float(value.offset) == 0.0
    ids = torch.tensor([[5, 6, 7, 0]])
    assert value(ids, torch.tensor([[1, 1, 1, 0]])).shape == (1, 4)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["hh", "pairwise_conversational"])
def test_dialogue_formats_train(tmp_path, fmt):
    rng = random.Random(0)
    rows = []
    for i in range(48):
        question = "what is " + _words(rng, 2) + "?"
        good, bad = _words(rng, 2) + " good", _words(rng, 2) + " bad"
        if fmt == "hh":
            rows.append({"chosen": f"\n\nHuman: {question}\n\nAssistant: {good}",
                         "rejected": f"\n\nHuman: {question}\n\nAssistant: {bad}"})
        else:
            rows.append({"prompt": [{"role": "user", "content": question}],
                         "chosen": [{"role": "assistant", "content": good}],
                         "rejected": [{"role": "assistant", "content": bad}], "user_id": f"u{i % 12}"})
    data = write_jsonl(tmp_path / f"{fmt}.jsonl", rows)
    cfg = compose_rm(tmp_path, f"data.preference.train.path={data}", "stage.max_epochs=1",
                     "stage.valid_fraction=0.25", "stage.normalisation.mode=gain_bias")
    metrics = run_rm(cfg, PluginManager(), tmp_path / "run")
    report = json.loads((tmp_path / "run" / "rm_report.json").read_text())
    assert "val/accuracy" in metrics and report["summary"]["valid_pairs"] > 0
    after = report["normalisation"]["demo_after_norm"]
    assert abs(after["mean"]) < 1e-4 and after["std"] == pytest.approx(1.0, abs=1e-3)  # LHP gain and bias


@pytest.mark.slow
def test_real_hh_file(tmp_path, shared_data):
    hh = shared_data / "hh-rlhf-harmless-base-test.jsonl.gz"
    if not hh.exists():
        pytest.skip(f"{hh} is absent")
    cfg = compose_rm(tmp_path, f"data.preference.train.path={hh}", "data.preference.train.limit=64",
                     "stage.max_epochs=1", "stage.max_length=64", "stage.valid_fraction=0.25")
    metrics = run_rm(cfg, PluginManager(), tmp_path / "run")
    report = json.loads((tmp_path / "run" / "rm_report.json").read_text())
    assert report["data"]["train_rankings"] + report["data"]["valid_rankings"] == 64
    assert report["hygiene"]["data/preference/train/truncated"] > 0  # long dialogues: cut and counted
    assert metrics["data/preference/train/truncated"] == report["hygiene"]["data/preference/train/truncated"]
    assert "val/accuracy" in metrics and abs(metrics["rm/demo_score_mean_after_norm"]) < 1e-4
