"""A weighted sum of other reward plugins, e.g. a reward model plus a rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rlhfkit.rewards.base import check_scores
from rlhfkit.errors import ConfigError


class WeightedSumReward:
    """sum_i weight_i * reward_i(prompts, completions).

    Args:
        components: a list of reward configs, each ``{name: ..., weight: ..., **options}``;
            ``weight`` defaults to 1.
        plugins: the plugin manager that builds the components (the process-wide one by default).
    """

    def __init__(self, components: Sequence[Mapping[str, Any]], plugins=None) -> None:
        if not components:
            raise ConfigError("reward.components: a weighted sum needs at least one component")
        if plugins is None:
            from rlhfkit.plugins import get_plugin_manager

            plugins = get_plugin_manager()
        self.parts = []
        for i, spec in enumerate(components):
            spec = dict(spec)
            weight = float(spec.pop("weight", 1.0))
            self.parts.append((spec.get("name", "?"), weight, plugins.build("reward", spec, f"reward.components[{i}]")))

    def __call__(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        total = torch.zeros(len(completions))
        for name, weight, reward in self.parts:
            total += weight * check_scores(reward(prompts, completions), len(completions), name)
        return total
