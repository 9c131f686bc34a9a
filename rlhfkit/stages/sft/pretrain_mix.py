"""Pretraining texts mixed into SFT (IG: the SFT model that starts RL saw 10% pretraining data,
RLHF_DETAILS item 3): ``stage.pretrain_mix`` of the training examples are texts of
``data.pretrain.train``, trained on whole (an empty prompt, as ``stage=pretrain`` trains them)."""

from __future__ import annotations

import random

from omegaconf import DictConfig, OmegaConf

from rlhfkit.data import SFTExample
from rlhfkit.errors import ConfigError
from rlhfkit.plugins import PluginManager
from rlhfkit.plugins.config_specs import select
from rlhfkit.stages.data_sources import load_split
from rlhfkit.stages.pretrain.batching import as_lm_examples

KEY = "data.pretrain.train"


def mix_count(share: float, n_demonstrations: int) -> int:
    """Texts to add so that they are ``share`` of the mixed set: n / (n + m) = share."""
    return round(share / (1 - share) * n_demonstrations)


def check_source(cfg: DictConfig, share: float) -> None:
    """A mix needs a text source at ``data.pretrain.train``: refused before anything loads."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or share <= 0:
        return  # off, or a bad value the stage's option check reports
    source = select(cfg, KEY)
    if source is None or OmegaConf.is_missing(source, "path"):
        raise ConfigError(f"config key 'stage.pretrain_mix' is {share:g}: it needs pretraining texts at '{KEY}' "
                          f"(e.g. data.pretrain.train.path=texts.jsonl with {{\"text\": ...}} records), or set it to 0")


def pretrain_mix(cfg: DictConfig, plugins: PluginManager, share: float, n_demonstrations: int, seed: int,
                 counts: dict[str, float]) -> list[SFTExample]:
    """``mix_count(share, n)`` texts of ``data.pretrain.train`` drawn without replacement (seeded) as
    empty-prompt SFT examples; ``counts`` gets ``data/sft/pretrain_mix_texts``."""
    if share <= 0:
        return []
    check_source(cfg, share)
    texts = load_split(cfg, plugins, KEY, "text", counts)
    wanted = mix_count(share, n_demonstrations)
    if wanted > len(texts):
        raise ConfigError(f"config key 'stage.pretrain_mix' is {share:g}: {wanted} pretraining texts are needed for "
                          f"{n_demonstrations} demonstrations, '{KEY}' has {len(texts)}")
    chosen = random.Random(seed).sample(range(len(texts)), wanted)
    counts["data/sft/pretrain_mix_texts"] = float(wanted)
    return as_lm_examples([texts[i] for i in sorted(chosen)])
