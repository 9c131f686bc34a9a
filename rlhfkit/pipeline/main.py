"""`rlhfkit pipeline`: run the DAG (cached), account compute and time, write the report, and print
the absolute path of report.json as the LAST line of stdout."""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlhfkit.pipeline.cache import StageCache
from rlhfkit.pipeline.executor import PipelineRunner, say
from rlhfkit.pipeline.recipes import build_nodes
from rlhfkit.secret_masking import mask_argv, mask_config, masked_argv, secret_values
from rlhfkit.stages.run_files import mask_hydra_files

log = logging.getLogger(__name__)
QUIET_LOGGERS = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric")


def versions() -> dict[str, str]:
    import hydra
    import pytorch_lightning
    import torch
    import transformers
    import wandb

    import rlhfkit

    return {"python": platform.python_version(), "rlhfkit": rlhfkit.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "pytorch_lightning": pytorch_lightning.__version__,
            "hydra": hydra.__version__, "wandb": wandb.__version__}


def quiet_console() -> None:
    """Warnings only on the console (the run's log file keeps every INFO line); no transformers
    progress bars. The pipeline's own progress lines are printed, not logged."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)
    for name in QUIET_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handler.setLevel(logging.WARNING)


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def masked_invocation(cfg: DictConfig, argv: list[str]) -> tuple[str, dict[str, Any]]:
    """The report's "command" and "config", secrets masked (rlhfkit.secret_masking): a report is
    shared, pasted into issues and logged to W&B; the key it ran with is not."""
    config = OmegaConf.to_container(cfg, resolve=True)
    values = secret_values(config)
    return " ".join(["rlhfkit", "pipeline", *mask_argv(argv, values)]), mask_config(config, values)


def run_pipeline(cfg: DictConfig, run_dir: Path, started_at: float | None = None) -> Path:
    """Run everything; ``started_at`` (``time.time()`` at process start) counts start-up in the total."""
    start = time.perf_counter()
    startup = max(0.0, time.time() - started_at) if started_at else 0.0
    mask_hydra_files(run_dir)  # Hydra's own files hold the command line's overrides verbatim, secrets too
    if cfg.get("torch_threads"):
        import torch

        torch.set_num_threads(int(cfg.torch_threads))
    if cfg.get("quiet", True):
        quiet_console()
    cache_root = Path(cfg.cache_dir) if cfg.get("cache_dir") else Path(cfg.paths.runs_dir) / "cache"
    nodes = build_nodes(cfg)
    say(f"experiment {cfg.get('experiment_name')}, recipe {cfg.get('recipe')}, seed {cfg.seed}: "
        f"{len(nodes)} stages ({', '.join(n.name for n in nodes)}); cache {cache_root.resolve()}")
    # the runs dir too: paths under it are hashed relative to it, so a moved runs dir still hits
    results = PipelineRunner(cfg, nodes, StageCache(cache_root, Path(cfg.paths.runs_dir)), run_dir).run()
    stages_s = sum(r.wall_s for r in results.values())
    evaluation = _json(results["evaluate"].dir / "eval.json") if "evaluate" in results else None
    rm_report = _json(results["rm"].dir / "rm_report.json") if "rm" in results else None

    from rlhfkit.evaluate.report import build_report, write_report
    from rlhfkit.pipeline.accounting import stage_compute
    from rlhfkit.pipeline.recipes import COMPUTE_ROLES

    compute = stage_compute(results, evaluation, COMPUTE_ROLES[cfg.get("recipe", "world")])
    cached = [r.name for r in results.values() if r.cached]
    this_run = time.perf_counter() - start + startup
    # total: the end-to-end wall time of the pipeline; stages served from the cache this time count
    # with the time they took when they ran, chained along the DAG (rlhfkit.pipeline.accounting)
    from rlhfkit.pipeline.accounting import pipeline_wall_time

    times = {name: r.wall_s for name, r in results.items()}
    total = pipeline_wall_time({n.name: [d for d in n.inputs if d in results] for n in nodes if n.name in results},
                               times, cached, this_run, int(cfg.get("workers") or 1))
    wall = times | {"stages_sum": stages_s, "this_run": this_run, "total": total}
    command, config = masked_invocation(cfg, sys.argv[1:])
    meta = {"seed": int(cfg.seed), "experiment": cfg.get("experiment_name"), "recipe": cfg.get("recipe"),
            "task_name": cfg.get("task_name"), "versions": versions(), "cached_stages": cached,
            "stage_dirs": {name: str(r.dir) for name, r in results.items()},
            "stage_keys": {name: r.key for name, r in results.items()},
            "command": command, "config": config}
    report = build_report(evaluation, rm_report, compute, wall, meta, OmegaConf.to_container(cfg.targets, resolve=True))
    report_cfg = cfg.get("report") or {}
    with masked_argv():  # the report's W&B run records the command line
        path = write_report(report, run_dir, make_plots=bool(report_cfg.get("plots", True)),
                            wandb_mode=report_cfg.get("wandb", "auto"))
    held = [n for n, t in report["targets"].items() if t["holds"]]
    missed = [n for n, t in report["targets"].items() if not t["holds"]]
    say(f"finished in {this_run:.1f} s ({len(cached)} of {len(results)} stages from the cache); targets held: "
        f"{', '.join(held) or 'none'}; missed: {', '.join(missed) or 'none'}")
    say(f"report: {path.parent / 'report.md'}")
    return path
