"""Run the pipeline's DAG: each stage is cached (skipped, and said so) or run, with one progress
line when it starts, is found in the cache, finishes or fails, and its wall time.

With ``workers: 1`` stages run one after another in this process. With ``workers: N > 1``,
stages whose inputs are ready run at the same time in N worker processes (spawned once; each
sets ``torch_threads``): the large model's branch (pretrain_large, sft_large) runs beside the
small one, PPO beside PPO-ptx. Configs are composed (and keys computed) here, in the pipeline's
Hydra app; a worker gets the resolved config and calls the same stage function. Results do not
depend on the number of workers: every stage seeds itself.

Each stage's cache directory is owned, while it is computed, by the pipeline process that holds
its lock (:class:`rlhfkit.pipeline.cache.CacheLock`; taken here, in the parent, before the
directory is prepared, released after DONE or the failure is written). A second pipeline on the
same runs dir waits for it (``cache_lock: wait``, then finds it cached) or stops with one line
(``cache_lock: fail``); the parallel scheduler polls a held lock, so other ready stages go on.
Workers die with the pipeline: the parent-death signal (Linux) for a kill -9, and killed by the
parent on an error or Ctrl-C.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlhfkit.errors import ConfigError
from rlhfkit.pipeline.cache import LOCK_POLL_S, CacheLock, StageCache, locked_error
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


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; a no-op elsewhere), then
    exit at once if the parent is already gone.

    Why: a worker blocks on the pool's queue or computes a stage; if the pipeline is killed
    (kill -9, OOM) it would go on writing into a cache directory whose lock is free again. The
    getppid check closes the race of a parent dying before the prctl call. (The signal follows
    the parent *thread* that started the worker: the pool starts its workers from the thread
    that submits, the pipeline's main thread.)"""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc symbol: keep going without it
            pass
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def worker_setup(torch_threads: int | None, quiet: bool, parent_pid: int | None = None) -> None:
    """Per process: die with the pipeline (:func:`die_with_parent`), leave Ctrl-C to it (it kills
    the workers), torch's thread count; in quiet mode no transformers progress bars or info."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from rlhfkit.quiet import silence_noise; silence_noise()  # noqa: E702 (no Lightning tips, no dependencies' deprecations)
    import torch
    import transformers

    if torch_threads:
        torch.set_num_threads(int(torch_threads))
    if quiet:
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        # every package Lightning logs from ("GPU available": rank_zero; "Seed set to":
        # lightning_fabric.utilities.seed), after importing them: their __init__ sets INFO
        import lightning_fabric  # noqa: F401
        import pytorch_lightning  # noqa: F401

        for package in ("pytorch_lightning", "lightning", "lightning_fabric", "lightning_utilities"):
            logging.getLogger(package).setLevel(logging.WARNING)


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


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes and wait for them, then shut the pool down.

    Why: ``shutdown(wait=False, cancel_futures=True)`` only drops tasks not yet started; a stage
    already running would go on computing (and writing into its cache directory) after the
    pipeline gave up on it. Its outputs are worthless without DONE, so SIGKILL, not SIGTERM
    (which Lightning catches)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=10)
    pool.shutdown(wait=False, cancel_futures=True)


LOCK_MODES = ("wait", "fail")


def lock_mode(pcfg: DictConfig) -> str:
    """``cache_lock``: what to do when another process is computing a stage (wait, the default, or fail)."""
    mode = str(pcfg.get("cache_lock") or "wait")
    if mode not in LOCK_MODES:
        raise ConfigError(f"cache_lock: expected one of {', '.join(LOCK_MODES)}, got '{mode}'")
    return mode


def named_error(name: str, stage_dir: Path, err: BaseException) -> BaseException:
    """A user error (NaN loss, missing file, bad config) of one stage, its message prefixed with the
    pipeline stage and its directory: the CLI prints it as the one line of ``rlhfkit: error: ...``,
    which should say which of the ten stages broke. Other errors (bugs) keep their traceback as they are."""
    from rlhfkit.user_errors import USER_ERRORS

    if not isinstance(err, USER_ERRORS):
        return err
    try:
        return type(err)(f"pipeline stage {name} failed, not cached ({stage_dir}): {err}")
    except TypeError:  # an error type that wants more than a message
        return err


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
    ``pcfg.workers``: processes running stages at the same time; ``pcfg.cache_lock``: wait for
    (or fail on) a stage another process is computing.
    """

    def __init__(self, pcfg: DictConfig, nodes: list[Node], cache: StageCache, run_dir: Path,
                 echo: Callable[[str], None] = say) -> None:
        self.pcfg, self.nodes, self.cache, self.run_dir, self.echo = pcfg, nodes, cache, Path(run_dir), echo
        self.results: dict[str, NodeResult] = {}
        self.ctx = Context(pcfg, self.results, self.run_dir)
        self.lock_mode = lock_mode(pcfg)
        self._announced: set[str] = set()  # stages whose "waiting for pid N" line was printed

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
            key = self.cache.key(resolved(cfg), input_keys)
        else:
            key = self.cache.key({"step": node.name, "settings": node.settings(self.ctx)}, input_keys)
        return _Job(node, key, self.cache.dir(node.name, key), input_keys, tag), cfg

    def _cached(self, job: _Job) -> bool:
        if not self.cache.is_done(job.node.name, job.key):
            return False
        meta = self.cache.meta(job.node.name, job.key)
        self.results[job.node.name] = NodeResult(job.node.name, job.key, job.dir, True, float(meta.get("wall_s", 0.0)),
                                                 meta.get("metrics", {}), job.node.stage)
        self.echo(f"{job.tag}: cached, skipped (ran in {self.results[job.node.name].wall_s:.1f} s) -> {job.dir}")
        return True

    def _take_lock(self, job: _Job, block: bool) -> CacheLock | None:
        """The lock of the job's directory, now ours; None while another process holds it and
        ``block`` is False (the parallel scheduler polls). ``cache_lock: fail`` raises instead of
        waiting; ``wait`` prints one line naming the owner, once per stage."""
        lock = self.cache.lock(job.node.name, job.key)
        if lock.try_acquire():
            return lock
        if self.lock_mode == "fail":
            raise locked_error(lock, job.dir)
        if job.node.name not in self._announced:
            self._announced.add(job.node.name)
            self.echo(f"{job.tag}: waiting for {lock.owner().describe()}, which is computing it -> {job.dir}")
        if not block:
            return None
        lock.acquire()
        return lock

    def _start(self, job: _Job, lock: CacheLock) -> None:
        label = f"stage={job.node.stage}" if job.node.stage else "python step"
        self.echo(f"{job.tag}: running ({label}) -> {job.dir}")
        self.cache.prepare(job.node.name, job.key, lock)
        job.started = time.perf_counter()

    def _finish(self, job: _Job, metrics: dict[str, float], wall: float, lock: CacheLock) -> None:
        metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        self.cache.finish(job.node.name, job.key, {"wall_s": wall, "metrics": metrics, "inputs": job.input_keys,
                                                   "train_stage": job.node.stage}, lock)
        self.results[job.node.name] = NodeResult(job.node.name, job.key, job.dir, False, wall, metrics, job.node.stage)
        self.echo(f"{job.tag}: done in {wall:.1f} s")
        sys.stdout.flush()

    def _failed(self, job: _Job, err: BaseException, lock: CacheLock) -> BaseException:
        """Say so, leave a FAILED marker (no DONE: the next run redoes the stage); the error to raise."""
        self.echo(f"{job.tag}: FAILED after {time.perf_counter() - job.started:.1f} s: {type(err).__name__}: {err}")
        try:
            self.cache.fail(job.node.name, job.key, f"{type(err).__name__}: {err}", lock)
        except OSError:  # a full disk must not hide the stage's own error
            pass
        return named_error(job.node.name, job.dir, err)

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
            lock = self._take_lock(job, block=True)
            if self._cached(job):  # the process we waited for has just finished it
                lock.release()
                continue

            def here(job: _Job = job, node: Node = node, cfg: DictConfig | None = cfg) -> tuple[dict[str, float], float]:
                self._start(job, lock)
                if cfg is not None:
                    return do_train(set_output_dir(cfg, job.dir), str(job.dir))
                return do_python(node.func, self.ctx, str(job.dir))

            self._settle(job, lock, here)
        return self.results

    def _settle(self, job: _Job, lock: CacheLock, outcome: Callable[[], tuple[dict[str, float], float]]) -> None:
        """``outcome()`` (the stage run here, or its worker's result), then DONE or FAILED; the lock
        is released last, whatever happened."""
        try:
            try:
                metrics, wall = outcome()
            except BaseException as err:
                named = self._failed(job, err, lock)
                if named is err:
                    raise
                raise named from err
            self._finish(job, metrics, wall, lock)
        finally:
            lock.release()

    def _submit_ready(self, pool: ProcessPoolExecutor, pending: list[Node], prepared: dict[str, tuple[_Job, DictConfig | None]],
                      running: dict[Future, tuple[_Job, CacheLock]], workers: int, index: dict[str, int]) -> bool:
        """Start each pending node whose inputs are done, up to ``workers`` at once (a cached one is
        recorded). A node whose directory another process is computing stays pending, to be polled
        again: blocking on it would hold up the other ready stages. True when such a node waits."""
        blocked = False
        for node in list(pending):
            self._check_inputs(node, set(self.results))
            if len(running) >= workers:
                break
            if not all(dep in self.results for dep in node.inputs):
                continue
            if node.name not in prepared:  # composed (and keyed) once, however long it waits
                prepared[node.name] = self._prepare(node, index[node.name])
            job, cfg = prepared[node.name]
            if self._cached(job):
                pending.remove(node)
                continue
            lock = self._take_lock(job, block=False)
            if lock is None:
                blocked = True
                continue
            pending.remove(node)
            if self._cached(job):  # finished by the process that held the lock
                lock.release()
                continue
            try:
                self._start(job, lock)
                if cfg is not None:
                    future = pool.submit(do_train, resolved(set_output_dir(cfg, job.dir)), str(job.dir))
                else:
                    future = pool.submit(do_python, node.func, self.ctx, str(job.dir))
            except BaseException:
                lock.release()
                raise
            running[future] = (job, lock)
        return blocked

    def _stop(self, pool: ProcessPoolExecutor, running: dict[Future, tuple[_Job, CacheLock]]) -> None:
        """After a failure or Ctrl-C: kill the workers first (nothing may write into a directory
        once its lock is free), then release the running stages' locks; they stay without DONE."""
        stop_workers(pool)
        for job, lock in running.values():
            self.echo(f"{job.tag}: stopped, not cached -> {job.dir}")
            lock.release()
        running.clear()

    def _run_parallel(self, workers: int) -> dict[str, NodeResult]:
        index = {n.name: i for i, n in enumerate(self.nodes, 1)}
        pending = list(self.nodes)
        prepared: dict[str, tuple[_Job, DictConfig | None]] = {}
        running: dict[Future, tuple[_Job, CacheLock]] = {}
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=worker_setup,
                                   initargs=(self.pcfg.get("torch_threads"), bool(self.pcfg.get("quiet", True)),
                                             os.getpid()))
        try:
            while pending or running:
                blocked = self._submit_ready(pool, pending, prepared, running, workers, index)
                if not running:
                    if blocked:
                        time.sleep(LOCK_POLL_S)
                    elif pending and not any(all(d in self.results for d in n.inputs) for n in pending):
                        raise RuntimeError(f"pipeline stages {[n.name for n in pending]} wait on inputs that never ran")
                    continue
                done, _ = wait(list(running), timeout=LOCK_POLL_S if blocked else None, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: f.exception() is not None):  # keep the results, then fail
                    job, lock = running.pop(future)
                    self._settle(job, lock, future.result)
        except BaseException:
            self._stop(pool, running)
            raise
        pool.shutdown(wait=True)
        return self.results
