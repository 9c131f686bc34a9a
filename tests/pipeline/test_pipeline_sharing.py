"""`rlhfkit pipeline experiment=debug` sharing a runs dir: two at once compute each stage once, a
moved runs dir is still cached, workers die with a killed pipeline, a failing stage is not cached."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from _helpers import REPO_ROOT, run_cli

from rlhfkit.pipeline.cache import DONE, FAILED, LOCK_SUFFIX

pytestmark = pytest.mark.slow

STAGES = ("world", "pretrain_small", "pretrain_large", "sft_small", "sft_large", "rankings", "rm", "ppo", "ptx",
          "overopt", "evaluate")
# what a stage computes: equal whoever ran it (the wall times are not)
FIGURES = ("win_rates", "compute_flops", "hallucination_rate", "toxicity_rate_plain", "pretrain_loss", "gold_score",
           "labeler_agreement", "rm_accuracy")
# the debug sft_small with an LR that makes the first step's gradient NaN (the finiteness guard stops it)
BAD_SFT = ('stages.sft_small.overrides=["stage.max_epochs=1","stage.batch_size=32","stage.max_length=64",'
           '"stage.n_samples=1","stage.max_new_tokens=4","stage.lr=1e6"]')


def pipeline(runs_dir: Path, *args: str, stdout=subprocess.PIPE, stderr=subprocess.PIPE) -> subprocess.Popen:
    """The debug pipeline in a fresh process (and process group), with Ctrl-C as a terminal has it.

    Why the SIGINT handler around the start: a shell without job control starts background jobs
    with SIGINT ignored, and an ignored signal stays ignored across exec, so the Ctrl-C test would
    pass or fail by how pytest was started. Handled (not ignored) here, it is the default there."""
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen([sys.executable, "-m", "rlhfkit.cli", "pipeline", "experiment=debug",
                                 f"paths.runs_dir={runs_dir}", *args], cwd=REPO_ROOT, env=env, stdout=stdout,
                                stderr=stderr, text=True, start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, previous)


def report_of(stdout: str) -> dict:
    path = Path(stdout.strip().splitlines()[-1])
    assert path.name == "report.json" and path.exists(), stdout[-2000:]
    return json.loads(path.read_text())


def stage_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("[pipeline] (")]


def stage_dirs(runs_dir: Path, stage: str) -> list[Path]:
    return sorted(p for p in (runs_dir / "cache").glob(f"{stage}-*") if p.is_dir())


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    """One debug pipeline alone: (runs dir, report)."""
    root = tmp_path_factory.mktemp("single")
    result = run_cli("pipeline", "experiment=debug", f"paths.runs_dir={root}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, report_of(result.stdout)


def test_two_pipelines_on_one_runs_dir_compute_each_stage_once(single_run, tmp_path):
    _, alone = single_run
    runs = tmp_path / "runs"
    outs = [tmp_path / "a.out", tmp_path / "b.out"]
    with outs[0].open("w") as a, outs[1].open("w") as b, (tmp_path / "a.err").open("w") as a_err, \
            (tmp_path / "b.err").open("w") as b_err:
        procs = [pipeline(runs, stdout=a, stderr=a_err), pipeline(runs, stdout=b, stderr=b_err)]
        codes = [proc.wait(timeout=300) for proc in procs]
    assert codes == [0, 0], [(tmp_path / f"{n}.err").read_text()[-3000:] for n in "ab"]
    stdouts = [out.read_text() for out in outs]
    reports = [report_of(stdout) for stdout in stdouts]
    assert reports[0]["stage_dirs"] == reports[1]["stage_dirs"]
    for stage in STAGES:
        assert len(stage_dirs(runs, stage)) == 1, stage
        assert (stage_dirs(runs, stage)[0] / DONE).exists(), stage
        lines = [line for stdout in stdouts for line in stage_lines(stdout) if f") {stage}: " in line]
        assert sum(": done in" in line for line in lines) == 1, lines  # computed by one of the two
        assert sum(": cached, skipped" in line for line in lines) == 1, lines  # the other took it from the cache
    assert not list((runs / "cache").glob(f"*{LOCK_SUFFIX}"))
    for stage in ("ppo", "ptx"):
        stage_dir = stage_dirs(runs, stage)[0]
        total_steps = yaml.safe_load((stage_dir / "resolved_config.yaml").read_text())["stage"]["total_steps"]
        history = [line for line in (stage_dir / "ppo_history.jsonl").read_text().splitlines() if line.strip()]
        assert len(history) == total_steps, (stage, len(history), total_steps)
    for report in reports:
        for figure in FIGURES:
            assert report[figure] == alone[figure], figure


def test_a_moved_runs_dir_is_still_cached(single_run, tmp_path):
    root, alone = single_run
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    moved = tmp_path / "elsewhere" / "deeper" / "runs"
    moved.parent.mkdir(parents=True)
    shutil.move(str(copy), str(moved))
    result = run_cli("pipeline", "experiment=debug", f"paths.runs_dir={moved}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = stage_lines(result.stdout)
    assert len(lines) == len(STAGES) and all(": cached, skipped" in line and str(moved) in line for line in lines), lines
    report = report_of(result.stdout)
    assert report["cached_stages"] == list(STAGES) and report["win_rates"] == alone["win_rates"]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc: its children, theirs, ...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = [], [pid]
    while frontier:
        below = [child for child, parent in parents.items() if parent in frontier]
        out += below
        frontier = below
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="ignore")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever adopted it to reap it counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_workers_die_with_the_pipeline(tmp_path, sig):
    proc = pipeline(tmp_path, "workers=2")
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        running = any(re.search(r"\) pretrain_(small|large): running", line) for line in lines)
        workers = [p for p in descendants(proc.pid) if "spawn_main" in cmdline(p)]
        if running and workers:
            break
        time.sleep(0.1)
    assert workers and proc.poll() is None, "".join(lines)[-3000:]
    children = descendants(proc.pid)
    # the parent alone: a kill -9, or a KeyboardInterrupt (or any error) in the parent that the
    # workers know nothing of (a terminal's Ctrl-C reaches them too, and they leave it to the parent)
    os.kill(proc.pid, sig)
    signalled = time.monotonic()
    proc.wait(timeout=60)
    exited_after = time.monotonic() - signalled
    assert proc.returncode != 0
    reader.join(timeout=10)  # its last lines
    if sig == signal.SIGINT:  # it stopped its running stages, it did not wait for them to finish
        assert exited_after < 5, exited_after
        assert any(": stopped, not cached" in line for line in lines), "".join(lines)[-3000:]
    gone_by = time.monotonic() + 5
    while any(alive(p) for p in children) and time.monotonic() < gone_by:
        time.sleep(0.05)
    left = [p for p in children if alive(p)]
    for pid in left:  # leave no stray process behind a failed test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running after the pipeline died: {left}"


def test_a_failing_stage_is_not_cached_and_named_in_one_line(tmp_path):
    for workers in (2, 1):  # in a worker process, then in the pipeline's own
        result = run_cli("pipeline", "experiment=debug", f"paths.runs_dir={tmp_path}", f"workers={workers}", BAD_SFT,
                         timeout=300)
        assert result.returncode == 2, (workers, result.stderr[-3000:])
        errors = [line for line in result.stderr.splitlines() if line.startswith("rlhfkit: error:")]
        assert len(errors) == 1, result.stderr[-3000:]
        assert "sft_small" in errors[0] and re.search(r"\b(loss|gradient norm|weights?)\b[^;]* (nan|inf)\b", errors[0]), errors
        [failed] = stage_dirs(tmp_path, "sft_small")
        assert not (failed / DONE).exists() and (failed / FAILED).exists()
        assert f"{failed.name}{LOCK_SUFFIX}" not in os.listdir(tmp_path / "cache")
        assert any(") sft_small: FAILED" in line for line in stage_lines(result.stdout))
        assert not any(") rm: running" in line for line in stage_lines(result.stdout))  # nothing downstream ran
    result = run_cli("pipeline", "experiment=debug", f"paths.runs_dir={tmp_path}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    good = [d for d in stage_dirs(tmp_path, "sft_small") if d != failed]
    assert len(good) == 1 and (good[0] / DONE).exists() and not (failed / DONE).exists()
