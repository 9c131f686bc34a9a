"""The PPO / PPO-ptx stage: a CLI run against a rule reward whose score rises, a reward model, the
pretraining term, resume equivalence, critic-free estimators, a shared value head, DDP on 2 CPUs.

Runs use one intra-op thread: on the shared 2-core machine that is ~20x faster than two threads.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from _helpers import run_cli, single_run_dir, write_jsonl
from hydra import compose, initialize_config_dir
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlhfkit.algos.lm import masked_lm_loss
from rlhfkit.config_dir import config_dir
from rlhfkit.models import ScalarHeadModel, build_tiny, scalar_model_from
from rlhfkit.plugins import get_plugin_manager
from rlhfkit.stages.ppo.streams import BatchStream, encode_texts

WORDS = "please thanks hello world the a cat dog say tell me you".split()
PRETRAIN = "the cat say hello the dog say world"
# the policy: a nano GPT-2 on a 15-token word vocabulary; 8-token responses
TINY = ["model.size=nano", "model.tokenizer=words", f"+model.words=[{','.join(WORDS)}]", "stage.max_new_tokens=8",
        "stage.lr_scheduler.warmup_steps=0", "stage.lr=1e-3", "stage.value_lr=1e-3"]
KEYWORD = ["reward=keyword", "reward.wanted=[please]", "reward.banned=[]"]  # +1 when "please" is in the response
QUIET = ["logger=none", "callbacks=none", "trainer.enable_progress_bar=false", "+trainer.enable_model_summary=false"]


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    rng = random.Random(0)
    prompts = [{"prompt": " ".join(rng.choice(WORDS[2:]) for _ in range(3))} for _ in range(64)]
    return {"prompts": write_jsonl(tmp_path / "prompts.jsonl", prompts),
            "pretrain": write_jsonl(tmp_path / "pretrain.jsonl", [{"text": PRETRAIN + " " + PRETRAIN}] * 32)}


def run_in_process(run_dir: Path, *overrides: str) -> dict:
    """Compose the real config (as `rlhfkit train` would) and run the stage in this process."""
    from rlhfkit.stages.ppo.builder import run_ppo

    run_dir.mkdir(parents=True, exist_ok=True)
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["stage=ppo", *QUIET, *TINY, *overrides, f"paths.output_dir={run_dir}"])
    return run_ppo(cfg, get_plugin_manager(), run_dir)


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "ppo_history.jsonl").read_text().splitlines()]


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


ISSUE_METRICS = [  # issue item 5
    "objective/score", "objective/kl", "objective/kl_coef", "objective/entropy", "ppo/policy/clipfrac",
    "ppo/policy/approxkl", "ppo/val/loss", "ppo/val/explained_variance", "ppo/response_length",
    "ppo/frac_no_eos", "perf/tokens_per_s",
]


def test_cli_ppo_against_a_rule_reward_raises_the_score(tmp_path, data):
    result = run_cli("train", "stage=ppo", f"data.prompts.train.path={data['prompts']}", *KEYWORD, *TINY,
                     "stage.total_steps=30", "stage.rollout_batch_size=32", "stage.sample_table_every=10",
                     "stage.checkpoint_every=15", "logger=many", f"paths.runs_dir={tmp_path / 'runs'}",
                     env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    run = single_run_dir(tmp_path / "runs")
    rows = history(run)
    assert len(rows) == 30 and [r["ppo/iteration"] for r in rows] == list(range(1, 31))
    assert all(k in rows[-1] for k in ISSUE_METRICS)
    scores = [r["objective/score"] for r in rows]
    assert mean(scores[-5:]) > mean(scores[:5]) + 0.2, f"the score did not rise: {scores}"
    assert all(r["objective/kl"] >= 0 for r in rows[1:])  # item 34: sampled from pi, k1 mean is non-negative here
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["objective/score_last_quarter"] > metrics["objective/score_first_quarter"]

    policy = AutoModelForCausalLM.from_pretrained(run / "final")  # a plain HF causal LM
    assert AutoTokenizer.from_pretrained(run / "final").get_vocab() == build_tiny("nano", tokenizer="words", words=WORDS).tokenizer.get_vocab()
    assert policy.config.n_layer == 2 and isinstance(ScalarHeadModel.from_pretrained(run / "final_value"), ScalarHeadModel)
    assert sorted(p.name for p in (run / "checkpoints").glob("iter*.ckpt")) == ["iter000015.ckpt", "iter000030.ckpt"]
    used = {(p["kind"], p["name"]) for p in json.loads((run / "versions.json").read_text())["plugins"]}
    assert {("reward", "keyword"), ("advantage", "gae"), ("kl_controller", "adaptive"), ("lr_scheduler", "constant")} <= used

    header = (run / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert set(ISSUE_METRICS) <= set(header)
    tables = list((run / "wandb").glob("offline-run-*/files/media/table/samples_*.table.json"))
    assert len(tables) == 3, "a W&B table of samples every 10 iterations"
    table = json.loads(tables[0].read_text())
    assert table["columns"] == ["iteration", "prompt", "response", "score", "kl"] and table["data"]


def test_ppo_against_a_reward_model_with_a_critic_from_it(tmp_path, data):
    bundle = build_tiny("nano", tokenizer="words", words=WORDS, seed=8)
    rm = scalar_model_from(bundle, "reward")  # a random (untrained) RM is enough to climb
    rm.set_normalisation(gain=2.0, offset=0.5)
    rm.save_pretrained(tmp_path / "rm", bundle.tokenizer)
    run = tmp_path / "run"
    metrics = run_in_process(run, f"data.prompts.train.path={data['prompts']}", "reward=reward_model",
                             f"reward.path={tmp_path / 'rm'}", "stage.total_steps=30", "stage.rollout_batch_size=32")
    rows = history(run)
    scores = [r["objective/score"] for r in rows]
    assert mean(scores[-5:]) > mean(scores[:5]) + 0.2, f"the RM score did not rise: {scores}"
    last = rows[-1]
    assert last["objective/score_unnormalised"] == pytest.approx((last["objective/score"] - 0.5) / 2.0)  # item 9
    assert metrics["objective/score"] == pytest.approx(last["objective/score"])
    assert (run / "final_value" / "scalar_head.safetensors").exists()


def test_the_critic_starts_from_the_reward_model(tmp_path):
    from rlhfkit.stages.ppo.builder import build_value_model

    bundle = build_tiny("nano", tokenizer="words", words=WORDS, seed=3)
    rm = scalar_model_from(build_tiny("nano", tokenizer="words", words=WORDS, seed=4), "reward")
    rm.save_pretrained(tmp_path / "rm", bundle.tokenizer)
    spec = {"name": "reward_model", "path": str(tmp_path / "rm")}
    critic = build_value_model("auto", False, bundle, spec)  # item 24: from the RM by default
    assert critic.role == "value" and torch.equal(critic.head.weight, rm.head.weight)
    assert all(torch.equal(a, b) for a, b in zip(critic.backbone.parameters(), rm.backbone.parameters()))
    in_sum = build_value_model("auto", False, bundle, {"name": "weighted_sum", "components": [{"name": "length"}, spec]})
    assert torch.equal(in_sum.head.weight, rm.head.weight)
    fresh = build_value_model("auto", False, bundle, {"name": "keyword"})  # no RM: a zero head on a policy copy
    assert torch.all(fresh.head.weight == 0) and fresh.backbone is not bundle.model.base_model
    shared = build_value_model("reward", True, bundle, spec)  # LHP: a head on the policy's own body
    assert shared.backbone is bundle.model.base_model
    other = build_tiny("nano", tokenizer="bytes")
    with pytest.raises(ValueError, match="item 38"):  # the critic reads the policy's token ids
        build_value_model("reward", False, other, spec)
    assert build_value_model("auto", False, other, spec).backbone is not other.model.base_model  # from the policy


def pretraining_loss(model_dir: Path) -> float:
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids, mask = encode_texts(tokenizer, [PRETRAIN + " " + PRETRAIN], 64)
    with torch.no_grad():
        return float(masked_lm_loss(model(input_ids=ids, attention_mask=mask).logits, ids, mask)[0])


def test_ppo_ptx_lowers_the_pretraining_loss(tmp_path, data):
    common = [f"data.prompts.train.path={data['prompts']}", f"data.pretrain.train.path={data['pretrain']}", *KEYWORD,
              "stage.total_steps=5"]
    run_in_process(tmp_path / "ppo", *common)
    run_in_process(tmp_path / "ptx", *common, "stage=ppo_ptx")  # IG gamma 27.8 (item 13)
    rows = history(tmp_path / "ptx")
    assert "ppo/ptx_loss" in rows[0] and "ppo/ptx_loss" not in history(tmp_path / "ppo")[0]
    assert rows[-1]["ppo/ptx_loss"] < rows[0]["ppo/ptx_loss"]
    initial = pretraining_loss_of_fresh_policy()
    ppo, ptx = pretraining_loss(tmp_path / "ppo" / "final"), pretraining_loss(tmp_path / "ptx" / "final")
    assert ptx < ppo and ptx < initial - 0.5, f"pretraining NLL: initial {initial:.3f}, PPO {ppo:.3f}, PPO-ptx {ptx:.3f}"


def pretraining_loss_of_fresh_policy() -> float:
    bundle = build_tiny("nano", tokenizer="words", words=WORDS, seed=0)
    ids, mask = encode_texts(bundle.tokenizer, [PRETRAIN + " " + PRETRAIN], 64)
    with torch.no_grad():
        return float(masked_lm_loss(bundle.model.eval()(input_ids=ids, attention_mask=mask).logits, ids, mask)[0])


def test_ptx_without_pretraining_data_fails_at_start_up(tmp_path, data):
    from rlhfkit.plugins.config_specs import MissingConfigValueError

    with pytest.raises(MissingConfigValueError, match="data.pretrain.train.path"):
        run_in_process(tmp_path / "run", f"data.prompts.train.path={data['prompts']}", "stage=ppo_ptx")


def test_resume_gives_the_same_next_iteration(tmp_path, data):
    # PPO-ptx with an adaptive KL controller and LR warm-up: every piece of state matters
    common = [f"data.prompts.train.path={data['prompts']}", f"data.pretrain.train.path={data['pretrain']}", *KEYWORD,
              "stage=ppo_ptx", "stage.ptx_coef=1.0", "stage.total_steps=3", "stage.lr_scheduler.warmup_steps=5",
              "kl=adaptive", "kl.horizon=100"]
    run_in_process(tmp_path / "straight", *common, "stage.checkpoint_every=2")
    ckpt = tmp_path / "straight" / "checkpoints" / "iter000002.ckpt"
    state = torch.load(ckpt, weights_only=False)
    assert state["ppo"]["iteration"] == 2 and not any(k.startswith("ref_policy.") for k in state["state_dict"])
    assert len(state["optimizer_states"]) == 2 and len(state["lr_schedulers"]) == 2
    run_in_process(tmp_path / "resumed", *common, f"ckpt_path={ckpt}")
    straight, resumed = history(tmp_path / "straight"), history(tmp_path / "resumed")
    assert len(straight) == 3 and len(resumed) == 1 and resumed[0]["ppo/iteration"] == 3
    for key in ("objective/score", "objective/kl", "objective/kl_coef", "ppo/policy/loss", "ppo/val/loss",
                "ppo/ptx_loss", "ppo/policy/approxkl", "ppo/lr/policy"):
        assert resumed[0][key] == pytest.approx(straight[2][key], rel=1e-5, abs=1e-7), key
    assert straight[2]["objective/kl_coef"] != straight[0]["objective/kl_coef"]  # the controller did move


@pytest.mark.parametrize("estimator", ["rloo", "grpo"])
def test_critic_free_estimators_run_without_a_value_model(tmp_path, data, estimator):
    run = tmp_path / estimator
    metrics = run_in_process(run, f"data.prompts.train.path={data['prompts']}", *KEYWORD, f"advantage={estimator}",
                             "advantage.group_size=4", "stage.rollout_batch_size=4", "stage.total_steps=2")
    assert metrics["ppo/iteration"] == 2 and "ppo/val/loss" not in metrics and "ppo/lr/value" not in metrics
    assert (run / "final" / "model.safetensors").exists() and not (run / "final_value").exists()
    table = [json.loads(line) for line in (run / "tables" / "samples.jsonl").read_text().splitlines()]
    assert len({row["prompt"] for row in table[:4]}) == 1, "group_size samples of each prompt, consecutive"


def test_shared_value_head_trains_one_optimizer(tmp_path, data):
    run = tmp_path / "shared"
    metrics = run_in_process(run, f"data.prompts.train.path={data['prompts']}", *KEYWORD, "stage.shared_value_head=true",
                             "stage.total_steps=2", "stage.checkpoint_every=2")
    assert "ppo/val/loss" in metrics and "ppo/lr/value" not in metrics
    assert len(torch.load(run / "checkpoints" / "iter000002.ckpt", weights_only=False)["optimizer_states"]) == 1


def test_prompt_stream_is_resumable_and_sharded():
    stream = BatchStream(list(range(10)), batch_size=3, seed=0)
    first = [stream.batch(i) for i in range(4)]  # 12 items: the second epoch has begun, reshuffled
    assert sorted(first[0] + first[1] + first[2] + [first[3][0]]) == list(range(10))
    stream.start = 2
    it = iter(stream)
    assert [next(it), next(it)] == first[2:]
    ranks = [BatchStream(list(range(10)), 3, seed=0) for _ in range(2)]
    for r, s in enumerate(ranks):
        s.shard(r, 2)
    assert ranks[0].batch(0) + ranks[1].batch(0) == first[0] + first[1]  # one shuffle, split between ranks (item 40)


@pytest.mark.ddp
def test_old_logprobs_from_the_sampler_train_as_the_scoring_pass_does(tmp_path, data):
    """stage.old_logprobs=sampler: the first iteration samples the same responses and its KL, score and
    first PPO ratio (approxkl, clipfrac) come out as with the policy's scoring pass."""
    rows = {}
    for mode in ("forward", "sampler"):
        run_in_process(tmp_path / mode, f"data.prompts.train.path={data['prompts']}", *KEYWORD,
                       f"stage.old_logprobs={mode}", "stage.total_steps=2", "stage.ppo_epochs=1")
        rows[mode] = history(tmp_path / mode)
    assert len(rows["sampler"]) == 2
    first = {mode: r[0] for mode, r in rows.items()}
    for key in ("objective/score", "objective/kl", "ppo/response_length", "ppo/policy/approxkl", "ppo/policy/clipfrac"):
        assert first["sampler"][key] == pytest.approx(first["forward"][key], abs=1e-5), key


