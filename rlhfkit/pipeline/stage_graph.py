"""The pipeline's stage graph: a :class:`Node` per stage (what it reads, how it is wired or which
python step it runs) and the :class:`Context` a stage sees. The recipes that build the graph are
:mod:`rlhfkit.pipeline.world_recipe` and :mod:`rlhfkit.pipeline.hh_recipe`
(:mod:`rlhfkit.pipeline.recipes` picks one); :mod:`rlhfkit.pipeline.executor` runs it.

A train stage's config is ``conf/config.yaml`` + ``common`` + the stage's wiring + its own
``overrides``/``set`` from ``conf/pipeline.yaml`` (see :mod:`rlhfkit.pipeline.compose`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

Wiring = Callable[["Context"], list[str]]


@dataclass
class Context:
    """What a stage sees: the pipeline config, the results of the stages before it, the run dir."""

    cfg: DictConfig
    results: dict[str, Any]
    run_dir: Path

    def dir(self, name: str) -> Path:
        return Path(self.results[name].dir)

    def final(self, name: str) -> str:
        return str(self.dir(name) / "final")


@dataclass
class Node:
    """One stage. ``stage`` names a train stage (composed from conf/config.yaml, run in-process);
    otherwise ``func(ctx, stage_dir) -> metrics`` is a python step whose key hashes ``settings(ctx)``."""

    name: str
    inputs: tuple[str, ...] = ()
    stage: str | None = None
    wiring: Wiring = field(default=lambda ctx: [])
    func: Callable[[Context, Path], dict[str, float]] | None = None
    settings: Callable[[Context], Any] = field(default=lambda ctx: {})


def container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def stage_enabled(cfg: DictConfig, name: str) -> bool:
    stage = (cfg.get("stages") or {}).get(name)
    return stage is None or bool(stage.get("enabled", True))
