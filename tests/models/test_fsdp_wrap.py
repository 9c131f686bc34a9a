"""``trainer=fsdp`` shards block by block: the auto-wrap policy is built from the HF models' own
``_no_split_modules`` (through wrappers: peft, rlhfkit's scalar-head model), unless the config sets one."""

from __future__ import annotations

import pytest
import torch
from _hf_models import ARCHITECTURES
from omegaconf import OmegaConf
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from rlhfkit.models import ScalarHeadModel
from rlhfkit.models.fsdp_wrap import block_classes, fsdp_strategy, is_fsdp

BLOCKS = {"gpt2": "GPT2Block", "llama": "LlamaDecoderLayer", "qwen2": "Qwen2DecoderLayer",
          "mistral": "MistralDecoderLayer", "gpt_neox": "GPTNeoXLayer", "opt": "OPTDecoderLayer",
          "phi": "PhiDecoderLayer"}


def tiny(model_type: str, auto=AutoModelForCausalLM):
    return auto.from_config(AutoConfig.for_model(model_type, vocab_size=64, **ARCHITECTURES[model_type]))


@pytest.mark.parametrize("model_type", sorted(BLOCKS))
def test_the_block_of_every_architecture(model_type):
    assert {c.__name__ for c in block_classes([tiny(model_type)])} == {BLOCKS[model_type]}


def test_wrappers_and_several_models():
    value = ScalarHeadModel(tiny("llama", AutoModel), role="value")  # a backbone under rlhfkit's head
    assert {c.__name__ for c in block_classes([tiny("gpt2"), value])} == {"GPT2Block", "LlamaDecoderLayer"}
    assert block_classes([torch.nn.Linear(2, 2)]) == set()  # no HF model inside: nothing to split on


def test_the_strategy_gets_the_policy_unless_the_config_has_one():
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    spec = OmegaConf.create({"_target_": "pytorch_lightning.strategies.FSDPStrategy", "sharding_strategy": "FULL_SHARD",
                             "state_dict_type": "full"})
    assert is_fsdp(spec) and not is_fsdp(OmegaConf.create({"_target_": "pytorch_lightning.strategies.DDPStrategy"}))
    strategy = fsdp_strategy(spec, [tiny("llama")])
    policy = strategy.kwargs["auto_wrap_policy"]
    assert isinstance(policy, ModuleWrapPolicy)
    assert {c.__name__ for c in policy._module_classes} == {"LlamaDecoderLayer"}
    assert strategy.kwargs["use_orig_params"]  # frozen and trained parameters may share a unit
    own = fsdp_strategy(OmegaConf.merge(spec, {"auto_wrap_policy": {"_target_": "builtins.set"}}), [tiny("llama")])
    assert own.kwargs["auto_wrap_policy"]._module_classes == set()  # the config's choice (here: none) is kept


def test_trainer_fsdp_gives_every_stage_a_block_policy():
    """The composed ``trainer=fsdp`` config: the stage's Trainer gets the FSDP strategy with the
    models' block policy (the Trainer itself needs a GPU; the strategy is built on any machine)."""
    from hydra import compose, initialize_config_dir
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    from rlhfkit.config_dir import config_dir
    from rlhfkit.stages.lifecycle import strategy_override

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        fsdp = compose(config_name="config", overrides=["trainer=fsdp", "stage=sft"])
        ddp = compose(config_name="config", overrides=["trainer=ddp", "stage=sft"])
    strategy = strategy_override(fsdp, [tiny("gpt2")])["strategy"]
    assert isinstance(strategy.kwargs["auto_wrap_policy"], ModuleWrapPolicy)
    assert {c.__name__ for c in strategy.kwargs["auto_wrap_policy"]._module_classes} == {"GPT2Block"}
    assert strategy_override(ddp, [tiny("gpt2")]) == {}
