"""Evaluate the recipe's models in the simulated world (RLHF_DETAILS items 25-33).

For each model (base, SFT, PPO, PPO-ptx; small and large) on the held-out users' prompts:
completions sampled the same way for all (:mod:`rlhfkit.models.generation`), judged by the
held-out labelers (win rates, overall and per group) and the gold judge (hallucination,
truthfulness, toxicity with and without "respectfully", helpfulness, gold score), scored by the
proxy RM, and the held-out pretraining loss (alignment tax). Plus: labeler agreement (training
and held-out pools on the same comparisons), the RM's accuracy against each held-out group, and
the over-optimisation curve of every PPO run's snapshots.
"""

from __future__ import annotations

import json
import logging
import math
import random
import zlib
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any


from rlhfkit.models.generation import count_params, load_causal_lm, sample_completions
from rlhfkit.evaluate.best_of_n import baseline_at_kl, best_of_n_curve
from rlhfkit.evaluate.bias_probe import model_bias
from rlhfkit.evaluate.whose import whose_preferences
from rlhfkit.evaluate.win_rates import gold_rates, pool_agreement, win_rate, win_rate_by_group
from rlhfkit.evaluate.lm_loss import heldout_lm_loss
from rlhfkit.evaluate.overopt import fit_gao_rl, snapshot_dirs, sqrt_kl
from rlhfkit.evaluate.progress import Progress
from rlhfkit.world import (Labeler, LabelerPool, Prompt, World, gold_score, ideal_completion,
                           sample_completion_like_internet)

log = logging.getLogger(__name__)

# report key -> (model A, model B): "A beats B" win rates of the report (IG Figure 1 and its text)
WIN_RATE_PAIRS: dict[str, tuple[str, str]] = {
    "ppo_vs_sft": ("ppo_small", "sft_small"),
    "ppo_vs_base": ("ppo_small", "base_small"),
    "ppo_small_vs_base_large": ("ppo_small", "base_large"),
    "ppo_small_vs_sft_large": ("ppo_small", "sft_large"),
    "ptx_vs_ppo": ("ptx_small", "ppo_small"),
    "ptx_vs_sft": ("ptx_small", "sft_small"),
    "sft_vs_base": ("sft_small", "base_small"),
    "sft_large_vs_base_large": ("sft_large", "base_large"),
    "base_large_vs_base_small": ("base_large", "base_small"),
    "sft_large_vs_sft_small": ("sft_large", "sft_small"),
}
BY_GROUP_PAIRS = ("ppo_vs_sft", "ppo_vs_base", "ptx_vs_ppo")


def judge_seed(seed: int, name: str) -> int:
    """An independent, reproducible judging stream per comparison."""
    return seed * 1_000_003 + zlib.crc32(name.encode())


def rm_scorer(rm_path: str | None, batch_size: int = 256):
    if not rm_path:
        return None
    from rlhfkit.rewards.reward_model import RewardModelFn

    return RewardModelFn(rm_path, max_length=64, batch_size=batch_size)


