"""Run the pipeline's DAG: each stage is cached (skipped, and said so) or run, with one progress
line when it starts, is found in the cache, finishes or fails, and its wall time.

With ``workers: 1`` stages run one after another in this process. With ``workers: N > 1``,
stages whose inputs are ready run at the same time in N worker processes (spawned once; each
sets ``torch_threads``): the large model's branch (pretrain_large, sft_large) runs beside the
small one, PPO beside PPO-ptx. Configs are composed (and keys computed) here, in the pipeline's
Hydra app; a worker gets the resolved config and calls the same stage function. Results do not
depend on the number of workers: every stage seeds itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlhfkit.pipeline.cache import StageCache, stage_key
from rlhfkit.pipeline.compose import compose_stage, resolved, run_train_stage, set_output_dir
from rlhfkit.pipeline.stage_graph import Context, Node


@dataclass
class NodeResult:
    name: str
    key: str
    dir: Path
    cached: bool
    wall_s: float  # the stage's own wall time when it ran (also for a cached stage)
    metrics: dict[str, float] = field(default_factory=dict)
    stage: str | None = None  # the train stage (pretrain, sft, rm, ppo) or None for a python step


def say(line: str) -> None:
    print(f"[pipeline] {line}", flush=True)


def _as_list(node: Any) -> list[str]:
    if node is None:
        return []
    if isinstance(node, str):
        return [node]
    return [str(x) for x in node]


# --------------------------------------------------------------------------- work (any process)


def worker_setup(torch_threads: int | None, quiet: bool) -> None:
    """Per process: torch's thread count; in quiet mode no transformers progress bars or info."""
    from rlhfkit.quiet import silence_noise; silence_noise()  # noqa: E702 (no Lightning tips, no dependencies' deprecations)
    import torch
    import transformers

    if torch_threads:
        torch.set_num_threads(int(torch_threads))
    if quiet:
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
        logging.getLogger("lightning").setLevel(logging.WARNING)


def do_train(config: dict[str, Any] | DictConfig, stage_dir: str) -> tuple[dict[str, float], float]:
    """Run one train stage; returns (metrics, wall seconds)."""
    cfg = config if isinstance(config, DictConfig) else OmegaConf.create(config)
    start = time.perf_counter()
    metrics = run_train_stage(cfg, Path(stage_dir))
    return metrics, time.perf_counter() - start


def do_python(func: Callable[[Context, Path], dict[str, float]], ctx: Context, stage_dir: str) -> tuple[dict[str, float], float]:
    start = time.perf_counter()
    metrics = func(ctx, Path(stage_dir)) or {}
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}, time.perf_counter() - start


# --------------------------------------------------------------------------- the scheduler


@dataclass
class _Job:
    node: Node
    key: str
    dir: Path
    input_keys: dict[str, str]
    tag: str
    started: float = 0.0


