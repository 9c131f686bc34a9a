"""Each stage's typed config is the one place its options live: conf/stage/*.yaml compose it, its
defaults are the composed values, overrides are type-checked by name, and debug=fast shrinks
whichever stage runs."""

from __future__ import annotations

import dataclasses

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from rlhfkit.config_dir import config_dir
from rlhfkit.errors import ConfigError
from rlhfkit.stages import STAGES, apply_debug_limits
from rlhfkit.stages.ppo.config import PPOConfig
from rlhfkit.stages.typed_config import from_node


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_the_yaml_is_the_typed_config_and_nothing_else(name):
    config_class = STAGES[name][0]
    stage = _compose([f"stage={name}"]).stage
    assert OmegaConf.to_container(stage, resolve=True) == dataclasses.asdict(config_class())
    assert from_node(config_class, stage) == config_class()
    yaml_text = (config_dir() / "stage" / f"{name}.yaml").read_text()
    option_lines = [line for line in yaml_text.splitlines() if line and not line.startswith(("#", " ", "defaults:"))]
    assert option_lines == [], f"conf/stage/{name}.yaml repeats options of its typed config: {option_lines}"


def test_ppo_ptx_is_ppo_with_igs_gamma():
    stage = from_node(PPOConfig, _compose(["stage=ppo_ptx"]).stage)
    assert stage == dataclasses.replace(PPOConfig(), ptx_coef=27.8)


def test_overrides_are_typed_and_unknown_keys_are_refused():
    assert _compose(["stage=ppo", "stage.lr=1e-4", "stage.fast_kernels.onednn_linear=false"]).stage.lr == 1e-4
    with pytest.raises(ConfigCompositionException, match="stage.clip_range"):
        _compose(["stage=ppo", "stage.clip_range=abc"])
    with pytest.raises(ConfigCompositionException, match="stage.clip_rang"):
        _compose(["stage=ppo", "stage.clip_rang=0.1"])


def test_from_node_names_an_unknown_key():
    with pytest.raises(ConfigError, match=r"'stage.normalisation.mod': not an option of NormalisationConfig"):
        from_node(STAGES["rm"][0], {"normalisation": {"mod": "none"}})


@pytest.mark.parametrize("name", sorted(STAGES))
def test_debug_fast_shrinks_only_the_options_a_stage_has(name):
    cfg = apply_debug_limits(_compose([f"stage={name}", "debug=fast"]))
    stage = from_node(STAGES[name][0], cfg.stage)  # no foreign key slipped in
    if name == "ppo":
        assert (stage.total_steps, stage.rollout_batch_size, stage.max_new_tokens) == (2, 8, 8)
    else:
        assert (stage.max_epochs, stage.limit_train_batches, stage.max_length) == (1, 2, 64)


def test_learning_rates_live_in_the_stage_not_in_optim():
    cfg = _compose(["stage=sft"])
    assert "lr" not in cfg.optim and "scheduler" not in cfg.optim
    assert cfg.stage.lr == 1e-3 and cfg.stage.lr_scheduler.name == "cosine"
    kl = _compose(["stage=ppo", "kl=fixed"]).kl
    assert kl.estimator == "k1"  # the shaping's KL estimator sits with its controller (item 15)