def test_the_reward_is_placed_on_the_policys_device_at_fit_start(tmp_path, data, monkeypatch):
    """PPO calls the reward's optional place(device) hook with the policy's device once the trainer
    has placed the policy (reward.device=auto for a reward model)."""
    from rlhfkit.rewards import KeywordReward

    placed = []
    monkeypatch.setattr(KeywordReward, "place", lambda self, device: placed.append(device) or False, raising=False)
    run_in_process(tmp_path / "run", f"data.prompts.train.path={data['prompts']}", *KEYWORD, "stage.total_steps=1")
    assert placed == [torch.device("cpu")]


def test_ddp_two_cpu_processes_eager_and_compiled(tmp_path, data):
    """Two gloo processes: each rank samples with its own random stream (item 40) and the run exports
    and checkpoints; with stage.fast_kernels.torch_compile=true each rank compiles its own models and
    the run logs the eager run's figures (a varying reward, so the advantages are not all 0)."""
    rows = {}
    for compiled in ("false", "true"):
        runs = tmp_path / compiled
        result = run_cli("train", "stage=ppo", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
                         f"data.prompts.train.path={data['prompts']}", "reward=length", *TINY, "stage.total_steps=3",
                         "stage.checkpoint_every=3", f"stage.fast_kernels.torch_compile={compiled}", "logger=csv",
                         "callbacks=none", f"paths.runs_dir={runs}", env={"OMP_NUM_THREADS": "1"}, timeout=600)
        assert result.returncode == 0, result.stderr[-4000:]
        assert "gloo" in result.stdout + result.stderr
        run = single_run_dir(runs)
        rows[compiled] = history(run)
        assert len(rows[compiled]) == 3 and (run / "final" / "model.safetensors").exists()
        state = torch.load(run / "checkpoints" / "iter000003.ckpt", weights_only=False)
        per_rank = state["ppo"]["rng_per_rank"]
        assert len(per_rank) == 2 and not torch.equal(per_rank[0]["sampler"], per_rank[1]["sampler"])  # item 40
    assert rows["false"][-1]["objective/kl"] > 0
    for eager, compiled in zip(rows["false"], rows["true"]):
        for key in ("objective/score", "objective/kl", "ppo/policy/approxkl", "ppo/val/loss"):
            assert compiled[key] == pytest.approx(eager[key], rel=1e-3, abs=1e-6), key