class PipelineRunner:
    """Runs ``nodes`` (topologically ordered) with the pipeline config ``pcfg``.

    ``pcfg.common``: overrides of every train stage; ``pcfg.stages.<name>``: ``enabled``,
    ``overrides`` (list of override strings) and ``set`` (nested dict) of one stage;
    ``pcfg.workers``: processes running stages at the same time.
    """

    def __init__(self, pcfg: DictConfig, nodes: list[Node], cache: StageCache, run_dir: Path,
                 echo: Callable[[str], None] = say) -> None:
        self.pcfg, self.nodes, self.cache, self.run_dir, self.echo = pcfg, nodes, cache, Path(run_dir), echo
        self.results: dict[str, NodeResult] = {}
        self.ctx = Context(pcfg, self.results, self.run_dir)

    def stage_settings(self, name: str) -> DictConfig:
        stages = self.pcfg.get("stages") or {}
        return stages.get(name) or OmegaConf.create({})

    def _prepare(self, node: Node, index: int) -> tuple[_Job, DictConfig | None]:
        """The stage's key (its config composed here), or a cached result recorded."""
        tag = f"({index}/{len(self.nodes)}) {node.name}"
        input_keys = {dep: self.results[dep].key for dep in node.inputs}
        cfg = None
        if node.stage is not None:
            settings = self.stage_settings(node.name)
            overrides = [*_as_list(self.pcfg.get("common")), *node.wiring(self.ctx), *_as_list(settings.get("overrides"))]
            set_values = OmegaConf.to_container(settings.get("set"), resolve=True) if settings.get("set") else None
            cfg = compose_stage(overrides, set_values, run_name=node.name)
            key = stage_key(resolved(cfg), input_keys)
        else:
            key = stage_key({"step": node.name, "settings": node.settings(self.ctx)}, input_keys)
        return _Job(node, key, self.cache.dir(node.name, key), input_keys, tag), cfg

    def _cached(self, job: _Job) -> bool:
        if not self.cache.is_done(job.node.name, job.key):
            return False
        meta = self.cache.meta(job.node.name, job.key)
        self.results[job.node.name] = NodeResult(job.node.name, job.key, job.dir, True, float(meta.get("wall_s", 0.0)),
                                                 meta.get("metrics", {}), job.node.stage)
        self.echo(f"{job.tag}: cached, skipped (ran in {self.results[job.node.name].wall_s:.1f} s) -> {job.dir}")
        return True

    def _start(self, job: _Job) -> None:
        label = f"stage={job.node.stage}" if job.node.stage else "python step"
        self.echo(f"{job.tag}: running ({label}) -> {job.dir}")
        self.cache.prepare(job.node.name, job.key)
        job.started = time.perf_counter()

    def _finish(self, job: _Job, metrics: dict[str, float], wall: float) -> None:
        metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        self.cache.finish(job.node.name, job.key, {"wall_s": wall, "metrics": metrics, "inputs": job.input_keys,
                                                   "train_stage": job.node.stage})
        self.results[job.node.name] = NodeResult(job.node.name, job.key, job.dir, False, wall, metrics, job.node.stage)
        self.echo(f"{job.tag}: done in {wall:.1f} s")
        sys.stdout.flush()

    def _failed(self, job: _Job, err: BaseException) -> None:
        self.echo(f"{job.tag}: FAILED after {time.perf_counter() - job.started:.1f} s: {type(err).__name__}: {err}")

    def run(self) -> dict[str, NodeResult]:
        workers = int(self.pcfg.get("workers") or 1)
        return self._run_sequential() if workers <= 1 else self._run_parallel(workers)

    def _check_inputs(self, node: Node, done: set[str]) -> None:
        missing = [dep for dep in node.inputs if dep not in {n.name for n in self.nodes} and dep not in done]
        if missing:
            raise RuntimeError(f"pipeline stage '{node.name}' needs {missing}, which is not enabled; check `stages.*.enabled`")

    def _run_sequential(self) -> dict[str, NodeResult]:
        for i, node in enumerate(self.nodes, 1):
            self._check_inputs(node, set(self.results))
            job, cfg = self._prepare(node, i)
            if self._cached(job):
                continue
            self._start(job)
            try:
                if cfg is not None:
                    metrics, wall = do_train(set_output_dir(cfg, job.dir), str(job.dir))
                else:
                    metrics, wall = do_python(node.func, self.ctx, str(job.dir))
            except BaseException as err:
                self._failed(job, err)
                raise
            self._finish(job, metrics, wall)
        return self.results

    def _run_parallel(self, workers: int) -> dict[str, NodeResult]:
        index = {n.name: i for i, n in enumerate(self.nodes, 1)}
        pending = list(self.nodes)
        running: dict[Future, _Job] = {}
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=worker_setup,
                                 initargs=(self.pcfg.get("torch_threads"), bool(self.pcfg.get("quiet", True)))) as pool:
            try:
                while pending or running:
                    for node in list(pending):
                        self._check_inputs(node, set(self.results))
                        if len(running) >= workers:
                            break
                        if not all(dep in self.results for dep in node.inputs):
                            continue
                        pending.remove(node)
                        job, cfg = self._prepare(node, index[node.name])
                        if self._cached(job):
                            continue
                        self._start(job)
                        if cfg is not None:
                            future = pool.submit(do_train, resolved(set_output_dir(cfg, job.dir)), str(job.dir))
                        else:
                            future = pool.submit(do_python, node.func, self.ctx, str(job.dir))
                        running[future] = job
                    if not running:
                        if pending and not any(all(d in self.results for d in n.inputs) for n in pending):
                            raise RuntimeError(f"pipeline stages {[n.name for n in pending]} wait on inputs that never ran")
                        continue
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        job = running.pop(future)
                        try:
                            metrics, wall = future.result()
                        except BaseException as err:
                            self._failed(job, err)
                            raise
                        self._finish(job, metrics, wall)
            except BaseException:
                for future in running:
                    future.cancel()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return self.results
