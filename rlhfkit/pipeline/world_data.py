"""The pipeline's world data steps: the world as JSONL files, and the RM's rankings.

``write_world_files`` writes what :func:`rlhfkit.world.write_world` writes, with the PII of
prompts scrubbed at the source (``[EMAIL]`` / ``[PHONE]``, both in the word vocabulary) when
``scrub`` is set; the RM stage's own hygiene filters still run on the rankings.

``make_rankings`` is the labeling step of IG (items 6, 25): for every RM prompt, K samples
(K uniform in ``k_min..k_max``) from the SFT model at the sampling temperature; one training
labeler, drawn at random, ranks each set (:func:`rlhfkit.world.rank_samples`; only identical
texts tie). Empty samples (EOS first) are dropped from a set before it is ranked; a set left
with fewer than two samples is dropped (both counted).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlhfkit.errors import ConfigError
from rlhfkit.world import World, parse_prompt, rank_samples, read_jsonl, write_jsonl
from rlhfkit.world.datasets import labeler_record


def _prompt_text(prompt, scrub: bool) -> str:
    return prompt.scrubbed_text if scrub else prompt.text


def write_world_files(world: World, out_dir: Path, scrub: bool = True) -> dict[str, float]:
    out_dir = Path(out_dir)
    write_jsonl(out_dir / "sft.jsonl", ({"prompt": _prompt_text(d.prompt, scrub), "completion": d.completion,
                                         "user_id": d.user_id, "labeler_id": d.labeler_id} for d in world.sft))
    for name, prompts in (("rm_prompts", world.rm_prompts), ("ppo_prompts", world.ppo_prompts),
                          ("eval_prompts", world.eval_prompts)):
        write_jsonl(out_dir / f"{name}.jsonl", ({"prompt": _prompt_text(p, scrub), "user_id": p.user_id,
                                                 "family": p.family} for p in prompts))
    write_jsonl(out_dir / "pretrain.jsonl", ({"text": t} for t in world.corpus_train))
    write_jsonl(out_dir / "pretrain_heldout.jsonl", ({"text": t} for t in world.corpus_heldout))
    labelers = [labeler_record(l, "train") for l in world.labelers.train]
    labelers += [labeler_record(l, "heldout") for l in world.labelers.heldout]
    write_jsonl(out_dir / "labelers.jsonl", labelers)
    counts = {"sft": len(world.sft), "rm_prompts": len(world.rm_prompts), "ppo_prompts": len(world.ppo_prompts),
              "eval_prompts": len(world.eval_prompts), "pretrain_docs": len(world.corpus_train),
              "heldout_docs": len(world.corpus_heldout), "pretrain_words": sum(len(t.split()) for t in world.corpus_train),
              "train_labelers": len(world.labelers.train), "heldout_labelers": len(world.labelers.heldout)}
    (out_dir / "world.json").write_text(json.dumps({"seed": world.seed, **counts}, indent=2) + "\n")
    return {f"world/{k}": float(v) for k, v in counts.items()}


def ranking_labelers(world: World, groups: Sequence[str] | None) -> list:
    """The training labelers who rank (``rankings.groups``: only those groups'; null = all of them)."""
    if not groups:
        return list(world.labelers.train)
    known = world.labelers.groups("train")
    if isinstance(groups, str) or not all(isinstance(g, str) for g in groups):
        raise ConfigError(f"config key 'rankings.groups': expected a list of training group names, got {groups!r}")
    unknown = [g for g in groups if g not in known]
    if unknown:
        raise ConfigError(f"config key 'rankings.groups': '{unknown[0]}' is not a training labeler group; "
                          f"training groups: {', '.join(known)}")
    return [l for l in world.labelers.train if l.group in set(groups)]


def make_rankings(world: World, sft_path: str, prompts_file: Path, out_dir: Path, settings: Mapping[str, Any],
                  seed: int = 0) -> dict[str, float]:
    """Rankings of SFT samples by training labelers -> ``out_dir/rankings.jsonl`` (module doc).

    settings: ``k_min``, ``k_max``, ``temperature``, ``max_new_tokens``, ``batch_size``, ``limit``,
    ``groups`` (the training groups whose labelers rank; null = all).
    """
    from rlhfkit.evaluate.progress import Progress
    from rlhfkit.models.generation import load_causal_lm, sample_completions

    rankers = ranking_labelers(world, settings.get("groups"))  # checked before anything is sampled
    rows = read_jsonl(prompts_file)[: settings.get("limit") or None]
    prompts = [parse_prompt(r["prompt"], r.get("user_id", "")) for r in rows]
    rng = random.Random(seed * 7919 + 1)
    ks = [rng.randint(int(settings["k_min"]), int(settings["k_max"])) for _ in prompts]
    model, tokenizer = load_causal_lm(sft_path)
    k_max = max(ks)
    progress = Progress("rankings", total=len(prompts) * k_max, unit="samples")  # a line per ~10% (or 30 s)
    samples = sample_completions(model, tokenizer, [p.text for p in prompts], n=k_max,
                                 temperature=float(settings["temperature"]),
                                 max_new_tokens=int(settings["max_new_tokens"]),
                                 batch_size=int(settings["batch_size"]), seed=seed * 7919 + 2,
                                 on_batch=progress.advance)
    kept_prompts, sets, n_empty, n_dropped = [], [], 0, 0
    for i, (prompt, k) in enumerate(zip(prompts, ks)):
        texts = samples.completions[i * k_max: i * k_max + k]
        nonempty = [t for t in texts if t.strip()]
        n_empty += len(texts) - len(nonempty)
        if len(nonempty) < 2:
            n_dropped += 1
            continue
        kept_prompts.append(prompt)
        sets.append(nonempty)
    records = rank_samples(rankers, kept_prompts, sets, rng)
    write_jsonl(Path(out_dir) / "rankings.jsonl", records)
    k_used = [len(s) for s in sets]
    distinct = [len(set(s)) for s in sets]
    metrics = {"rankings": len(records), "samples": sum(k_used), "empty_samples_dropped": n_empty,
               "prompts_dropped": n_dropped, "mean_k": sum(k_used) / max(len(k_used), 1),
               "mean_distinct": sum(distinct) / max(len(distinct), 1),
               "all_tied": sum(d == 1 for d in distinct), "sampled_tokens": samples.tokens,
               "sft_params": sum(p.numel() for p in model.parameters())}
    (Path(out_dir) / "rankings.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return {f"rankings/{k}": float(v) for k, v in metrics.items()}


def read_rank_sets(path: Path) -> list[tuple[Any, list[str]]]:
    """(Prompt, completions) of every ranking in a rankings file (for labeler agreement)."""
    return [(parse_prompt(r["prompt"], r.get("user_id", "")), list(r["completions"])) for r in read_jsonl(path)]
