"""The paper's closing question, "whose preferences?" (IG section 5.2), asked of the simulated world.

Every labeler group of the pool, the training groups as well as the held-out ones, judges the same
comparisons: the aligned policy against SFT and against the same-size base model. A group whose
labelers ranked the samples the RM was trained on (``rankings.groups``; all training groups by
default) is marked ``ranked``. The report shows the win rate each group gives, the gap between the
most and the least pleased group, and how often the RM orders model completions as each group does.
Aligned to whom is then a figure: with ``experiment=whose`` the RM learns one group's rankings,
and the gap says how far the others are from being served.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from rlhfkit.world import LabelerPool, Prompt
from rlhfkit.world import win_rate_by_group as _win_rate_by_group

# the comparisons each group judges: (figure, policy, baseline)
WHOSE_PAIRS = (("ppo_vs_sft", "ppo_small", "sft_small"), ("ppo_vs_base", "ppo_small", "base_small"))


def whose_preferences(pool: LabelerPool, prompts: Sequence[Prompt], completions: Mapping[str, Sequence[str]],
                      ranked_groups: Sequence[str], rm_accuracy: Mapping[str, float] | None = None,
                      seed: int = 0) -> dict[str, Any]:
    """``{"groups": {group: {pool, ranked, labelers, <figure>: win rate, rm_accuracy}}, "gap": {figure:
    max - min over groups}, "ranked_groups": [...]}``; each figure's comparisons are judged once by
    every group (round-robin over its labelers, ``random.Random(seed + j)`` for the j-th figure)."""
    everyone = pool.train + pool.heldout
    groups: dict[str, dict[str, Any]] = {}
    for name in pool.groups("all"):
        members = [l for l in everyone if l.group == name]
        groups[name] = {"pool": "train" if members[0] in pool.train else "heldout", "ranked": name in ranked_groups,
                        "labelers": len(members)}
    gap: dict[str, float] = {}
    for j, (figure, a, b) in enumerate(WHOSE_PAIRS):
        if a not in completions or b not in completions:
            continue
        rates = _win_rate_by_group(everyone, prompts, completions[a], completions[b], random.Random(seed + j))
        for name, rate in rates.items():
            groups[name][figure] = rate
        gap[figure] = max(rates.values()) - min(rates.values())
    if rm_accuracy:
        for name, accuracy in rm_accuracy.items():
            if name in groups:
                groups[name]["rm_accuracy"] = accuracy
        known = [v for v in rm_accuracy.values() if not math.isnan(v)]
        if known:
            gap["rm_accuracy"] = max(known) - min(known)
    return {"groups": groups, "gap": gap, "ranked_groups": list(ranked_groups)}