def mean(xs: Sequence[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else math.nan


def rm_accuracy_by_group(judges: LabelerPool | Sequence[Labeler], prompts: Sequence[Prompt],
                         completions: Mapping[str, Sequence[str]], rm_scores: Mapping[str, Sequence[float]],
                         seed: int = 0) -> dict[str, dict[str, float]]:
    """How often the RM orders a pair of distinct model completions as a labeler of each group of
    ``judges`` (a pool: its held-out groups) does: for every prompt and every pair of models with
    different texts, one labeler of each group (round-robin) compares; the RM is right when it
    scores the chosen one higher."""
    labelers = judges.heldout if isinstance(judges, LabelerPool) else list(judges)
    groups = sorted({l.group for l in labelers})
    by_group = {g: [l for l in labelers if l.group == g] for g in groups}
    rng = random.Random(seed)
    counts = {g: [0, 0] for g in groups}
    names = sorted(completions)
    k = 0
    for i, prompt in enumerate(prompts):
        for a, b in combinations(names, 2):
            ta, tb = completions[a][i], completions[b][i]
            sa, sb = rm_scores[a][i], rm_scores[b][i]
            if ta == tb or sa == sb:
                continue
            for g in groups:
                labeler = by_group[g][k % len(by_group[g])]
                chose_a = labeler.compare(prompt, ta, tb, rng) == 1.0
                counts[g][0] += int(chose_a == (sa > sb))
                counts[g][1] += 1
            k += 1
    return {g: {"accuracy": c / n if n else math.nan, "n_pairs": float(n)} for g, (c, n) in counts.items()}


def agreement_figures(world: World, rank_sets: Sequence[tuple[Prompt, Sequence[str]]] | None,
                      n_prompts: int, seed: int) -> dict[str, float]:
    """Inter-labeler agreement of the training and the held-out pool on the SAME comparisons:
    the pipeline's RM comparison sets (``rank_sets``: prompts and their K model samples) when
    given, and the internet's samples of held-out prompts (4 each; the world's calibration set)."""
    out: dict[str, float] = {}
    rng = random.Random(seed)
    if rank_sets:
        subset = [s for s in rank_sets if len(set(s[1])) > 1][:n_prompts]
        prompts, sets = [p for p, _ in subset], [list(c) for _, c in subset]
        if prompts:
            out["training"] = pool_agreement(world.labelers.train, prompts, sets, seed)
            out["held_out"] = pool_agreement(world.labelers.heldout, prompts, sets, seed + 1)
    prompts = list(world.eval_prompts[:n_prompts])
    internet = [[sample_completion_like_internet(p, rng) for _ in range(4)] for p in prompts]
    out["training_internet"] = pool_agreement(world.labelers.train, prompts, internet, seed + 2)
    out["held_out_internet"] = pool_agreement(world.labelers.heldout, prompts, internet, seed + 3)
    if "training" not in out:
        out["training"], out["held_out"] = out["training_internet"], out["held_out_internet"]
    return out


def overoptimisation(world: World, snapshots: Sequence[tuple[int, str]], ref, tokenizer, rm, prompts: Sequence[Prompt],
                     settings: Mapping[str, Any], progress: Progress | None = None, run: str = "") -> list[dict[str, float]]:
    """Per snapshot (iteration, path): KL to the reference on its own samples, sqrt(KL), RM
    score and gold score of those samples (``progress`` advanced by the prompts of each)."""
    texts = [p.text for p in prompts]
    points = []
    for iteration, path in snapshots:
        model = ref if path is None else load_causal_lm(str(path))[0]
        s = sample_completions(model, tokenizer, texts, n=1, temperature=settings["temperature"],
                               max_new_tokens=settings["max_new_tokens"], batch_size=settings["batch_size"],
                               seed=settings["seed"] + 17, ref_model=ref, with_logprobs=True)
        kl = s.kl
        points.append({"iteration": float(iteration), "kl": kl, "sqrt_kl": sqrt_kl(kl),
                       "rm_score": float(rm(texts, s.completions).mean()) if rm is not None else math.nan,
                       "gold_score": gold_score(world.labelers, prompts, s.completions),
                       "tokens": float(s.tokens)})
        if progress is not None:
            progress.advance(len(prompts), f"{run} snapshot at iteration {iteration}".strip())
    return points


def _best_of_n(world: World, ref, ref_tok, rm, prompts: Sequence[Prompt], settings: Mapping[str, Any],
               models: Mapping[str, str], curves: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Best-of-n of the SFT policy against the RM on the over-optimisation prompts, and the n at
    PPO's final KL judged beside PPO (rlhfkit.evaluate.best_of_n)."""
    curve = best_of_n_curve(world.labelers, ref, ref_tok, rm, prompts, settings, settings["best_of_n"])
    out: dict[str, Any] = {"points": curve["points"], "gao_fit": curve["gao_fit"]}
    ppo_points = (curves.get("ppo") or {}).get("points") or []
    if ppo_points and "ppo_small" in models:
        policy, tokenizer = load_causal_lm(models["ppo_small"])
        ppo = sample_completions(policy, tokenizer, [p.text for p in prompts], n=1,
                                 temperature=settings["temperature"], max_new_tokens=settings["max_new_tokens"],
                                 batch_size=settings["batch_size"], seed=settings["seed"] + 31)
        out["at_ppo_kl"] = baseline_at_kl(world.labelers, prompts, curve, ppo_points[-1]["kl"], ppo.completions,
                                          judge_seed(seed, "best_of_n"))
    return out


def _snapshot_plan(snapshot_roots: Mapping[str, tuple[str, str]], settings: Mapping[str, Any]
                   ) -> dict[str, list[tuple[int, str | None]]]:
    """Per PPO run, the policies of its over-optimisation curve: (iteration, directory), the
    reference (iteration 0, None) first and the final policy last when no snapshot is at its iteration."""
    plan = {}
    for run, (root, final) in snapshot_roots.items():
        snaps: list[tuple[int, str | None]] = [(0, None)] + [(i, str(p)) for i, p in snapshot_dirs(root)]
        final_iteration = int(settings.get("final_iterations", {}).get(run, 0))
        if final and final_iteration > snaps[-1][0]:
            snaps.append((final_iteration, final))
        plan[run] = snaps
    return plan


def evaluate_world(world: World, models: Mapping[str, str], settings: Mapping[str, Any], out_dir: Path,
                   reference: str | None = None, rm_path: str | None = None,
                   snapshot_roots: Mapping[str, tuple[str, str]] | None = None,
                   rank_sets: Sequence[tuple[Prompt, Sequence[str]]] | None = None) -> dict[str, Any]:
    """Everything the report needs, as a JSON-able dict (also written to ``out_dir/eval.json``).

    Args:
        world: the world (its eval prompts, labeler pool and held-out corpus are used).
        models: model name -> saved causal LM directory.
        settings: ``temperature``, ``samples_per_prompt``, ``max_new_tokens``, ``batch_size``,
            ``seed``, ``n_prompts`` (null = all), ``heldout_docs``, ``max_length``,
            ``agreement_prompts``, ``overopt_prompts``.
        reference: the initial policy (SFT) of the PPO runs: KL is measured against it.
        rm_path: the proxy RM (scores every model's completions and the snapshots).
        snapshot_roots: run name -> (snapshots directory, final policy directory).
        rank_sets: the RM comparison sets, for labeler agreement.
    """
    out_dir = Path(out_dir)
    seed = int(settings["seed"])
    prompts = list(world.eval_prompts[: settings.get("n_prompts") or None])
    n = int(settings["samples_per_prompt"])
    flat_prompts = [p for p in prompts for _ in range(n)]
    texts = [p.text for p in prompts]
    heldout = list(world.corpus_heldout[: settings.get("heldout_docs") or None])
    rm = rm_scorer(rm_path, settings["batch_size"])
    snapshot_plan = _snapshot_plan(snapshot_roots, settings) if snapshot_roots and reference else {}
    n_over = min(settings.get("overopt_prompts") or len(prompts), len(prompts))
    # the work in samples: every model's, the judging (weighed as one model's), every snapshot's
    progress = Progress("evaluate", total=(len(models) + 1) * len(flat_prompts)
                        + n_over * sum(len(s) for s in snapshot_plan.values()), unit="samples")

    completions: dict[str, list[str]] = {}
    per_model: dict[str, dict[str, float]] = {}
    rm_scores: dict[str, list[float]] = {}
    forward_tokens: dict[str, int] = {}
    for name, path in models.items():
        model, tokenizer = load_causal_lm(path)
        s = sample_completions(model, tokenizer, texts, n=n, temperature=settings["temperature"],
                               max_new_tokens=settings["max_new_tokens"], batch_size=settings["batch_size"], seed=seed)
        completions[name] = s.completions
        figures = gold_rates(flat_prompts, s.completions, world.labelers)
        loss, n_tokens = heldout_lm_loss(model, tokenizer, heldout, settings["max_length"], settings["batch_size"])
        figures["bias_rate"] = model_bias(model, tokenizer)[0]  # the bias probe no labeler looks at
        figures |= {"pretrain_loss": loss, "params": float(count_params(model)),
                    "mean_length": mean([len(c.split()) for c in s.completions]),
                    "empty_rate": mean([float(not c) for c in s.completions])}
        if rm is not None:
            scores = rm([p.text for p in flat_prompts], s.completions)
            rm_scores[name] = [float(x) for x in scores]
            figures["rm_score"] = mean(rm_scores[name])
        forward_tokens[name] = s.tokens + n_tokens
        per_model[name] = figures
        log.info("evaluate: %s %s", name, {k: round(v, 3) for k, v in figures.items()})
        progress.advance(len(flat_prompts), f"{name} sampled and judged")

    win_rates, by_group = {}, {}
    for key, (a, b) in WIN_RATE_PAIRS.items():
        if a in completions and b in completions:
            win_rates[key] = win_rate(world.labelers, flat_prompts, completions[a], completions[b], judge_seed(seed, key))
            if key in BY_GROUP_PAIRS:
                by_group[key] = win_rate_by_group(world.labelers, flat_prompts, completions[a], completions[b],
                                                  judge_seed(seed, key + "/groups"))
    vs_sft = {}
    if "sft_small" in completions:
        for name in completions:
            if name != "sft_small":
                vs_sft[name] = win_rate(world.labelers, flat_prompts, completions[name], completions["sft_small"],
                                        judge_seed(seed, name + "/vs_sft"))

    # The ceiling: the world's ideal answers (ideal_completion) judged against each model the same way.
    ideal = [ideal_completion(p) for p in flat_prompts]
    ceiling = {f"ideal_vs_{name}": win_rate(world.labelers, flat_prompts, ideal, completions[name],
                                            judge_seed(seed, name + "/ideal")) for name in completions}

    result: dict[str, Any] = {
        "models": per_model, "win_rates": win_rates, "win_rates_by_group": by_group,
        "win_rates_vs_sft_small": vs_sft, "win_rates_ideal": ceiling,
        "labeler_agreement": agreement_figures(world, rank_sets, int(settings["agreement_prompts"]), seed),
        "n_eval_prompts": len(prompts), "samples_per_prompt": n, "eval_forward_tokens": forward_tokens,
    }
    rm_by_group: dict[str, float] = {}
    if rm is not None and len(rm_scores) >= 2:
        result["rm_accuracy_heldout_groups"] = rm_accuracy_by_group(world.labelers, flat_prompts, completions,
                                                                    rm_scores, judge_seed(seed, "rm_accuracy"))
        result["rm_accuracy_train_groups"] = rm_accuracy_by_group(world.labelers.train, flat_prompts, completions,
                                                                  rm_scores, judge_seed(seed, "rm_accuracy/train"))
        rm_by_group = {g: row["accuracy"] for part in ("rm_accuracy_train_groups", "rm_accuracy_heldout_groups")
                       for g, row in result[part].items()}
    ranked = settings.get("ranking_groups") or world.labelers.groups("train")
    result["whose_preferences"] = whose_preferences(world.labelers, flat_prompts, completions, ranked, rm_by_group,
                                                    judge_seed(seed, "whose"))
    progress.advance(len(flat_prompts), "win rates, labeler agreement, RM accuracy by group")
    if snapshot_roots and reference:
        ref, ref_tok = load_causal_lm(reference)
        over_prompts = prompts[:n_over]
        curves = {}
        for run, snaps in snapshot_plan.items():
            points = overoptimisation(world, snaps, ref, ref_tok, rm, over_prompts, settings, progress, run)
            base = points[0]
            fit = fit_gao_rl([p["sqrt_kl"] for p in points], [p["gold_score"] - base["gold_score"] for p in points])
            curves[run] = {"points": points, "gao_fit": fit}
        result["overoptimisation"] = curves
        if rm is not None and settings.get("best_of_n"):
            result["best_of_n"] = _best_of_n(world, ref, ref_tok, rm, over_prompts, settings, models, curves, seed)
            progress.advance(0, "best-of-n against the RM")
    samples_path = out_dir / "completions.jsonl"
    with samples_path.open("w") as f:
        for i, prompt in enumerate(flat_prompts):
            f.write(json.dumps({"prompt": prompt.text, "family": prompt.family,
                                **{name: completions[name][i] for name in completions}}) + "\n")
    (out_dir / "eval.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    return result
