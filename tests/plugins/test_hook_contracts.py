"""A contract test per hookspec: every part each installed plugin provides honours the contract.

`test_every_hook_has_a_contract_test` fails when a hook is added without a test here
(datasette's test_plugin_hooks_have_tests).
"""

from __future__ import annotations

import inspect

import pytest
import torch

from rlhfkit.plugins import KINDS, PluginManager, hookspecs


@pytest.fixture(scope="module")
def manager() -> PluginManager:
    return PluginManager()


def test_every_hook_has_a_contract_test():
    specs = {name for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("rlhfkit_")}
    assert specs == set(KINDS.values()), "KINDS and hookspecs disagree"
    tested = {name[len("test_hook_"):] for name in globals() if name.startswith("test_hook_")}
    assert specs == tested, f"hooks without a contract test: {sorted(specs - tested)}"


def test_hook_rlhfkit_models(manager):
    from rlhfkit.models import ModelBundle

    parts = manager.registry("model")
    assert {"tiny", "hf"} <= set(parts)
    bundle = manager.build("model", {"name": "tiny", "size": "nano"}, "model")
    assert isinstance(bundle, ModelBundle)
    assert bundle.tokenizer.pad_token_id != bundle.tokenizer.eos_token_id  # item 35
    out = bundle.model(input_ids=torch.tensor([[5, 6, 7]])).logits
    assert out.shape == (1, 3, len(bundle.tokenizer))


def test_hook_rlhfkit_datasets(manager, sft_file):
    from rlhfkit.data import PromptExample, SFTExample

    examples = manager.build("dataset", {"name": "files", "path": str(sft_file)}, "data", kind="sft")
    assert examples and all(isinstance(e, SFTExample) for e in examples)
    prompts = manager.build("dataset", {"name": "files", "path": str(sft_file)}, "data", kind="prompt")
    assert all(isinstance(e, PromptExample) for e in prompts) and len(prompts) == len(examples)


@pytest.mark.parametrize("name,options", [
    ("keyword", {"wanted": ["b"], "banned": ["z"]}),
    ("length", {"target": 2}),
    ("weighted_sum", {"components": [{"name": "length", "weight": 2.0}, {"name": "keyword", "wanted": ["b"]}]}),
])
def test_hook_rlhfkit_reward_functions(manager, name, options):
    reward = manager.build("reward", {"name": name, **options}, "reward")
    scores = reward(["p", "p", "p"], ["a b", "z", "a b c d e"])
    assert isinstance(scores, torch.Tensor) and scores.shape == (3,) and scores.dtype == torch.float32


def test_weighted_sum_is_the_weighted_sum(manager):
    parts = [{"name": "length", "weight": 2.0, "target": 2, "scale": 1.0}, {"name": "keyword", "weight": -1.0, "wanted": ["b"]}]
    reward = manager.build("reward", {"name": "weighted_sum", "components": parts}, "reward")
    # "a b": length -|2-2| = 0, keyword 1 -> 2*0 - 1*1 = -1; "z": length -1, keyword 0 -> -2
    assert reward(["p", "p"], ["a b", "z"]).tolist() == [-1.0, -2.0]


@pytest.mark.parametrize("name,options", [("fixed", {"kl_coef": 0.02}), ("adaptive", {"init_kl_coef": 0.15, "target": 6.0, "horizon": 10000})])
def test_hook_rlhfkit_kl_controllers(manager, name, options):
    controller = manager.build("kl_controller", {"name": name, **options}, "kl")
    before = controller.value
    controller.update(current_kl=12.0, n_steps=100)
    state = controller.state_dict()
    fresh = manager.build("kl_controller", {"name": name, **options}, "kl")
    fresh.load_state_dict(state)
    assert fresh.value == controller.value
    assert (controller.value > before) == (name == "adaptive")


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
def test_hook_rlhfkit_optimizers(manager, name):
    param = torch.nn.Parameter(torch.ones(2))
    optimizer = manager.build("optimizer", {"name": name, "lr": 0.1}, "optim", params=[param])
    assert isinstance(optimizer, torch.optim.Optimizer)
    (param ** 2).sum().backward()
    optimizer.step()
    assert (param < 1).all()


@pytest.mark.parametrize("name,at_end", [("constant", 1.0), ("cosine", 0.1), ("linear", 0.0)])
def test_hook_rlhfkit_lr_schedulers(manager, name, at_end):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
    scheduler = manager.build("lr_scheduler", {"name": name, "warmup_steps": 2}, "stage.lr_scheduler", optimizer=optimizer, total_steps=12)
    lrs = []
    for _ in range(12):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0)  # warm-up (step+1)/2
    assert optimizer.param_groups[0]["lr"] == pytest.approx(at_end)


@pytest.mark.parametrize("name,options", [("gae", {}), ("rloo", {"group_size": 2}), ("grpo", {"group_size": 2})])
def test_hook_rlhfkit_advantage_estimators(manager, name, options):
    estimator = manager.build("advantage", {"name": name, **options}, "advantage")
    rewards = torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 2.0], [0.0, -1.0]])
    mask = torch.ones(4, 2)
    values = torch.zeros(4, 2) if estimator.needs_critic else None
    advantages, returns = estimator(rewards, values, mask, rewards.sum(-1))
    assert advantages.shape == (4, 2)
    assert (returns is not None) == estimator.needs_critic


@pytest.mark.parametrize("name", ["scrub_pii", "dedupe", "cap_per_user"])
def test_hook_rlhfkit_data_filters(manager, name):
    from rlhfkit.data import SFTExample

    examples = [SFTExample("mail me at a@b.com", "ok", "x:1", "u1"), SFTExample("Mail me at  a@b.com", "ok", "x:2", "u1")]
    step = manager.build("data_filter", {"name": name} | ({"max_per_user": 1} if name == "cap_per_user" else {}), "data.filters")
    kept, report = step(examples)
    assert isinstance(report, dict) and all(isinstance(v, int) for v in report.values())
    if name == "scrub_pii":
        assert all("[EMAIL]" in e.prompt for e in kept) and len(kept) == 2
    else:  # the second example is a duplicate prefix / over the cap of 1: dropped and counted
        assert len(kept) == 1 and report["data/hygiene/dropped"] == 1


@pytest.mark.parametrize("name", ["auto", "hf_generate", "rlhfkit"])
def test_hook_rlhfkit_samplers(manager, name):
    from rlhfkit.models import build_tiny
    from rlhfkit.models.encoding import encode_prompts
    from rlhfkit.models.generation import SamplingConfig
    from rlhfkit.stages.ppo.rollout import check_sampled

    bundle = build_tiny("nano", seed=0)
    sampler = manager.build("sampler", {"name": name}, "generation")
    ids, mask, _ = encode_prompts(bundle.tokenizer, ["hello there", "a b c d e"], 16)  # (2, P) left-padded
    sampling = SamplingConfig(max_new_tokens=5)
    out = sampler.sample(bundle.model.eval(), ids, mask, sampling, bundle.tokenizer.eos_token_id,
                         torch.Generator().manual_seed(0), preallocated_kv_cache=None, lm_head_last_only=None)
    tokens, logprobs = check_sampled(out, ids, sampling, sampler)
    assert tokens.shape[0] == 2 and (tokens >= 0).all() and (tokens < len(bundle.tokenizer)).all()
    assert (logprobs <= 0).all() and torch.isfinite(logprobs).all()
    assert sampler.update_weights(bundle.model) is None  # the hook exists; built-ins sample the live policy
