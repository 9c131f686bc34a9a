"""The lock of a stage's cache directory: another process holding it is seen (with its pid), never
wiped under it; the pipeline waits for it (then takes the result if DONE) or, with
``cache_lock: fail``, stops with one line; the parallel scheduler lets other stages go on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _helpers import REPO_ROOT
from omegaconf import OmegaConf

from rlhfkit.pipeline import executor
from rlhfkit.pipeline.cache import DONE, FAILED, CacheLock, CacheLockedError, StageCache
from rlhfkit.pipeline.executor import PipelineRunner
from rlhfkit.pipeline.stage_graph import Node

# Takes the lock of <root>/<stage>-<key>, prepares the directory and leaves a partial file in it,
# says "held", waits for stdin to close, then (if asked) writes DONE, and releases.
HOLDER = textwrap.dedent("""
    import sys
    from rlhfkit.pipeline.cache import StageCache
    root, stage, key, finish = sys.argv[1:5]
    cache = StageCache(root)
    lock = cache.lock(stage, key)
    assert lock.try_acquire(), "the test's lock is taken already"
    cache.prepare(stage, key, lock)
    (cache.dir(stage, key) / "partial.bin").write_text("x")
    print("held", flush=True)
    sys.stdin.read()
    if finish == "1":
        cache.finish(stage, key, {"wall_s": 0.5, "metrics": {"m": 2.0}}, lock)
    lock.release()
