"""Best-of-n against the RM, evaluated like the PPO snapshots (RLHF_DETAILS items 31-33).

:func:`best_of_n_curve` samples N = max(ns) completions per held-out prompt from the initial (SFT)
policy once, scores them with the RM, and for each n keeps the best of the first n: its gold score
(the held-out labelers' noise-free utility), its RM score and the analytic KL log n - (n-1)/n
(an upper bound, item 33) as d = sqrt(KL), on the same axes as PPO's curve. Gao et al. fit it as
R(d) = d (alpha - beta d). :func:`baseline_at_kl` is the cheap alternative at PPO's own KL:
best-of-n with the n whose KL is nearest PPO's, judged against SFT by the held-out labelers on
the same prompts as PPO (AlpacaFarm reports PPO, best-of-n and expert iteration side by side).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from rlhfkit.algos.best_of_n import best_of_n_index, best_of_n_kl
from rlhfkit.evaluate.overopt import fit_gao_bon, sqrt_kl
from rlhfkit.models.generation import sample_completions
from rlhfkit.world import LabelerPool, Prompt, gold_score
from rlhfkit.world import win_rate as _win_rate

DEFAULT_NS = (1, 2, 4, 8, 16, 32)
RMScorer = Callable[[Sequence[str], Sequence[str]], torch.Tensor]


def best_of_n_curve(pool: LabelerPool, policy, tokenizer, rm: RMScorer, prompts: Sequence[Prompt],
                    settings: Mapping[str, Any], ns: Sequence[int] = DEFAULT_NS) -> dict[str, Any]:
    """``{"points": [{n, kl, sqrt_kl, rm_score, gold_score}], "gao_fit": {...}, "choices": {n: texts}}``;
    one draw of max(ns) samples per prompt (seed ``settings["seed"] + 29``), nested choices."""
    ns = sorted({int(n) for n in ns})
    n_max = ns[-1]
    texts = [p.text for p in prompts]
    samples = sample_completions(policy, tokenizer, texts, n=n_max, temperature=settings["temperature"],
                                 max_new_tokens=settings["max_new_tokens"], batch_size=settings["batch_size"],
                                 seed=settings["seed"] + 29)
    flat_prompts = [t for t in texts for _ in range(n_max)]
    scores = rm(flat_prompts, samples.completions).reshape(len(prompts), n_max)  # (P, N)
    grid = [samples.completions[i * n_max:(i + 1) * n_max] for i in range(len(prompts))]
    points, choices = [], {}
    for n in ns:
        index = best_of_n_index(scores, n)  # (P,)
        chosen = [grid[i][int(index[i])] for i in range(len(prompts))]
        kl = best_of_n_kl(n)
        points.append({"n": float(n), "kl": kl, "sqrt_kl": sqrt_kl(kl),
                       "rm_score": float(scores.gather(1, index[:, None]).mean()),
                       "gold_score": gold_score(pool, prompts, chosen)})
        choices[n] = chosen
    base = points[0]["gold_score"]
    fit = fit_gao_bon([p["sqrt_kl"] for p in points], [p["gold_score"] - base for p in points])
    return {"points": points, "gao_fit": fit, "choices": choices}


def baseline_at_kl(pool: LabelerPool, prompts: Sequence[Prompt], curve: Mapping[str, Any], kl: float,
                   policy_texts: Sequence[str] | None, seed: int = 0) -> dict[str, float]:
    """Best-of-n at the n whose analytic KL is nearest ``kl`` (PPO's), and PPO itself
    (``policy_texts`` on the same prompts), each against SFT's own sample (the n = 1 choice),
    judged by the held-out labelers: ``{n, kl, bon_vs_sft, ppo_vs_sft, ppo_vs_bon}``."""
    points = curve["points"]
    best = min(points, key=lambda p: abs(p["kl"] - kl))
    n = int(best["n"])
    sft, bon = curve["choices"][1], curve["choices"][n]
    out = {"n": float(n), "kl": best["kl"], "ppo_kl": kl,
           "bon_vs_sft": _win_rate(pool, prompts, bon, sft, random.Random(seed))}
    if policy_texts is not None:
        out["ppo_vs_sft"] = _win_rate(pool, prompts, policy_texts, sft, random.Random(seed + 1))
        out["ppo_vs_bon"] = _win_rate(pool, prompts, policy_texts, bon, random.Random(seed + 2))
    return out
