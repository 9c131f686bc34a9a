"""Composition of the pipeline's stage configs: wiring, override order, quoting, the DAG."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rlhfkit.config_dir import config_dir
from rlhfkit.pipeline.compose import compose_stage, quote
from rlhfkit.pipeline.executor import NodeResult, PipelineRunner
from rlhfkit.pipeline.cache import StageCache
from rlhfkit.pipeline.recipes import build_nodes


@pytest.fixture
def hydra_app():
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        yield


def pipeline_cfg(*overrides: str):
    cfg = compose(config_name="pipeline", overrides=["pipeline/experiment=debug", *overrides])
    OmegaConf.set_struct(cfg, False)
    return cfg


def test_quote_follows_hydra_grammar():
    assert quote("/a b/c=d,e") == "'/a b/c=d,e'" and quote("it's") == "'it\\'s'"
    assert quote(3) == "3" and quote(True) == "true" and quote(None) == "null"


def test_the_dag_and_its_order(hydra_app):
    names = [n.name for n in build_nodes(pipeline_cfg())]
    assert names == ["world", "pretrain_small", "pretrain_large", "sft_small", "sft_large", "rankings", "rm", "ppo",
                     "ptx", "overopt", "evaluate"]
    names = [n.name for n in build_nodes(pipeline_cfg("stages.ptx.enabled=false"))]
    assert "ptx" not in names and "evaluate" in names
    rm = next(n for n in build_nodes(pipeline_cfg()) if n.name == "rm")
    assert rm.inputs == ("rankings", "sft_small")  # the default: the RM has the small policy's size
    rm = next(n for n in build_nodes(pipeline_cfg("rm_from=sft_large")) if n.name == "rm")
    assert rm.inputs == ("rankings", "sft_large")
    overopt = next(n for n in build_nodes(pipeline_cfg()) if n.name == "overopt")
    assert overopt.inputs == ("world", "sft_small", "rm")


def test_the_world_version_is_in_the_world_stages_key(hydra_app, tmp_path, monkeypatch):
    """A world whose code changed what it generates (WORLD_VERSION bumped) must not be taken
    from a cache built on the old one; every stage downstream follows through its inputs' keys."""
    from rlhfkit.pipeline import world_recipe
    from rlhfkit.pipeline.stage_graph import Context

    def world_key():
        world = next(n for n in build_nodes(pipeline_cfg()) if n.name == "world")
        settings = world.settings(Context(pipeline_cfg(), {}, tmp_path))
        return StageCache(tmp_path / "cache", tmp_path).key({"step": "world", "settings": settings}, {})

    before = world_key()
    monkeypatch.setattr(world_recipe, "WORLD_VERSION", world_recipe.WORLD_VERSION + 1)
    assert world_key() != before


def runner(cfg, tmp_path: Path) -> PipelineRunner:
    nodes = build_nodes(cfg)
    r = PipelineRunner(cfg, nodes, StageCache(tmp_path / "cache"), tmp_path, echo=lambda line: None)
    for name in ("world", "pretrain_small", "pretrain_large", "sft_small", "sft_large", "rankings", "rm"):
        r.results[name] = NodeResult(name, f"k{name}", tmp_path / name, True, 1.0)
    return r


def test_wiring_connects_a_stage_to_its_inputs(hydra_app, tmp_path):
    r = runner(pipeline_cfg(), tmp_path)
    nodes = {n.name: n for n in r.nodes}
    job, cfg = r._prepare(nodes["sft_small"], 4)
    assert cfg.stage.name == "sft" and cfg.model.name == "hf"
    assert cfg.model.path == str(tmp_path / "pretrain_small" / "final")
    assert cfg.data.sft.train.path == str(tmp_path / "world" / "sft.jsonl")
    job, cfg = r._prepare(nodes["ptx"], 9)
    assert cfg.stage.ptx_coef == 1.0 and cfg.reward.path == str(tmp_path / "rm" / "final")
    assert cfg.data.pretrain.train.path == str(tmp_path / "world" / "pretrain.jsonl")
    assert cfg.callbacks.policy_snapshots.every == 1  # eval.snapshot_every of the debug recipe


def test_user_overrides_beat_the_wiring_and_change_the_key(hydra_app, tmp_path):
    base = runner(pipeline_cfg(), tmp_path)
    node = next(n for n in base.nodes if n.name == "rm")
    job0, _ = base._prepare(node, 7)
    mine = runner(pipeline_cfg('stages.rm.overrides=["model.path=/my/model","stage.margin=0.5"]'), tmp_path)
    job1, cfg = mine._prepare(node, 7)
    assert cfg.model.path == "/my/model" and cfg.stage.margin == 0.5
    assert job1.key != job0.key
    setter = runner(pipeline_cfg("+stages.rm.set.stage.margin=0.25"), tmp_path)
    job2, cfg = setter._prepare(node, 7)
    assert cfg.stage.margin == 0.25 and job2.key not in (job0.key, job1.key)


def test_compose_stage_sets_the_output_dir_loggers_interpolate(hydra_app, tmp_path):
    cfg = compose_stage(["stage=sft", "logger=wandb"], {"stage": {"max_epochs": 3}}, tmp_path, run_name="sft_small")
    assert cfg.paths.output_dir == str(tmp_path) and cfg.logger.wandb.save_dir == str(tmp_path)
    assert cfg.logger.wandb.name == "sft_small" and cfg.stage.max_epochs == 3
