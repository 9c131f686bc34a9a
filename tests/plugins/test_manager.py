"""Discovery, duplicate names, unknown names, and `rlhfkit plugins`."""

from __future__ import annotations

import types

import pytest
from _helpers import run_cli

from rlhfkit import hookimpl
from rlhfkit.plugins import DuplicatePluginNameError, KINDS, PluginManager, UnknownPluginNameError


def _module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for attr, func in hooks.items():
        setattr(module, attr, func)
    return module


def _reward_plugin(name: str) -> types.ModuleType:
    @hookimpl
    def rlhfkit_reward_functions():
        return {name: lambda **kw: None}

    return _module(f"plugin_{name}", rlhfkit_reward_functions=rlhfkit_reward_functions)


def test_builtins_are_found_through_entry_points():
    from rlhfkit.plugins.manager import installed_entry_points

    values = {ep.value for ep in installed_entry_points()}
    assert {f"rlhfkit_builtins.{m}" for m in ("models", "datasets", "rewards", "kl", "optim", "advantages", "data_filters")} <= values
    manager = PluginManager()
    for kind in KINDS:
        assert manager.registry(kind), f"no built-in {kind}"
        assert all(p.distribution == "rlhfkit" for p in manager.registry(kind).values() if p.plugin.startswith("builtin_"))


def test_duplicate_name_names_both_plugins():
    manager = PluginManager(load_entrypoints=False)
    manager.register(_reward_plugin("same"), name="first_plugin")
    manager.register(_reward_plugin("same"), name="second_plugin")
    with pytest.raises(DuplicatePluginNameError) as err:
        manager.registry("reward")
    assert "first_plugin" in str(err.value) and "second_plugin" in str(err.value) and "'same'" in str(err.value)


def test_unknown_name_lists_known_names_and_config_key():
    manager = PluginManager()
    with pytest.raises(UnknownPluginNameError) as err:
        manager.build("kl_controller", {"name": "adaptiv"}, "kl")
    message = str(err.value)
    assert "config key 'kl.name'" in message and "'adaptiv'" in message and "adaptive, fixed" in message


def test_hook_returning_a_non_dict_is_reported():
    @hookimpl
    def rlhfkit_models():
        return ["tiny"]

    manager = PluginManager(load_entrypoints=False)
    manager.register(_module("broken", rlhfkit_models=rlhfkit_models), name="broken")
    problems = manager.check()
    assert any("broken" in p and "must return a dict" in p for p in problems)


def test_misspelt_hook_is_reported():
    @hookimpl(optionalhook=True)
    def rlhfkit_model():
        return {}

    manager = PluginManager(load_entrypoints=False)
    manager.register(_module("typo", rlhfkit_model=rlhfkit_model), name="typo")
    assert any("'rlhfkit_model' is not an rlhfkit hook" in p for p in manager.check())


def test_cli_plugins_lists_every_kind():
    result = run_cli("plugins")
    assert result.returncode == 0, result.stderr
    for kind in KINDS:
        assert kind in result.stdout
    for name in ("tiny", "hf", "files", "keyword", "reward_model", "adaptive", "adamw", "cosine", "gae", "scrub_pii"):
        assert name in result.stdout
    assert "rlhfkit 0.1.0" in result.stdout
    check = run_cli("plugins", "--check")
    assert check.returncode == 0 and "all plugins pass the checks" in check.stdout


def test_unknown_name_in_config_fails_at_start_up_without_traceback(tmp_path, sft_file):
    result = run_cli("train", "stage=sft", "optim.name=adamww", f"data.sft.train.path={sft_file}",
                     "logger=none", f"paths.runs_dir={tmp_path}")
    assert result.returncode == 2
    assert "config key 'optim.name': unknown optimizer 'adamww'" in result.stderr
    assert "Known optimizer names: adam, adamw, sgd" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


def test_unknown_stage_and_missing_value(tmp_path, sft_file):
    bad_stage = run_cli("train", "stage.name=sftt", "logger=none", f"paths.runs_dir={tmp_path}")
    assert bad_stage.returncode == 2 and "unknown stage 'sftt'" in bad_stage.stderr and "Known stage names: " in bad_stage.stderr
    assert all(name in bad_stage.stderr.split("Known stage names: ")[1] for name in ("ppo", "rm", "sft"))
    missing = run_cli("train", "stage=sft", "logger=none", f"paths.runs_dir={tmp_path}")
    assert missing.returncode == 2 and "data.sft.train.path" in missing.stderr and "Traceback" not in missing.stderr
