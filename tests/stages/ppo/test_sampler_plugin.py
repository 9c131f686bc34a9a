"""The generation backend is a plugin: a third party's sampler runs PPO's rollouts, gets the
policy after every iteration's updates, and a sampler breaking the contract stops the run naming it."""

from __future__ import annotations

import random
import types

import pytest
import torch
from _helpers import QUIET_IN_PROCESS, write_jsonl
from hydra import compose, initialize_config_dir

from rlhfkit import hookimpl
from rlhfkit.config_dir import config_dir
from rlhfkit.models.generation import generate_responses
from rlhfkit.models.samplers import AutoSampler
from rlhfkit.plugins import PluginManager
from rlhfkit.plugins.config_specs import ConfigNamesError
from rlhfkit.stages import run_stage

WORDS = "please thanks hello world the a cat dog say tell me you".split()


class CountingSampler(AutoSampler):
    """Samples like `auto`, counts its calls and the weight updates it is told about."""

    instances: list["CountingSampler"] = []

    def __init__(self, tag: str = "") -> None:
        self.tag, self.samples, self.updates = tag, 0, []
        CountingSampler.instances.append(self)

    def sample(self, policy, prompt_ids, prompt_mask, sampling, eos_id, generator=None, **hints):
        self.samples += 1
        return generate_responses(policy, prompt_ids, prompt_mask, sampling, eos_id, generator)

    def update_weights(self, policy) -> None:
        self.updates.append(float(next(policy.parameters()).detach().sum()))


class FloatTokens(AutoSampler):
    def sample(self, policy, prompt_ids, prompt_mask, sampling, eos_id, generator=None, **hints):
        tokens = torch.zeros(prompt_ids.shape[0], 2)
        return tokens, tokens


def _manager() -> PluginManager:
    manager = PluginManager()
    module = types.ModuleType("my_sampler_plugin")

    @hookimpl
    def rlhfkit_samplers():
        return {"counting": CountingSampler, "float_tokens": FloatTokens}

    module.rlhfkit_samplers = rlhfkit_samplers
    manager.register(module, name="my_sampler_plugin")
    return manager


def _ppo(tmp_path, *overrides):
    rng = random.Random(0)
    prompts = write_jsonl(tmp_path / "prompts.jsonl",
                          [{"prompt": " ".join(rng.choice(WORDS) for _ in range(3))} for _ in range(16)])
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            *QUIET_IN_PROCESS, "stage=ppo", f"data.prompts.train.path={prompts}", "model.size=nano",
            "model.tokenizer=words", f"+model.words=[{','.join(WORDS)}]", "stage.max_new_tokens=4",
            "stage.total_steps=3", "stage.rollout_batch_size=8", "stage.minibatch_size=8", "stage.ppo_epochs=1",
            "stage.checkpoint_every=0", "stage.last_checkpoint_every=0", f"paths.output_dir={tmp_path / 'run'}",
            *overrides])
    return run_stage(cfg, _manager(), tmp_path / "run")


def test_a_third_party_sampler_runs_the_rollouts_and_gets_every_update(tmp_path):
    CountingSampler.instances.clear()
    _ppo(tmp_path, "generation.name=counting", "+generation.tag=mine")
    [sampler] = CountingSampler.instances
    assert sampler.tag == "mine" and sampler.samples == 3  # one rollout per iteration
    assert len(sampler.updates) == 3 and len(set(sampler.updates)) == 3  # after each update: new weights


def test_a_sampler_breaking_the_contract_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"sampler FloatTokens.sample returned tokens of dtype torch.float32"):
        _ppo(tmp_path, "generation.name=float_tokens")


def test_an_unknown_sampler_fails_at_start_up_with_the_known_names(tmp_path):
    with pytest.raises(ConfigNamesError, match=r"config key 'generation.name': unknown sampler 'vllm'. Known sampler names: "
                                         r"auto, counting, float_tokens, hf_generate, rlhfkit"):
        _ppo(tmp_path, "generation.name=vllm")
