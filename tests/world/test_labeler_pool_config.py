"""The labeler pool as configuration (``world.labelers``), whose labelers rank (``rankings.groups``),
and the "whose preferences?" figures every group gives as a judge."""

from __future__ import annotations

import math
import random

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rlhfkit.config_dir import config_dir
from rlhfkit.errors import ConfigError
from rlhfkit.evaluate.report import markdown
from rlhfkit.evaluate.whose import whose_preferences
from rlhfkit.pipeline.world_data import ranking_labelers
from rlhfkit.world import Labeler, LabelerPool, build_world, sample_prompts
from rlhfkit.world.labeler_config import as_config, pool_groups
from rlhfkit.world.labelers import default_heldout_groups, default_train_groups

SMALL_WORLD = dict(n_sft=20, n_rm=5, n_ppo=5, n_eval=5, n_pretrain_docs=10, n_heldout_docs=5)


def pipeline_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="pipeline", overrides=list(overrides))


def _pool_rows(pool: LabelerPool):
    return [(l.id, l.group, dict(l.weights), l.noise, l.style, l.slip) for l in pool.train + pool.heldout]


def test_the_default_groups_deal_40_and_10_labelers_round_robin():
    assert [(g.name, g.size) for g in default_train_groups()] == [("a", 14), ("b", 13), ("c", 13)]
    assert [(g.name, g.size) for g in default_heldout_groups()] == [("d", 5), ("e", 5)]
    pool = LabelerPool.sample(seed=0)
    assert [l.group for l in pool.train[:4]] == ["a", "b", "c", "a"] and pool.train[39].group == "a"
    assert [l.id for l in pool.heldout[:2]] == ["H00", "H01"] and pool.groups("all") == ["a", "b", "c", "d", "e"]


def test_the_pipeline_yaml_pool_is_the_default_pool():
    cfg = pipeline_cfg()
    spec = OmegaConf.to_container(cfg.world.labelers)
    assert pool_groups(spec) == (default_train_groups(), default_heldout_groups())  # the scatter keys left out: defaults
    assert pool_groups({"train": as_config(default_train_groups())}) == pool_groups(None)  # written back, read again
    from_yaml = build_world(seed=3, labelers=spec, **SMALL_WORLD).labelers
    assert _pool_rows(from_yaml) == _pool_rows(build_world(seed=3, **SMALL_WORLD).labelers)


def test_a_pool_of_the_users_choice():
    spec = {"train": {"verbose": {"size": 3, "helpful": 1.0, "honest": 0.5, "harmless": 0.5, "length": 2.0,
                                  "noise": 0.1, "weight_sd": 0.0, "length_sd": 0.0, "noise_sd": 0.0}},
            "heldout": {"terse": {"size": 2, "helpful": 1.0, "honest": 1.0, "harmless": 1.0, "length": -1.0,
                                  "noise": 0.2, "weight_sd": 0.0, "length_sd": 0.0, "noise_sd": 0.0}}}
    world = build_world(seed=0, labelers=spec, **SMALL_WORLD)
    pool = world.labelers
    assert [l.id for l in pool.train] == ["L00", "L01", "L02"] and [l.id for l in pool.heldout] == ["H00", "H01"]
    # no scatter: every labeler has its group's means and noise exactly
    assert all(dict(l.weights) == {"helpful": 1.0, "honest": 0.5, "harmless": 0.5, "length": 2.0} and l.noise == 0.1
               for l in pool.train)
    assert all(l.weights["length"] == -1.0 and l.noise == 0.2 for l in pool.heldout)
    assert {d.labeler_id for d in world.sft} <= {"L00", "L01", "L02"}  # only training labelers demonstrate


def test_a_group_that_never_slips_writes_only_good_demonstrations():
    from rlhfkit.world import features

    careful = {"size": 4, "helpful": 1.0, "honest": 1.0, "harmless": 1.0, "length": 0.0, "noise": 0.3, "slip": 0.0}
    world = build_world(seed=1, labelers={"train": {"a": careful}}, **(SMALL_WORLD | {"n_sft": 200}))
    assert all(l.slip == 0.0 for l in world.labelers.train)
    assert all(features(d.prompt, d.completion).helpful == 1.0 for d in world.sft)
    sloppy = build_world(seed=1, labelers={"train": {"a": careful | {"slip": 0.5, "slip_sd": 0.0}}},
                         **(SMALL_WORLD | {"n_sft": 200}))
    flawed = sum(features(d.prompt, d.completion).helpful < 1.0 for d in sloppy.sft) / len(sloppy.sft)
    assert 0.4 < flawed < 0.6


