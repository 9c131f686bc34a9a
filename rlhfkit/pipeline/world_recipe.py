"""The world recipe (``recipe: world``, the default): the miniature InstructGPT on the simulated world::

    world --> pretrain_small --> sft_small --> rankings --> rm --> ppo --> evaluate
          |                                                    |-> ptx ------/
          |                                                    \-> overopt --/
          \-> pretrain_large --> sft_large -------------------------> evaluate
    (rankings: sft_small samples ranked by training labelers; rm_from=sft_large starts the RM there)

* ``world``: the simulated world's data as JSONL (python step, :mod:`rlhfkit.pipeline.world_data`).
* ``pretrain_*``: ``stage=pretrain`` of a tiny word-level GPT-2 (small / large, ``sizes``).
* ``sft_*``: ``stage=sft`` from the base model on the labelers' demonstrations.
* ``rankings``: K = 4..9 samples per RM prompt from SFT-small, each set ranked by one training
  labeler (:func:`rlhfkit.world.rank_samples`).
* ``rm``: ``stage=rm`` initialised from SFT-small (``rm_from``).
* ``ppo`` / ``ptx``: ``stage=ppo`` / ``stage=ppo_ptx`` from SFT-small against the RM (value model
  from the RM, item 24).
* ``overopt``: ``stage=ppo`` as ``ppo`` at a lower KL coefficient for longer, judged only on its
  snapshots: over-optimisation that shows (Gao et al.; RLHF_DETAILS items 31-33).
* ``evaluate``: every model judged by the held-out labelers (:mod:`rlhfkit.evaluate.world_eval`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlhfkit.pipeline.compose import override
from rlhfkit.pipeline.stage_graph import Context, Node, Wiring, container, stage_enabled
from rlhfkit.world import WORLD_VERSION


def world_options(cfg: DictConfig) -> dict[str, Any]:
    opts = dict(container(cfg.world))
    opts.pop("seed", None)
    opts.pop("scrub_pii", None)
    return opts


def world_of(cfg: DictConfig):
    return _world(int(cfg.world.seed), json.dumps(world_options(cfg), sort_keys=True))


@functools.lru_cache(maxsize=2)
def _world(seed: int, options: str):
    from rlhfkit.world import build_world

    return build_world(seed=seed, **json.loads(options))


def _pretrain(size_key: str) -> Wiring:
    def wiring(ctx: Context) -> list[str]:
        return ["stage=pretrain", "model=tiny_world", override("model.size", ctx.cfg.sizes[size_key]),
                "data=files", override("data.pretrain.train.path", str(ctx.dir("world") / "pretrain.jsonl"))]
    return wiring


def _sft(base: str) -> Wiring:
    def wiring(ctx: Context) -> list[str]:
        return ["stage=sft", "model=hf", override("model.path", ctx.final(base)), "data=files",
                override("data.sft.train.path", str(ctx.dir("world") / "sft.jsonl")),
                override("data.pretrain.train.path", str(ctx.dir("world") / "pretrain.jsonl"))]  # stage.pretrain_mix
    return wiring


def _rm(ctx: Context) -> list[str]:
    return ["stage=rm", "model=hf", override("model.path", ctx.final(rm_from(ctx.cfg))), "data=files",
            override("data.preference.train.path", str(ctx.dir("rankings") / "rankings.jsonl"))]


def _ppo(stage: str, snapshot_every: str = "snapshot_every") -> Wiring:
    def wiring(ctx: Context) -> list[str]:
        out = [f"stage={stage}", "model=hf", override("model.path", ctx.final("sft_small")), "data=files",
               "reward=reward_model", override("reward.path", ctx.final("rm")),
               override("data.prompts.train.path", str(ctx.dir("world") / "ppo_prompts.jsonl")),
               override("callbacks.policy_snapshots.every", int(ctx.cfg.eval[snapshot_every]))]
        if stage == "ppo_ptx":
            out.append(override("data.pretrain.train.path", str(ctx.dir("world") / "pretrain.jsonl")))
        return out
    return wiring


SNAPSHOT_RUNS = ("ppo", "ptx", "overopt")  # PPO runs whose snapshots the evaluation judges (over-optimisation)


def rm_from(cfg: DictConfig) -> str:
    name = cfg.get("rm_from", "sft_small")
    if name not in ("sft_small", "sft_large"):
        raise ValueError(f"rm_from: expected sft_small or sft_large, got '{name}'")
    return name


def _world_step(ctx: Context, stage_dir: Path) -> dict[str, float]:
    from rlhfkit.pipeline.world_data import write_world_files

    return write_world_files(world_of(ctx.cfg), stage_dir, scrub=bool(ctx.cfg.world.scrub_pii))


def _rankings_step(ctx: Context, stage_dir: Path) -> dict[str, float]:
    from rlhfkit.pipeline.world_data import make_rankings

    return make_rankings(world_of(ctx.cfg), ctx.final("sft_small"), ctx.dir("world") / "rm_prompts.jsonl",
                         stage_dir, container(ctx.cfg.rankings), seed=int(ctx.cfg.seed))


def _eval_settings(ctx: Context) -> dict[str, Any]:
    settings = dict(container(ctx.cfg.eval))
    settings["seed"] = int(ctx.cfg.seed) if settings.get("seed") is None else int(settings["seed"])
    settings["ranking_groups"] = list(ctx.cfg.rankings.get("groups") or [])  # whose rankings the RM learned
    return settings


def _evaluate_step(ctx: Context, stage_dir: Path) -> dict[str, float]:
    from rlhfkit.evaluate.world_eval import evaluate_world
    from rlhfkit.pipeline.world_data import read_rank_sets

    names = {"base_small": "pretrain_small", "base_large": "pretrain_large", "sft_small": "sft_small",
             "sft_large": "sft_large", "ppo_small": "ppo", "ptx_small": "ptx"}
    models = {model: ctx.final(node) for model, node in names.items() if node in ctx.results}
    settings = _eval_settings(ctx)
    snapshots, final_iterations = {}, {}
    for run in SNAPSHOT_RUNS:
        if run in ctx.results:
            snapshots[run] = (str(ctx.dir(run) / "snapshots"), ctx.final(run))
            history = ctx.dir(run) / "ppo_history.jsonl"
            final_iterations[run] = sum(1 for line in history.open() if line.strip()) if history.exists() else 0
    settings["final_iterations"] = final_iterations
    rank_sets = read_rank_sets(ctx.dir("rankings") / "rankings.jsonl") if "rankings" in ctx.results else None
    result = evaluate_world(world_of(ctx.cfg), models, settings, stage_dir,
                            reference=ctx.final("sft_small") if "sft_small" in ctx.results else None,
                            rm_path=ctx.final("rm") if "rm" in ctx.results else None,
                            snapshot_roots=snapshots, rank_sets=rank_sets)
    return {f"win_rates/{k}": v for k, v in result["win_rates"].items()}


def nodes(cfg: DictConfig) -> list[Node]:
    nodes = [
        Node("world", func=_world_step,
             settings=lambda ctx: {"world": container(ctx.cfg.world), "world_version": WORLD_VERSION}),
        Node("pretrain_small", ("world",), "pretrain", _pretrain("small")),
        Node("pretrain_large", ("world",), "pretrain", _pretrain("large")),
        Node("sft_small", ("world", "pretrain_small"), "sft", _sft("pretrain_small")),
        Node("sft_large", ("world", "pretrain_large"), "sft", _sft("pretrain_large")),
        Node("rankings", ("world", "sft_small"), func=_rankings_step,
             settings=lambda ctx: {"rankings": container(ctx.cfg.rankings), "seed": int(ctx.cfg.seed)}),
        Node("rm", ("rankings", rm_from(cfg)), "rm", _rm),
        Node("ppo", ("world", "sft_small", "rm"), "ppo", _ppo("ppo")),
        Node("ptx", ("world", "sft_small", "rm"), "ppo", _ppo("ppo_ptx")),
        Node("overopt", ("world", "sft_small", "rm"), "ppo", _ppo("ppo", "overopt_snapshot_every")),
    ]
    enabled = [n for n in nodes if stage_enabled(cfg, n.name)]
    names = {n.name for n in enabled}
    inputs = tuple(n for n in ("world", "pretrain_small", "pretrain_large", "sft_small", "sft_large", "rankings",
                               "rm", "ppo", "ptx", "overopt") if n in names)
    evaluate = Node("evaluate", inputs, func=_evaluate_step,
                    settings=lambda ctx: {"eval": _eval_settings(ctx), "world": container(ctx.cfg.world)})
    return enabled + ([evaluate] if stage_enabled(cfg, "evaluate") else [])
