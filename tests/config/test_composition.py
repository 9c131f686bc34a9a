"""Every option of every config group composes with the root config (and its targets import)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rlhfkit.config_dir import config_dir

CONF = config_dir()
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra")
OPTIONS = [(g, f.stem) for g in GROUPS for f in sorted((CONF / g).glob("*.yaml"))]


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=False)


def _targets(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        found += [node["_target_"]] if "_target_" in node else []
        for value in node.values():
            found += _targets(value)
    elif isinstance(node, list):
        for value in node:
            found += _targets(value)
    return found


def test_every_group_has_options():
    expected = {"stage", "model", "data", "reward", "kl", "optim", "advantage", "trainer", "logger",
                "callbacks", "experiment", "hparams_search", "paths", "debug"}
    assert expected <= set(GROUPS)
    for group in expected - {"experiment"}:
        assert list((CONF / group).glob("*.yaml")), f"conf/{group} is empty"


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes(group, option):
    if group == "hparams_search":
        pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the `sweep` extra is not installed")
    prefix = ""
    cfg = _compose([f"{prefix}{group}={option}"])
    container = OmegaConf.to_container(cfg, resolve=False)
    for target in _targets(container):
        module, _, attr = target.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), f"{group}={option}: {target} does not import"
    if group in ("stage", "model", "reward", "kl", "optim", "advantage"):
        assert "name" in container[group], f"{group}={option} names no registry key"


@pytest.mark.parametrize("group", ["model", "reward", "kl", "optim", "advantage"])
def test_group_names_are_registered(group):
    from rlhfkit.plugins import get_plugin_manager

    kind = {"model": "model", "reward": "reward", "kl": "kl_controller", "optim": "optimizer", "advantage": "advantage"}[group]
    known = get_plugin_manager().registry(kind)
    for path in (CONF / group).glob("*.yaml"):
        node = _compose([f"{group}={path.stem}"])[group]  # composed, so a defaults list is followed
        if OmegaConf.is_missing(node, "name"):
            continue  # reward=custom: the user names any installed plugin
        name = node.get("name")
        assert name in known, f"conf/{group}/{path.name} names '{name}', not a registered {kind}"


def test_every_default_is_documented():
    """Each stage/kl/advantage/optim file cites where its values come from (RLHF_DETAILS item or paper)."""
    for group in ("stage", "kl", "advantage", "optim"):
        for path in (CONF / group).glob("*.yaml"):
            text = path.read_text()
            assert "item" in text or "arXiv" in text, f"conf/{group}/{path.name} cites no source (RLHF_DETAILS item or paper)"