@pytest.mark.parametrize(("spec", "key"), [
    ({"train": {"a": {"size": 0, "helpful": 1, "honest": 1, "harmless": 1, "length": 0, "noise": 0.3}}},
     "world.labelers.train.a.size"),
    ({"train": {"a": {"size": 2, "helpful": 1, "honest": 1, "harmless": 1, "length": 0, "noise": 0}}},
     "world.labelers.train.a.noise"),
    ({"train": {"a": {"size": 2, "helpful": -1, "honest": 1, "harmless": 1, "length": 0, "noise": 0.3}}},
     "world.labelers.train.a.helpful"),
    ({"train": {"a": {"size": 2, "helpful": 1, "honest": 1, "harmless": 1, "noise": 0.3}}},
     "world.labelers.train.a.length"),
    ({"train": {"a": {"size": 2, "helpful": 1, "honest": 1, "harmless": 1, "length": 0, "noise": 0.3, "mood": 1}}},
     "world.labelers.train.a.mood"),
    ({"train": {"a": {"size": 2, "helpful": "x", "honest": 1, "harmless": 1, "length": 0, "noise": 0.3}}},
     "world.labelers.train.a.helpful"),
    ({"train": {"a": {"size": 2, "helpful": 1, "honest": 1, "harmless": 1, "length": 0, "noise": 0.3, "slip": 1.5}}},
     "world.labelers.train.a.slip"),
    ({"train": {"a": {"size": 2, "helpful": 1, "honest": 1, "harmless": 1, "length": 0, "noise": 0.3, "slip_sd": -1}}},
     "world.labelers.train.a.slip_sd"),
    ({"judges": {}}, "world.labelers.judges"),
    ({"heldout": {"a": {"size": 2, "helpful": 1, "honest": 1, "harmless": 1, "length": 0, "noise": 0.3}}},
     "world.labelers"),  # "a" is already a (default) training group
    ({"heldout": {"z": {"size": 1, "helpful": 1, "honest": 1, "harmless": 1, "length": 0, "noise": 0.3}}},
     "world.labelers"),  # one held-out labeler cannot agree with anyone
])
def test_bad_pools_name_the_key(spec, key):
    with pytest.raises(ConfigError, match=rf"config key '{key}'"):
        pool_groups(spec)


def test_rankings_groups_pick_the_rankers_and_unknown_groups_are_named():
    world = build_world(seed=0, **SMALL_WORLD)
    assert ranking_labelers(world, None) == world.labelers.train
    only_b = ranking_labelers(world, ["b"])
    assert len(only_b) == 13 and {l.group for l in only_b} == {"b"}
    with pytest.raises(ConfigError, match=r"rankings.groups.*'d' is not a training labeler group; training groups: a, b, c"):
        ranking_labelers(world, ["d"])


def test_experiment_whose_trains_the_rm_on_one_group():
    cfg = pipeline_cfg("pipeline/experiment=whose")
    assert cfg.experiment_name == "whose" and list(cfg.rankings.groups) == ["b"]
    assert pipeline_cfg().rankings.groups is None


def test_every_group_judges_and_the_gap_is_between_the_extremes():
    prompt = sample_prompts(1, seed=0)[0]
    likes_length = {"helpful": 0.0, "honest": 0.0, "harmless": 0.0, "length": 1.0}
    hates_length = {**likes_length, "length": -1.0}
    pool = LabelerPool(train=[Labeler("L0", "long", likes_length, 0.0), Labeler("L1", "long", likes_length, 0.0)],
                       heldout=[Labeler("H0", "short", hates_length, 0.0), Labeler("H1", "short", hates_length, 0.0)])
    prompts = [prompt] * 4
    completions = {"ppo_small": ["a b c d e f"] * 4, "sft_small": ["a"] * 4, "base_small": ["a b c d e f"] * 4}
    out = whose_preferences(pool, prompts, completions, ["long"], {"long": 0.9, "short": 0.2}, seed=0)
    long, short = out["groups"]["long"], out["groups"]["short"]
    assert (long["pool"], long["ranked"], long["labelers"]) == ("train", True, 2)
    assert (short["pool"], short["ranked"]) == ("heldout", False)
    assert long["ppo_vs_sft"] == 1.0 and short["ppo_vs_sft"] == 0.0  # noise-free: length decides
    assert long["ppo_vs_base"] == short["ppo_vs_base"] == 0.5  # identical texts tie
    assert out["gap"] == pytest.approx({"ppo_vs_sft": 1.0, "ppo_vs_base": 0.0, "rm_accuracy": 0.7})
    text = markdown({"whose_preferences": out, "targets": {}})
    assert "the RM learned the rankings of: long" in text
    assert "| long | train | yes | 2 | 1.000 | 0.500 | 0.900 |" in text
    assert "| gap (most - least pleased) | | | | 1.000 | 0.000 | 0.700 |" in text


def test_the_world_judges_random_texts_the_same_way_given_the_seed():
    world = build_world(seed=1, **SMALL_WORLD)
    prompts = list(world.eval_prompts)
    rng = random.Random(0)
    words = "the a cat is kind not stated".split()
    completions = {m: [" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) for _ in prompts]
                   for m in ("ppo_small", "sft_small", "base_small")}
    first = whose_preferences(world.labelers, prompts, completions, [], None, seed=7)
    assert first == whose_preferences(world.labelers, prompts, completions, [], None, seed=7)
    assert set(first["groups"]) == {"a", "b", "c", "d", "e"}
    assert all(0.0 <= g["ppo_vs_sft"] <= 1.0 for g in first["groups"].values())
    assert not math.isnan(first["gap"]["ppo_vs_sft"]) and "rm_accuracy" not in first["gap"]
