"""The simulated world (:mod:`rlhfkit.world`, docs/world.md) as plugins: a ``world`` dataset and a
``world_gold`` reward.

``data=world`` makes every stage read the world directly:

=========== =========== ==========================================================================
kind        split       examples
=========== =========== ==========================================================================
sft         train       the training labelers' demonstrations (SFTExample, user and labeler ids)
prompt      train / ppo the PPO prompts; ``rm`` the RM prompts, ``eval`` the held-out users'
                        prompts, ``sft`` the SFT prompts
text        train       the pretraining corpus; ``heldout`` / ``valid`` the held-out corpus
preference  train       K internet samples per RM prompt ranked by one training labeler each
                        (RankingExample with ``labeler_meta={"group": ...}``)
=========== =========== ==========================================================================

PII in prompt text is replaced by ``[EMAIL]`` / ``[PHONE]`` (``scrub_pii=True``, the default), so
the word tokenizer never sees an out-of-vocabulary address; pass ``scrub_pii=False`` to keep it
raw for a hygiene step to find.

``world_gold`` scores completions with the held-out labelers' noise-free utility (the "gold"
reward of Gao et al., RLHF_DETAILS item 31). It is for ablations and tests ONLY: training a
policy on it skips the reward model, and judging with the same labelers the policy was optimised
against is no longer a held-out evaluation. The pipeline never uses it to train anything.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Mapping
from typing import Any

from rlhfkit import hookimpl

SPLITS = {
    "sft": ("train",),
    "prompt": ("train", "ppo", "rm", "eval", "sft"),
    "text": ("train", "heldout", "valid"),
    "preference": ("train",),
}
DEFAULT_K = 4  # internet samples per ranking of the `preference` kind (IG: K = 4..9, item 6)


@functools.lru_cache(maxsize=4)
def _world(seed: int, options_json: str):
    from rlhfkit.world import build_world

    return build_world(seed=seed, **json.loads(options_json))


def get_world(seed: int = 0, world: Mapping[str, Any] | None = None):
    """The :class:`rlhfkit.world.World` of ``seed`` and ``build_world`` options (cached)."""
    options = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in dict(world or {}).items() if v is not None}
    return _world(int(seed), json.dumps(options, sort_keys=True))


def prompt_text(prompt, scrub: bool) -> str:
    return prompt.scrubbed_text if scrub else prompt.text


def world_examples(kind: str, split: str = "train", seed: int = 0, world: Mapping[str, Any] | None = None,
                   scrub_pii: bool = True, limit: int | None = None, k: int = DEFAULT_K) -> list:
    """Examples of ``kind`` from the world of ``seed`` (see the module doc for kinds and splits).

    Args:
        kind: "sft", "prompt", "text" or "preference".
        split: see :data:`SPLITS`.
        seed: the world's seed.
        world: keyword arguments of :func:`rlhfkit.world.build_world` (sizes, rates).
        scrub_pii: replace raw e-mails and phones in prompts by [EMAIL] / [PHONE].
        limit: at most this many examples.
        k: completions per ranking for kind "preference".
    """
    from rlhfkit.data import PromptExample, RankingExample, SFTExample, TextExample
    from rlhfkit.world import rank_samples, sample_completion_like_internet

    if kind not in SPLITS:
        raise ValueError(f"world dataset: unknown kind '{kind}'; known: {', '.join(SPLITS)}")
    if split not in SPLITS[kind]:
        raise ValueError(f"world dataset: kind '{kind}' has no split '{split}'; known: {', '.join(SPLITS[kind])}")
    w = get_world(seed, world)
    origin = f"world(seed={seed})/{kind}/{split}"
    if kind == "sft":
        out = [SFTExample(prompt_text(d.prompt, scrub_pii), d.completion, f"{origin}:{i}", d.user_id)
               for i, d in enumerate(w.sft)]
    elif kind == "prompt":
        prompts = {"train": w.ppo_prompts, "ppo": w.ppo_prompts, "rm": w.rm_prompts, "eval": w.eval_prompts,
                   "sft": [d.prompt for d in w.sft]}[split]
        out = [PromptExample(prompt_text(p, scrub_pii), f"{origin}:{i}", p.user_id) for i, p in enumerate(prompts)]
    elif kind == "text":
        texts = w.corpus_train if split == "train" else w.corpus_heldout
        out = [TextExample(t, f"{origin}:{i}") for i, t in enumerate(texts)]
    else:
        if k < 2:
            raise ValueError(f"world dataset: k must be >= 2, got {k}")
        rng = random.Random(seed * 7919 + k)
        samples = [[sample_completion_like_internet(p, rng) for _ in range(k)] for p in w.rm_prompts]
        records = rank_samples(w.labelers, w.rm_prompts, samples, rng)
        out = [RankingExample(prompt_text(p, scrub_pii), r["completions"], r["ranking"], f"{origin}:{i}",
                              labeler_id=r["labeler_id"], labeler_meta=dict(r["labeler"]), user_id=r["user_id"])
               for i, (p, r) in enumerate(zip(w.rm_prompts, records))]
    return out[:limit] if limit is not None else out


class WorldGoldReward:
    """Reward = the held-out labelers' mean noise-free utility (ablations/tests only; module doc).

    Prompts are parsed back with :func:`rlhfkit.world.parse_prompt` (raw or scrubbed text).
    """

    def __init__(self, seed: int = 0, world: Mapping[str, Any] | None = None) -> None:
        self.judges = get_world(seed, world).labelers.heldout

    def __call__(self, prompts: list[str], completions: list[str]):
        import torch

        from rlhfkit.world import gold_rewards, parse_prompt

        parsed = [parse_prompt(p) for p in prompts]
        return torch.tensor(gold_rewards(self.judges, parsed, list(completions)), dtype=torch.float32)


@hookimpl
def rlhfkit_datasets():
    return {"world": world_examples}


@hookimpl
def rlhfkit_reward_functions():
    return {"world_gold": WorldGoldReward}
