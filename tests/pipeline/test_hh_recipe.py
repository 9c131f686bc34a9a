"""`experiment=hh`: split fractions of what the file yields (skips counted), a pretrained base
model (or the user's), and a report that gives the RM's accuracy with a 95% interval and says
when it is no better than chance, in the HH recipe's own words."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
from _helpers import run_cli
from omegaconf import OmegaConf

from rlhfkit.errors import ConfigError
from rlhfkit.evaluate.hh_report import hh_figures, markdown_hh, rm_figures, versus_chance, wilson_interval
from rlhfkit.evaluate.report import build_report, markdown
from rlhfkit.pipeline.hh_recipe import byte_windows, nodes, pretrain_texts, split_sizes, write_hh_files

FRACTIONS = {"sft": 0.3, "rm": 0.5, "ppo": 0.1, "eval": 0.1}
NO_COUNTS = {"n_sft": None, "n_rm": None, "n_ppo": None, "n_eval": None}
WORLD_WORDING = ("held-out labelers", "None held-out prompts", "None samples")


def hh_record(i: int, blank: bool = False) -> dict:
    prompt = f"\n\nHuman: question {i}, tell me about caf\u00e9s {'x' * (i % 50)}\n\nAssistant:"
    return {"chosen": prompt + ("" if blank else f" an answer {i}"), "rejected": prompt + f" a worse answer {i}"}


def hh_file(path: Path, n: int, blank: tuple[int, ...] = ()) -> Path:
    with gzip.open(path, "wt") as f:
        for i in range(n):
            f.write(json.dumps(hh_record(i, i in blank)) + "\n")
    return path


def cfg_for(path: Path, **hh) -> OmegaConf:
    return OmegaConf.create({"hh": {"path": str(path), "split": FRACTIONS, **NO_COUNTS, "base_model": None,
                                    "max_length": 64, "max_new_tokens": 16, **hh},
                             "sizes": {"small": "nano"}, "stages": {}, "seed": 0})


# --------------------------------------------------------------------------- the split


def test_fractions_cut_what_the_file_yields_and_never_more():
    assert split_sizes(2308, {"split": FRACTIONS}) == {"sft": 692, "rm": 1154, "ppo": 231, "eval": 231}
    sizes = split_sizes(2308, {"split": {"sft": 0.25, "rm": 0.25, "ppo": 0.25, "eval": 0.25}})
    assert sum(sizes.values()) == 2308  # fractions summing to 1 use every pair
    assert sum(split_sizes(2312 - 4, {"split": FRACTIONS}).values()) <= 2308


@pytest.mark.parametrize("split, words", [
    ({"sft": 0.6, "rm": 0.5, "ppo": 0.1, "eval": 0.1}, "sum to 1.3"),
    ({"sft": 0.3, "rm": 0.5, "ppo": 0.1}, "missing eval"),
    ({"sft": 0.3, "rm": 0.5, "ppo": 0.0, "eval": 0.1}, "hh.split.ppo"),
    ({"sft": 0.3, "rm": 0.5, "ppo": 0.001, "eval": 0.1}, "leave that part empty"),
])
def test_bad_fractions_are_config_errors_naming_the_key(split, words):
    with pytest.raises(ConfigError, match=words):
        split_sizes(100, {"split": split})


def test_fixed_counts_still_work_and_say_how_many_pairs_there_are():
    counts = {"n_sft": 10, "n_rm": 10, "n_ppo": 5, "n_eval": 5}
    assert split_sizes(30, {"split": FRACTIONS, **counts}) == {"sft": 10, "rm": 10, "ppo": 5, "eval": 5}
    with pytest.raises(ConfigError, match=r"29 pairs \(4 records skipped\) are fewer than .* = 30"):
        split_sizes(29, {"split": FRACTIONS, **counts}, skipped=4)
    with pytest.raises(ConfigError, match="all four"):
        split_sizes(30, {"split": FRACTIONS, "n_sft": 10})


def test_byte_windows_cover_the_text_within_the_width():
    text = "caf\u00e9 " * 40
    pieces = byte_windows(text, 16)
    assert all(len(p.encode("utf-8")) <= 16 for p in pieces)
    assert abs(len("".join(pieces).encode()) - len(text.encode())) <= len(pieces)  # at most a split char per cut


def test_hh_data_counts_skips_writes_the_parts_and_pretrains_on_no_eval_dialogue(tmp_path):
    path = hh_file(tmp_path / "hh.jsonl.gz", 41, blank=(3,))
    out = tmp_path / "out"
    out.mkdir()
    metrics = write_hh_files(cfg_for(path), out)
    info = json.loads((out / "hh.json").read_text())
    assert info["records"] == 41 and info["skipped"] == 1 and info["skipped_by_field"] == {"chosen": 1}
    assert info["pairs"] == 40 and info["split"] == {"sft": 12, "rm": 20, "ppo": 4, "eval": 4}
    assert metrics["hh/skipped"] == 1.0 and metrics["hh/pairs"] == 40.0
    lines = {name: (out / f"{name}.jsonl").read_text().splitlines()
             for name in ("sft", "preference", "ppo_prompts", "eval", "pretrain")}
    assert [len(lines[k]) for k in ("sft", "preference", "ppo_prompts", "eval")] == [12, 20, 4, 4]
    pretrain = " ".join(json.loads(l)["text"] for l in lines["pretrain"])
    eval_prompts = [json.loads(l)["prompt"] for l in lines["eval"]]
    assert all(p.split(",")[0].strip() not in pretrain for p in eval_prompts)  # "Human: question 37" ...
    assert "question 0," in pretrain and "a worse answer 0" in pretrain
    assert all(len(json.loads(l)["text"].encode()) <= 63 for l in lines["pretrain"])


def test_pretrain_texts_hold_chosen_and_rejected_once_each():
    from rlhfkit.data import RankingExample

    e = RankingExample.pairwise("\n\nHuman: hi\n\nAssistant:", " hello", " go away", "x")
    texts = pretrain_texts([e], 255)
    assert texts == ["\n\nHuman: hi\n\nAssistant: hello", "Assistant: go away"]


# --------------------------------------------------------------------------- the DAG


def names(cfg) -> list[str]:
    return [n.name for n in nodes(cfg)]


def test_the_dag_pretrains_first_unless_a_base_model_is_given(tmp_path):
    path = hh_file(tmp_path / "hh.jsonl.gz", 4)
    assert names(cfg_for(path)) == ["hh_data", "pretrain", "sft", "rm", "ppo", "evaluate"]
    model = tmp_path / "my-model"
    model.mkdir()
    graph = nodes(cfg_for(path, base_model=str(model)))
    assert [n.name for n in graph] == ["hh_data", "sft", "rm", "ppo", "evaluate"]
    sft = next(n for n in graph if n.name == "sft")
    ctx = type("Ctx", (), {"cfg": cfg_for(path, base_model=str(model)), "results": {},
                           "dir": lambda self, name: tmp_path / name})()
    wiring = sft.wiring(ctx)
    assert "model=hf" in wiring and f"model.path='{model.resolve()}'" in wiring
    off = cfg_for(path)
    off.stages = {"pretrain": {"enabled": False}}
    assert names(off) == ["hh_data", "sft", "rm", "ppo", "evaluate"]
    with pytest.raises(FileNotFoundError, match="hh.base_model"):
        nodes(cfg_for(path, base_model="./no/such/model"))


# --------------------------------------------------------------------------- the report


def test_wilson_interval_matches_known_values():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    assert versus_chance((0.51, 0.7)) == "better" and versus_chance((0.3, 0.49)) == "worse"
    assert versus_chance((0.45, 0.6)) == "chance"


EVALUATION = {"models": {"sft_small": {"rm_score": 0.1, "kl_to_sft": 0.0, "params": 1e5, "mean_length_bytes": 40.0},
                         "ppo_small": {"rm_score": 0.4, "kl_to_sft": 0.6, "params": 1e5, "mean_length_bytes": 30.0}},
              "win_rates": {"ppo_vs_sft_by_rm": 0.717}, "rm_accuracy_heldout_pairs": 0.52,
              "rm_heldout": {"accuracy": 0.52, "correct": 120.0, "n_pairs": 231.0, "ties": 0.0},
              "n_eval_prompts": 231, "samples_per_prompt": 1, "base_model": "byte-level GPT-2 pretrained",
              "data": {"file": "hh.jsonl.gz", "records": 2312, "pairs": 2308, "skipped": 4,
                       "skipped_by_field": {"chosen": 4}, "split": {"sft": 692, "rm": 1154, "ppo": 231, "eval": 231},
                       "split_by": "fractions", "fractions": FRACTIONS, "rm_valid": "eval"}}


def rm_report(accuracy: float, n: int) -> dict:
    return {"summary": {"valid_accuracy": accuracy, "valid_pairs": n}}


def report_md(rm: dict) -> tuple[dict, str]:
    meta = {"recipe": "hh", "experiment": "hh", "seed": 0, "command": "rlhfkit pipeline experiment=hh"}
    report = build_report(EVALUATION, rm, {}, {"total": 90.0}, meta, {"wall_time_s": 600})
    return report, markdown(report)


def test_a_chance_rm_is_said_so_above_the_ppo_figures_in_hh_words():
    report, md = report_md(rm_report(0.511, 231))
    rm = report["rm_accuracy"]
    assert rm["valid_pairs"] == 231 and rm["valid_ci95"][0] < 0.5 < rm["valid_ci95"][1]
    assert rm["versus_chance"] == "chance" and rm["better_than_chance"] is False
    assert "no better than chance" in md and md.index("no better than chance") < md.index("ppo_vs_sft_by_rm")
    assert md.index("no better than chance") < md.index("RM score (mean)")
    assert not any(w in md for w in WORLD_WORDING), md[:400]
    assert "4 skipped (blank chosen response: 4)" in md and "2308 pairs" in md
    assert report["hh_data"]["skipped"] == 4 and report["targets"]["wall_time"]["holds"]


def test_a_better_rm_is_said_so_too_and_the_interval_rests_on_the_validation_pairs():
    report, md = report_md(rm_report(0.62, 400))
    assert report["rm_accuracy"]["versus_chance"] == "better" and "better than chance" in md
    assert "no better than chance" not in md
    figures = rm_figures(None, rm_report(0.40, 400))
    assert figures["versus_chance"] == "worse" and "worse than chance" in figures["statement"]
    assert rm_figures(EVALUATION, None)["chance_basis"] == "held-out eval pairs"  # no RM stage report
    assert hh_figures(None, None)["rm_accuracy"]["better_than_chance"] is False


def test_the_world_report_is_untouched_by_the_hh_branch():
    meta = {"recipe": "world", "experiment": "debug", "seed": 0}
    md = markdown(build_report({"models": {}, "n_eval_prompts": 48, "samples_per_prompt": 1}, None, {}, {"total": 1.0},
                               meta, {}))
    assert "judged by the held-out labelers" in md and "48 held-out prompts x 1 samples" in md
    assert markdown_hh.__module__ == "rlhfkit.evaluate.hh_report"


# --------------------------------------------------------------------------- end to end


QUIET = ['common=["trainer=cpu","logger=none","callbacks=pipeline","callbacks.progress_bar=null",'
         '"trainer.enable_progress_bar=false","++trainer.enable_model_summary=false"]', "report.wandb=disabled"]
TINY = ["hh.split.sft=0.02", "hh.split.rm=0.03", "hh.split.ppo=0.01", "hh.split.eval=0.02", "sizes.small=nano",
        'stages.pretrain.overrides=["stage.max_steps=4","stage.batch_size=16","stage.n_samples=1","stage.max_new_tokens=4"]',
        'stages.sft.overrides=["stage.max_epochs=1","stage.batch_size=16","stage.n_samples=1","stage.max_new_tokens=4"]',
        'stages.rm.overrides=["stage.max_epochs=1","stage.batch_size=16"]',
        'stages.ppo.overrides=["stage.total_steps=2","stage.rollout_batch_size=8","stage.minibatch_size=8",'
        '"stage.ppo_epochs=1","stage.checkpoint_every=0","stage.last_checkpoint_every=0","stage.sample_table_every=0"]']


@pytest.mark.slow
def test_hh_pipeline_on_the_real_file_pretrains_splits_by_fraction_and_reports_the_rm_interval(tmp_path, shared_data):
    data = f"hh.path={shared_data / 'hh-rlhf-harmless-base-test.jsonl.gz'}"
    result = run_cli("pipeline", "experiment=hh", data, *TINY, *QUIET, f"paths.runs_dir={tmp_path}", timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[pipeline] hh_data: 2312 records, 4 skipped (blank chosen: 4), 2308 pairs" in result.stdout
    assert "[pipeline] evaluate: 3/3 steps (100%)" in result.stdout
    path = Path(result.stdout.strip().splitlines()[-1])
    report = json.loads(path.read_text())
    assert report["hh_data"]["split"] == {"sft": 46, "rm": 69, "ppo": 23, "eval": 46}
    assert report["hh_data"]["records"] == 2312 and report["hh_data"]["skipped"] == 4
    rm = report["rm_accuracy"]
    assert rm["valid_pairs"] == 46 and rm["heldout_n"] == 46 and rm["valid_ci95"][0] <= rm["valid_accuracy"] <= rm["valid_ci95"][1]
    assert rm["versus_chance"] in ("better", "chance", "worse") and rm["statement"]
    assert "pretrain" in report["stage_dirs"] and "pretrained on the dialogues" in report["base_model"]
    md = (path.parent / "report.md").read_text()
    assert rm["statement"] in md and not any(w in md for w in WORLD_WORDING)

    # the user's own model: SFT starts from it, no pretrain stage (here: the base model just trained)
    base = Path(report["stage_dirs"]["pretrain"]) / "final"
    again = run_cli("pipeline", "experiment=hh", data, *TINY, *QUIET, f"hh.base_model={base}",
                    f"paths.runs_dir={tmp_path}", timeout=400)
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads(Path(again.stdout.strip().splitlines()[-1]).read_text())
    assert "pretrain" not in second["stage_dirs"] and second["base_model"] == str(base)
    assert "hh_data" in second["cached_stages"]  # the data do not depend on the base model
    sft_config = (Path(second["stage_dirs"]["sft"]) / "resolved_config.yaml").read_text()
    assert f"path: {base}" in sft_config and "name: hf" in sft_config


def test_the_hh_recipe_switches_off_every_world_target():
    from hydra import compose, initialize_config_dir

    from rlhfkit.config_dir import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        world = compose(config_name="pipeline").targets
        hh = compose(config_name="pipeline", overrides=["pipeline/experiment=hh"]).targets
    assert set(hh) == set(world)
    assert {k for k, v in hh.items() if v is not None} == {"wall_time_s", "wall_time_goal_s"}
