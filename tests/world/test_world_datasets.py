"""build_world, user splits, JSONL formats, ranking records."""

import random

import pytest

from rlhfkit.world.datasets import build_world, rank_samples, read_jsonl, write_world
from rlhfkit.world.labelers import LabelerPool
from rlhfkit.world.tasks import parse_prompt

SMALL = dict(n_sft=120, n_rm=80, n_ppo=80, n_eval=60, n_pretrain_docs=100, n_heldout_docs=50,
             n_users=50)


@pytest.fixture(scope="module")
def world():
    return build_world(seed=3, **SMALL)


def test_build_world_is_deterministic(world):
    again = build_world(seed=3, **SMALL)
    assert [(d.prompt, d.completion, d.labeler_id) for d in world.sft] == \
        [(d.prompt, d.completion, d.labeler_id) for d in again.sft]
    assert (world.rm_prompts, world.ppo_prompts, world.eval_prompts) == \
        (again.rm_prompts, again.ppo_prompts, again.eval_prompts)
    assert world.corpus_train == again.corpus_train
    other = build_world(seed=4, **SMALL)
    assert other.rm_prompts != world.rm_prompts


def test_sizes(world):
    assert (len(world.sft), len(world.rm_prompts), len(world.ppo_prompts),
            len(world.eval_prompts)) == (120, 80, 80, 60)
    assert (len(world.corpus_train), len(world.corpus_heldout)) == (100, 50)
    assert world.corpus_train != world.corpus_heldout


def test_eval_users_are_disjoint_from_training_users(world):
    assert world.eval_users and world.train_users
    assert not set(world.eval_users) & set(world.train_users)
    train_prompts = [d.prompt for d in world.sft] + world.rm_prompts + world.ppo_prompts
    assert {p.user_id for p in train_prompts} <= set(world.train_users)
    assert {p.user_id for p in world.eval_prompts} <= set(world.eval_users)
    assert all(p.pii is None for p in world.eval_prompts)


def test_demonstrations_come_from_training_labelers(world):
    train_ids = {l.id for l in world.labelers.train}
    assert {d.labeler_id for d in world.sft} <= train_ids


def test_write_world_formats(world, tmp_path):
    paths = write_world(world, tmp_path)
    sft = read_jsonl(paths["sft"])
    assert len(sft) == 120
    assert set(sft[0]) == {"prompt", "completion", "user_id", "labeler_id"}
    for name in ("rm_prompts", "ppo_prompts", "eval_prompts"):
        rows = read_jsonl(paths[name])
        assert set(rows[0]) == {"prompt", "user_id", "family"}
        assert all(parse_prompt(r["prompt"], r["user_id"]).family == r["family"] for r in rows)
    assert set(read_jsonl(paths["pretrain"])[0]) == {"text"}
    assert len(read_jsonl(paths["pretrain_heldout"])) == 50
    assert len(read_jsonl(paths["labelers"])) == 50


def test_rank_samples_records(world):
    prompts = world.rm_prompts[:20]
    samples = [["a", "b", "c", "a"] if i % 2 else ["x y", "z", "q r s", "t", "u"]
               for i in range(20)]
    records = rank_samples(world.labelers, prompts, samples, random.Random(0))
    train_ids = {l.id for l in world.labelers.train}
    for rec, p, s in zip(records, prompts, samples):
        assert set(rec) == {"prompt", "completions", "ranking", "labeler_id", "labeler",
                            "user_id"}
        assert rec["prompt"] == p.text and rec["completions"] == s
        assert len(rec["ranking"]) == len(s) and rec["labeler_id"] in train_ids
        assert rec["labeler"]["group"] in {"a", "b", "c"}
        assert sorted(set(rec["ranking"])) == list(range(len(set(s))))
    assert records[1]["ranking"][0] == records[1]["ranking"][3]  # identical texts tie
    with pytest.raises(ValueError):
        rank_samples(LabelerPool.sample(seed=0), prompts[:1], [["only one"]], random.Random(0))


def test_world_does_not_depend_on_the_hash_seed():
    import subprocess
    import sys
    from pathlib import Path

    import rlhfkit.world
    root = str(Path(rlhfkit.world.__file__).resolve().parents[2])
    code = ("from rlhfkit.world import build_world; w = build_world(1, n_sft=50, n_rm=5, n_ppo=5,"
            " n_eval=20, n_pretrain_docs=50, n_heldout_docs=5); "
            "print([d.completion for d in w.sft], [p.text for p in w.eval_prompts], "
            "w.corpus_train, [sorted(l.weights.items()) for l in w.labelers.train])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": seed, "PYTHONPATH": root}).stdout
            for seed in ("0", "1")}
    assert len(outs) == 1
