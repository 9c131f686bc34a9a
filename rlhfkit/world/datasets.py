"""Assemble a whole world from one seed, and write it in the JSONL formats rlhfkit reads.

Formats (one JSON object per line):

* SFT: ``{"prompt", "completion", "user_id", "labeler_id"}``
* rankings: ``{"prompt", "completions": [...], "ranking": [...], "labeler_id",
  "labeler": {"group"}, "user_id"}``; ``ranking[i]`` is the dense rank of ``completions[i]``
  (0 = best; equal ranks only for identical texts)
* prompts: ``{"prompt", "user_id", "family"}``
* pretraining: ``{"text"}``

Prompt text is written raw (PII prefixes and duplicates included): scrubbing and de-duplication
are the pipeline's hygiene step. :func:`rlhfkit.world.tasks.parse_prompt` turns a prompt text
read back from JSONL into a judgeable :class:`Prompt`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhfkit.world.corpus import heldout_pretraining_corpus, pretraining_corpus
from rlhfkit.world.labeler_config import pool_groups
from rlhfkit.world.labelers import Labeler, LabelerPool
from rlhfkit.world.tasks import Prompt, sample_prompts, user_ids


@dataclass(frozen=True)
class Demonstration:
    prompt: Prompt
    completion: str
    labeler_id: str

    @property
    def user_id(self) -> str:
        return self.prompt.user_id


@dataclass
class World:
    """Everything the pipeline needs; eval prompts come from users disjoint from training."""

    seed: int
    sft: list[Demonstration]
    rm_prompts: list[Prompt]
    ppo_prompts: list[Prompt]
    eval_prompts: list[Prompt]
    labelers: LabelerPool
    corpus_train: list[str]
    corpus_heldout: list[str]
    train_users: list[str]
    eval_users: list[str]


def build_world(seed: int = 0, n_sft: int = 2000, n_rm: int = 2000, n_ppo: int = 2000,
                n_eval: int = 500, n_pretrain_docs: int = 20000, n_heldout_docs: int = 2000,
                n_users: int = 200, eval_user_frac: float = 0.2, n_train_labelers: int = 40,
                n_heldout_labelers: int = 10, pii_rate: float = 0.05, dup_rate: float = 0.05,
                family_weights: Mapping[str, float] | None = None,
                labelers: Mapping[str, Any] | None = None) -> World:
    """Build a world deterministically from ``seed``.

    Users are split once: ``eval_user_frac`` of them only ever write eval prompts. SFT, RM and
    PPO prompts (in that order, one stream cut in three) come from the rest and carry PII
    prefixes (``pii_rate``) and duplicates (``dup_rate``); eval prompts carry neither. Each SFT
    prompt gets a demonstration from a training labeler drawn uniformly. ``labelers``: the pool's
    groups (``world.labelers``, :func:`rlhfkit.world.labeler_config.pool_groups`); None = the default
    pool of ``n_train_labelers`` and ``n_heldout_labelers``. ``family_weights``: the prompts' task
    families (``world.family_weights``); None = :data:`rlhfkit.world.tasks.DEFAULT_FAMILY_WEIGHTS`.
    """
    train_groups, heldout_groups = pool_groups(labelers, n_train_labelers, n_heldout_labelers)
    rng = random.Random(seed)
    seeds = [rng.randrange(2**31) for _ in range(6)]
    users = user_ids(n_users)
    random.Random(seeds[0]).shuffle(users)
    n_eval_users = max(1, round(eval_user_frac * n_users))
    if n_eval_users >= n_users:
        raise ValueError("eval_user_frac leaves no training users")
    eval_users, train_users = sorted(users[:n_eval_users]), sorted(users[n_eval_users:])
    train = sample_prompts(n_sft + n_rm + n_ppo, seeds[1], family_weights, train_users,
                           pii_rate=pii_rate, dup_rate=dup_rate)
    eval_prompts = sample_prompts(n_eval, seeds[2], family_weights, eval_users)
    pool = LabelerPool.sample(seed=seeds[3], train_groups=train_groups, heldout_groups=heldout_groups)
    demo_rng = random.Random(seeds[4])
    sft = []
    for prompt in train[:n_sft]:
        labeler = demo_rng.choice(pool.train)
        sft.append(Demonstration(prompt, labeler.demonstrate(prompt, demo_rng), labeler.id))
    return World(seed=seed, sft=sft, rm_prompts=train[n_sft:n_sft + n_rm],
                 ppo_prompts=train[n_sft + n_rm:], eval_prompts=eval_prompts, labelers=pool,
                 corpus_train=pretraining_corpus(n_pretrain_docs, seeds[5]),
                 corpus_heldout=heldout_pretraining_corpus(n_heldout_docs, seeds[5]),
                 train_users=train_users, eval_users=eval_users)


def rank_samples(pool: LabelerPool | Sequence[Labeler], prompts: Sequence[Prompt],
                 samples_per_prompt: Sequence[Sequence[str]], rng: random.Random) -> list[dict]:
    """Ranking records for model samples: each prompt's K samples are ranked by one labeler
    drawn uniformly from ``pool`` (a LabelerPool means its training labelers)."""
    labelers = pool.train if isinstance(pool, LabelerPool) else list(pool)
    if not labelers:
        raise ValueError("empty labeler pool")
    records = []
    for prompt, samples in zip(prompts, samples_per_prompt, strict=True):
        if len(samples) < 2:
            raise ValueError(f"need at least 2 samples to rank, got {len(samples)}")
        labeler = rng.choice(labelers)
        records.append({"prompt": prompt.text, "completions": list(samples),
                        "ranking": labeler.rank(prompt, samples, rng), "labeler_id": labeler.id,
                        "labeler": {"group": labeler.group}, "user_id": prompt.user_id})
    return records


def sft_record(demo: Demonstration) -> dict:
    return {"prompt": demo.prompt.text, "completion": demo.completion,
            "user_id": demo.user_id, "labeler_id": demo.labeler_id}


def prompt_record(prompt: Prompt) -> dict:
    return {"prompt": prompt.text, "user_id": prompt.user_id, "family": prompt.family}


def pretraining_record(text: str) -> dict:
    return {"text": text}


def labeler_record(labeler: Labeler, split: str) -> dict:
    return {"id": labeler.id, "group": labeler.group, "split": split,
            "weights": dict(labeler.weights), "noise": labeler.noise, "style": labeler.style,
            "slip": labeler.slip}


def write_jsonl(path: str | Path, records: Iterable[Mapping]) -> Path:
    """Write one JSON object per line (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    return path


def read_jsonl(path: str | Path) -> list[dict]:
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_world(world: World, out_dir: str | Path) -> dict[str, Path]:
    """Write sft, rm/ppo/eval prompts, pretraining train/heldout and labelers as JSONL."""
    out = Path(out_dir)
    labelers = [labeler_record(l, "train") for l in world.labelers.train]
    labelers += [labeler_record(l, "heldout") for l in world.labelers.heldout]
    return {
        "sft": write_jsonl(out / "sft.jsonl", map(sft_record, world.sft)),
        "rm_prompts": write_jsonl(out / "rm_prompts.jsonl", map(prompt_record, world.rm_prompts)),
        "ppo_prompts": write_jsonl(out / "ppo_prompts.jsonl",
                                   map(prompt_record, world.ppo_prompts)),
        "eval_prompts": write_jsonl(out / "eval_prompts.jsonl",
                                    map(prompt_record, world.eval_prompts)),
        "pretrain": write_jsonl(out / "pretrain.jsonl",
                                map(pretraining_record, world.corpus_train)),
        "pretrain_heldout": write_jsonl(out / "pretrain_heldout.jsonl",
                                        map(pretraining_record, world.corpus_heldout)),
        "labelers": write_jsonl(out / "labelers.jsonl", labelers),
    }
