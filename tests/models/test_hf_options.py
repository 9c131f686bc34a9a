"""The options of ``model=hf`` (conf/model/hf.yaml): dtype, attention kernel, gradient checkpointing,
dropout, and ``debug=fast`` applying to a model only the keys its plugin takes."""

from __future__ import annotations

import logging

import pytest
import torch
from _hf_models import save_tiny_hf
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from transformers import AutoModelForCausalLM

from rlhfkit.config_dir import config_dir
from rlhfkit.errors import ConfigError
from rlhfkit.models import load_hf
from rlhfkit.models.hf import checkpointing_enabled, checkpointing_in_eval, dropout_fields
from rlhfkit.plugins import get_plugin_manager
from rlhfkit.stages import apply_debug_limits, apply_debug_model_limits


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {arch: save_tiny_hf(root / arch, arch) for arch in ("gpt2", "llama", "mamba")}


def _compose(overrides):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def test_every_hf_yaml_key_is_an_option_of_load_hf_with_that_default():
    import inspect

    yaml = OmegaConf.to_container(OmegaConf.load(config_dir() / "model" / "hf.yaml"))
    params = inspect.signature(load_hf).parameters
    for key, value in yaml.items():
        if key in ("name", "path"):
            continue
        assert key in params, f"conf/model/hf.yaml key '{key}' is not an option of load_hf"
        if key != "lora":
            assert params[key].default == value, key
    assert yaml["lora"] == {"r": 0, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
    assert yaml["attn_implementation"] is None and yaml["gradient_checkpointing"] is False and yaml["dropout"] is None


def test_dtype_and_attention_are_passed_through(saved):
    bundle = load_hf(str(saved["llama"]), dtype="bfloat16", attn_implementation="eager")
    assert next(bundle.model.parameters()).dtype == torch.bfloat16
    assert bundle.model.config._attn_implementation == "eager"
    assert load_hf(str(saved["llama"]), attn_implementation="sdpa").model.config._attn_implementation == "sdpa"
    assert load_hf(str(saved["llama"])).model.config._attn_implementation in ("sdpa", "eager")  # transformers' choice


def test_an_unusable_attention_kernel_is_one_line_naming_the_key(saved):
    with pytest.raises(ConfigError, match=r"^config key 'model.attn_implementation': 'no_such_kernel'") as info:
        load_hf(str(saved["llama"]), attn_implementation="no_such_kernel")
    assert "\n" not in str(info.value)


def test_gradient_checkpointing_is_on_without_a_cache_and_exports_with_one(saved, tmp_path):
    bundle = load_hf(str(saved["llama"]), gradient_checkpointing=True)
    assert checkpointing_enabled(bundle.model) and bundle.model.config.use_cache is False
    model = bundle.model.train()
    ids = torch.tensor([[5, 6, 7, 8]])
    model(input_ids=ids, labels=ids).loss.backward()  # non-reentrant checkpointing: gradients flow
    assert model.model.layers[0].self_attn.q_proj.weight.grad is not None
    bundle.save_pretrained(tmp_path / "final")
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "final").config.use_cache is True
    assert bundle.model.config.use_cache is False  # the training model keeps it off


def test_checkpointing_in_eval_mode_flags_the_layers_only(saved):
    model = load_hf(str(saved["llama"]), gradient_checkpointing=True, dropout=0.1).model.eval()
    with checkpointing_in_eval(model) as n:
        assert n == 2  # both decoder layers checkpoint...
        assert not any(m.training for name, m in model.named_modules() if "self_attn" in name)  # ...no dropout
        ids = torch.tensor([[5, 6, 7, 8]])
        a = model(input_ids=ids).logits
        b = model(input_ids=ids).logits
        assert torch.equal(a, b)
    assert not any(m.training for m in model.modules())


def test_dropout_fields_are_found_by_name_and_set(saved, caplog):
    gpt2 = load_hf(str(saved["gpt2"]), dropout=0.2).model
    assert dropout_fields(gpt2.config) == ["attn_pdrop", "embd_pdrop", "resid_pdrop"]
    assert {m.p for m in gpt2.modules() if isinstance(m, torch.nn.Dropout)} == {0.2}
    assert load_hf(str(saved["llama"]), dropout=0.2).model.config.attention_dropout == 0.2
    assert load_hf(str(saved["llama"])).model.config.attention_dropout == 0.0  # null: the model's own value
    with caplog.at_level(logging.WARNING, logger="rlhfkit.models.hf"):
        load_hf(str(saved["mamba"]), dropout=0.2)
    assert "has no dropout field" in caplog.text
    with pytest.raises(ConfigError, match="model.dropout"):
        load_hf(str(saved["gpt2"]), dropout=1.5)


def test_debug_fast_applies_to_a_model_only_the_keys_its_plugin_takes(saved):
    plugins = get_plugin_manager()
    hf = apply_debug_model_limits(apply_debug_limits(
        _compose(["stage=sft", "model=hf", f"model.path={saved['gpt2']}", "debug=fast"])), plugins)
    assert "size" not in hf.model and "max_positions" not in hf.model
    assert hf.stage.max_epochs == 1 and hf.stage.max_length == 64
    assert isinstance(plugins.build("model", OmegaConf.to_container(hf.model), "model").model, torch.nn.Module)
    tiny = apply_debug_model_limits(_compose(["stage=sft", "model=tiny", "debug=fast"]), plugins)
    assert (tiny.model.size, tiny.model.max_positions) == ("nano", 128)
    plain = apply_debug_model_limits(_compose(["stage=sft", "model=tiny"]), plugins)
    assert (plain.model.size, plain.model.max_positions) == ("micro", 256)