""")


class Holder:
    """Another process owning one stage directory until :meth:`release` (stdin closed)."""

    def __init__(self, root: Path, stage: str, key: str, finish: bool = False) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), stage, key, "1" if finish else "0"],
                                     cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0

    def release_after(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.release)
        timer.start()
        return timer


def step_key(cache: StageCache, name: str) -> str:
    """The key the runner gives a python step with no settings and no inputs."""
    return cache.key({"step": name, "settings": {}}, {})


def writer(calls: list[str]):
    def func(ctx, stage_dir: Path) -> dict[str, float]:
        calls.append(stage_dir.name.split("-")[0])
        (stage_dir / "out.txt").write_text("ok")
        return {"m": 1.0}
    return func


def runner(cache: StageCache, nodes: list[Node], lines: list[str], tmp_path: Path, **pcfg) -> PipelineRunner:
    return PipelineRunner(OmegaConf.create({"workers": 1, **pcfg}), nodes, cache, tmp_path / "run", echo=lines.append)


def test_a_lock_held_by_another_process_names_it_and_its_directory_is_never_wiped(tmp_path):
    cache = StageCache(tmp_path / "cache")
    holder = Holder(cache.root, "sft", "k1")
    try:
        lock = cache.lock("sft", "k1")
        assert lock.path == cache.root / "sft-k1.lock" and not lock.try_acquire()
        assert lock.owner().pid == holder.proc.pid
        with pytest.raises(CacheLockedError) as err:
            cache.prepare("sft", "k1")  # without its lock, prepare refuses: the holder is computing there
        assert (cache.dir("sft", "k1") / "partial.bin").exists()
        message = str(err.value)
        assert "\n" not in message and message.startswith("cache_lock") and str(cache.dir("sft", "k1")) in message
        assert f"pid {holder.proc.pid}" in message
        with pytest.raises(RuntimeError):
            cache.finish("sft", "k1", {}, lock)  # DONE only from the lock's owner
        assert not cache.is_done("sft", "k1")
    finally:
        holder.release()
    assert not (cache.root / "sft-k1.lock").exists()  # released: no lock file left behind
    assert lock.try_acquire() and lock.owner().pid == os.getpid()
    lock.release()


def test_two_locks_in_one_process_exclude_each_other_and_a_dead_owners_lock_is_free(tmp_path):
    first, second = CacheLock(tmp_path / "a.lock"), CacheLock(tmp_path / "a.lock")
    assert first.try_acquire() and not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()
    killed = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "cache"), "rm", "k", "0"], cwd=REPO_ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert killed.stdout.readline().strip() == "held"
    killed.kill()
    killed.wait()
    stale = StageCache(tmp_path / "cache").lock("rm", "k")
    assert stale.path.exists() and stale.try_acquire()  # the kernel dropped the flock with its owner
    stale.release()


def test_fail_mode_stops_with_one_line(tmp_path):
    cache, lines, calls = StageCache(tmp_path / "cache"), [], []
    key = step_key(cache, "world")
    holder = Holder(cache.root, "world", key)
    try:
        with pytest.raises(CacheLockedError) as err:
            runner(cache, [Node("world", func=writer(calls))], lines, tmp_path, cache_lock="fail").run()
    finally:
        holder.release()
    assert calls == [] and f"pid {holder.proc.pid}" in str(err.value) and str(cache.dir("world", key)) in str(err.value)
    with pytest.raises(Exception, match="cache_lock: expected one of wait, fail"):
        runner(cache, [], lines, tmp_path, cache_lock="sometimes")


def test_wait_mode_waits_for_the_owner_then_runs_the_stage_it_left_unfinished(tmp_path):
    cache, lines, calls = StageCache(tmp_path / "cache"), [], []
    key = step_key(cache, "world")
    holder = Holder(cache.root, "world", key)
    holder.release_after(1.0)
    start = time.monotonic()
    results = runner(cache, [Node("world", func=writer(calls))], lines, tmp_path).run()
    assert time.monotonic() - start >= 0.9
    assert lines[0] == f"(1/1) world: waiting for pid {holder.proc.pid}, which is computing it -> {cache.dir('world', key)}"
    assert calls == ["world"] and not results["world"].cached and cache.is_done("world", key)
    assert not (cache.dir("world", key) / "partial.bin").exists()  # the owner's leftover, wiped under our lock


def test_wait_mode_takes_the_result_when_the_owner_finished_it(tmp_path):
    cache, lines, calls = StageCache(tmp_path / "cache"), [], []
    key = step_key(cache, "world")
    holder = Holder(cache.root, "world", key, finish=True)
    holder.release_after(0.5)
    results = runner(cache, [Node("world", func=writer(calls))], lines, tmp_path).run()
    assert calls == [] and results["world"].cached and results["world"].metrics == {"m": 2.0}
    assert "waiting for pid" in lines[0] and "cached, skipped" in lines[1] and len(lines) == 2


class InlinePool(ThreadPoolExecutor):
    """The process pool's interface on threads: the scheduler's logic without spawning."""

    def __init__(self, workers: int, mp_context=None, initializer=None, initargs=()) -> None:
        super().__init__(workers)


def test_the_parallel_scheduler_runs_other_ready_stages_while_one_waits(tmp_path, monkeypatch):
    monkeypatch.setattr(executor, "ProcessPoolExecutor", InlinePool)
    cache, lines, calls = StageCache(tmp_path / "cache"), [], []
    nodes = [Node("a", func=writer(calls)), Node("b", func=writer(calls)), Node("c", ("b",), func=writer(calls))]
    holder = Holder(cache.root, "a", step_key(cache, "a"))
    holder.release_after(1.5)
    results = runner(cache, nodes, lines, tmp_path, workers=2).run()
    assert set(results) == {"a", "b", "c"} and calls.index("c") < calls.index("a")  # b and c did not wait for a
    assert sum("waiting for pid" in line for line in lines) == 1
    for name in ("a", "b", "c"):
        assert cache.is_done(name, results[name].key) and not (cache.dir(name, results[name].key) / FAILED).exists()
    assert sorted(p.name for p in cache.root.iterdir() if not p.is_dir()) == []  # no lock file left
    assert (cache.dir("a", results["a"].key) / DONE).read_text().strip() == results["a"].key


def test_a_failing_step_is_marked_failed_not_done_and_named_in_the_error(tmp_path):
    from rlhfkit.errors import NonFiniteError

    def broken(ctx, stage_dir):
        raise NonFiniteError("stage sft: step 1: the loss is nan")

    cache, lines = StageCache(tmp_path / "cache"), []
    with pytest.raises(NonFiniteError, match=r"^pipeline stage sft_small failed, not cached \(.*\): stage sft: step 1"):
        runner(cache, [Node("sft_small", func=broken)], lines, tmp_path).run()
    key = step_key(cache, "sft_small")
    assert not cache.is_done("sft_small", key) and "the loss is nan" in (cache.dir("sft_small", key) / FAILED).read_text()
    assert not cache.lock("sft_small", key).path.exists()
    assert "FAILED" in lines[-1]
