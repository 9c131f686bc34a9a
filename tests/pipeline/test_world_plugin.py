"""The `world` dataset and `world_gold` reward plugins, and tiny models on the world's words."""

from __future__ import annotations

import pytest

from rlhfkit.data import PromptExample, RankingExample, SFTExample, TextExample
from rlhfkit.plugins import PluginManager

SMALL = {"n_sft": 20, "n_rm": 10, "n_ppo": 12, "n_eval": 8, "n_pretrain_docs": 30, "n_heldout_docs": 5,
         "pii_rate": 0.5}


@pytest.fixture(scope="module")
def plugins():
    return PluginManager()


def build(plugins, kind, **spec):
    return plugins.build("dataset", {"name": "world", "seed": 3, "world": SMALL, **spec}, "data.x", kind=kind)


def test_every_kind_and_split(plugins):
    sft = build(plugins, "sft")
    assert len(sft) == 20 and isinstance(sft[0], SFTExample) and sft[0].user_id
    assert len(build(plugins, "prompt", split="ppo")) == 12 and len(build(plugins, "prompt", split="rm")) == 10
    evals = build(plugins, "prompt", split="eval")
    assert len(evals) == 8 and isinstance(evals[0], PromptExample)
    assert len(build(plugins, "text")) == 30 and isinstance(build(plugins, "text", split="heldout")[0], TextExample)
    ranks = build(plugins, "preference", k=3)
    assert len(ranks) == 10 and isinstance(ranks[0], RankingExample) and ranks[0].k == 3
    assert ranks[0].labeler_meta["group"] in ("a", "b", "c") and ranks[0].labeler_id.startswith("L")
    assert len(build(plugins, "sft", limit=5)) == 5


def test_pii_is_scrubbed_by_default(plugins):
    texts = [e.prompt for e in build(plugins, "prompt", split="ppo")]
    assert any("[EMAIL]" in t or "[PHONE]" in t for t in texts)
    assert not any("@" in t for t in texts)
    raw = [e.prompt for e in build(plugins, "prompt", split="ppo", scrub_pii=False)]
    assert any("@mail.com" in t or "555-" in t for t in raw)


def test_unknown_kind_or_split_is_refused(plugins):
    with pytest.raises(ValueError, match="no split 'nope'"):
        build(plugins, "sft", split="nope")
    with pytest.raises(ValueError, match="unknown kind"):
        build(plugins, "video")


def test_world_gold_reward_scores_by_hand(plugins):
    reward = plugins.build("reward", {"name": "world_gold", "seed": 3, "world": SMALL}, "reward")
    prompt = "context : the cup is red . question : what color is the hat ? answer :"
    scores = reward([prompt, prompt], ["not stated", "blue"])
    assert scores.shape == (2,) and float(scores[0]) > float(scores[1])  # honest beats a fabrication


def test_tiny_model_on_the_world_vocabulary():
    from rlhfkit.models import build_tiny
    from rlhfkit.world import vocabulary

    bundle = build_tiny("nano", tokenizer="words", words="rlhfkit.world:vocabulary", max_positions=64)
    assert len(bundle.tokenizer) == len(vocabulary()) + 3  # <pad>, <eos>, <unk>
    text = "sort : d b a c => a b c d"
    ids = bundle.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert bundle.tokenizer.unk_token_id not in ids and bundle.tokenizer.decode(ids) == text
    with pytest.raises(Exception, match="module:function"):
        build_tiny("nano", tokenizer="words", words="no_colon_here")
