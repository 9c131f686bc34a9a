"""The pipeline's recipes by name (``recipe:`` in conf/pipeline.yaml): each builds the stage graph."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from omegaconf import DictConfig

from rlhfkit.errors import ConfigError
from rlhfkit.pipeline import hh_recipe, world_recipe
from rlhfkit.pipeline.accounting import WORLD_ROLES
from rlhfkit.pipeline.stage_graph import Node

RECIPES: dict[str, Callable[[DictConfig], list[Node]]] = {"world": world_recipe.nodes, "hh": hh_recipe.nodes}
# each recipe's stage names for the share of pretraining compute (rlhfkit.pipeline.accounting.stage_compute)
COMPUTE_ROLES: dict[str, Mapping[str, str]] = {"world": WORLD_ROLES, "hh": hh_recipe.COMPUTE_ROLES}


def build_nodes(cfg: DictConfig) -> list[Node]:
    recipe = cfg.get("recipe", "world")
    if recipe not in RECIPES:
        raise ConfigError(f"recipe: unknown '{recipe}'; known: {', '.join(RECIPES)}")
    return RECIPES[recipe](cfg)
