"""Throughput of one PPO step of rlhfkit's own PPO stage, per phase, against the machine's matmul peak
(and, with --compare-trl, against TRL's PPO trainer on the identical config, in the same run).

    python benchmarks/ppo_step.py --config small
    python benchmarks/ppo_step.py --config medium --compare-trl
    python benchmarks/ppo_step.py --config medium --precision bf16 --compare-trl

One step = one PPO iteration of ``rlhfkit.stages.ppo.PPOModule.training_step`` under
``Trainer.fit``: rollout generation (KV cache), the policy / reference / value forward passes, the
reward model, KL-shaped rewards and GAE advantages, and the PPO epochs. ``--burn-in`` steps run
first (not timed), then ``--steps`` timed ones; with ``--rounds`` > 1 fresh runs repeat, rlhfkit and
TRL alternating, and every figure is the median over all timed steps.

tokens/s = B * T response tokens per step / median step seconds. FLOPs per phase: benchmarks/flops.py.
The matmul peak (fp32 and bf16) is measured in the same process, before and after the runs, with
the same thread count (best of both). The last line printed is one JSON object with everything.
See benchmarks/README.md for results and the profile.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

import flops as flops_model  # noqa: E402
from common import (CONFIGS, PeakMemory, make_prompts, make_tokenizer, make_weights, max_rss_mib,  # noqa: E402
                    set_threads, tune_malloc)
from peak import matmul_peaks  # noqa: E402

PHASES = ("generate", "policy_forward", "ref_forward", "value_forward", "reward", "advantages", "ppo_epochs")


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "rlhfkit", "benchmarks"], cwd=HERE.parent,
                               capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "pytorch-lightning", "rlhfkit", "trl", "accelerate"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def device_name(device: str = "cpu") -> str:
    if device == "cuda":
        return f"cuda: {torch.cuda.get_device_name()}, {torch.cuda.device_count()} device(s)"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {cpu}, {os.cpu_count()} logical cores"


def _peak_memory(runs: list[dict], isolated: bool) -> dict[str, float | None]:
    """The largest figures over a framework's fresh runs (MiB): RSS peak and added, CUDA max allocated;
    isolated runs also the peak of their own process (VmHWM: imports and weights included)."""
    cuda = [r["cuda_max_allocated_mib"] for r in runs if r["cuda_max_allocated_mib"] is not None]
    out = {"rss_peak_mib": max(r["rss_peak_mib"] for r in runs), "rss_added_mib": max(r["rss_added_mib"] for r in runs),
           "cuda_max_allocated_mib": max(cuda) if cuda else None, "own_process": isolated}
    if isolated:
        out["process_max_rss_mib"] = max(r["process_max_rss_mib"] for r in runs)
    return out


@dataclass(frozen=True)
class RunJob:
    """Everything one fresh run of either framework needs; picklable, so a spawned process can
    rebuild the same tokenizer, prompts and weights (all deterministic in ``seed``)."""

    config: str
    precision: str
    seed: int
    burn_in: int
    steps: int
    fast_kernels: dict
    device: str
    rm_path: str
    trl_dir: str
    threads: int
    malloc_tuning: bool
    old_logprobs: str = "forward"


def run_here(framework: str, job: RunJob) -> tuple[list[dict], dict]:
    """One fresh run of ``framework`` in this process: its step records and PeakMemory figures."""
    import rlhfkit_runner

    cfg = CONFIGS[job.config]
    tokenizer = make_tokenizer(cfg)
    prompts = make_prompts(cfg, 4 * cfg.batch, job.seed)
    weights = make_weights(cfg, tokenizer, job.seed)
    with PeakMemory(job.device) as memory:
        if framework == "rlhfkit":
            steps = rlhfkit_runner.run(cfg, weights, tokenizer, prompts, Path(job.rm_path), job.burn_in, job.steps,
                                       job.precision, job.seed, fast_kernels=job.fast_kernels, device=job.device,
                                       old_logprobs=job.old_logprobs)
        else:
            import trl_runner

            steps = trl_runner.run(cfg, weights, tokenizer, prompts, Path(job.trl_dir), job.burn_in, job.steps,
                                   job.precision, job.seed, device=job.device)
    return steps, memory.figures() | {"process_max_rss_mib": max_rss_mib()}


def _isolated_child(framework: str, job: RunJob) -> tuple[list[dict], dict]:
    set_threads(job.threads)
    if job.malloc_tuning:
        tune_malloc()
    return run_here(framework, job)


def run_isolated(framework: str, job: RunJob) -> tuple[list[dict], dict]:
    """One fresh run in a fresh process (spawned: no memory, allocator cache or compiled code shared
    with the other framework's runs), so each framework's peak RSS is its own."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_isolated_child, (framework, job))


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def arg_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="small")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                    help="bf16 = bf16 autocast (Lightning bf16-mixed; TRL bf16=True), fp32 master weights")
    ap.add_argument("--burn-in", type=int, default=1, help="untimed steps before the timed ones, per run (>= 1)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per run")
    ap.add_argument("--rounds", type=int, default=2, help="fresh runs (rlhfkit and TRL alternating)")
    ap.add_argument("--compare-trl", action="store_true", help="also time TRL's PPO trainer, alternating")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default, all cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-malloc-tuning", action="store_true",
                    help="leave glibc's allocator at its defaults (see common.tune_malloc; applies to both frameworks)")
    ap.add_argument("--profile", action="store_true",
                    help="after the runs, profile the rlhfkit steps (torch.profiler) and print the top operators")
    ap.add_argument("--ablate", default="", help="comma-separated stage speed-ups to switch off for a before/after "
                    "measurement (rlhfkit side only): preallocated_kv_cache, lm_head_last_only, fused_gelu, "
                    "onednn_linear, all; "
                    "see benchmarks/ablations.py")
    ap.add_argument("--isolate", action="store_true",
                    help="every fresh run in its own spawned process: each framework's peak memory is its own "
                    "(in one process the allocator's cache and the imports are shared)")
    ap.add_argument("--compile", action="store_true",
                    help="rlhfkit with stage.fast_kernels.torch_compile=true (inductor for the scoring passes and "
                    "PPO epochs; compiling happens in the burn-in steps, which are not timed)")
    ap.add_argument("--old-logprobs", choices=("forward", "sampler"), default="forward",
                    help="rlhfkit's stage.old_logprobs: forward (the policy's scoring pass, the default) or sampler "
                         "(the sampler's logprobs, as TRL takes them from generate)")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the JSON result here")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where both frameworks run (cuda: one GPU; the peaks are measured there)")
    return ap


def main(argv: list[str] | None = None) -> dict:
    ap = arg_parser()
    args = ap.parse_args(argv)
    if args.burn_in < 1 or args.steps < 1 or args.rounds < 1:
        ap.error("--burn-in, --steps and --rounds must be >= 1")

    import rlhfkit_runner

    import ablations

    fast_kernels = ablations.switches_off([a.strip() for a in args.ablate.split(",") if a.strip()])
    ablated = sorted(fast_kernels)
    if args.compile:
        fast_kernels["torch_compile"] = True

    threads = set_threads(args.threads)
    malloc_tuned = False if args.no_malloc_tuning else tune_malloc()
    cfg = CONFIGS[args.config]
    peaks_before = {"fp32": matmul_peaks(torch.float32, device=args.device), "bf16": matmul_peaks(torch.bfloat16, device=args.device)}
    tokenizer = make_tokenizer(cfg)
    prompts = make_prompts(cfg, 4 * cfg.batch, args.seed)
    weights = make_weights(cfg, tokenizer, args.seed)
    print(f"# PPO step benchmark: config={cfg.name} precision={args.precision} threads={threads} malloc_tuning={malloc_tuned} "
          f"burn_in={args.burn_in} steps={args.steps} rounds={args.rounds}"
          + (f" ablated={','.join(ablated)}" if ablated else "") + (" torch_compile=on" if args.compile else "")
          + (f" old_logprobs={args.old_logprobs}" if args.old_logprobs != "forward" else ""), flush=True)

    ours, theirs, run_order, peaks_between, round_ratios = [], [], [], [], []
    memories: dict[str, list[dict]] = {"rlhfkit": [], "trl": []}  # per fresh run (PeakMemory)
    with tempfile.TemporaryDirectory() as tmp:
        rm_path = rlhfkit_runner.save_reward_model(weights, tokenizer, Path(tmp) / "reward_model")
        job = RunJob(cfg.name, args.precision, args.seed, args.burn_in, args.steps, fast_kernels, args.device,
                     str(rm_path), str(Path(tmp) / "trl"), threads, malloc_tuned, args.old_logprobs)
        run = run_isolated if args.isolate else run_here
        for r in range(args.rounds):
            if r > 0:  # the peak between rounds too: the best of all probes is the machine's peak
                peaks_between.append({"fp32": matmul_peaks(torch.float32, device=args.device), "bf16": matmul_peaks(torch.bfloat16, device=args.device)})
            start = time.perf_counter()
            steps, memory = run("rlhfkit", job)
            ours += steps
            memories["rlhfkit"].append(memory)
            run_order.append(("rlhfkit", time.perf_counter() - start))
            print(f"# round {r + 1}: rlhfkit steps {[round(s['step_s'], 3) for s in ours[-args.steps:]]}", flush=True)
            if args.compare_trl:
                start = time.perf_counter()
                steps, memory = run("trl", job)
                theirs += steps
                memories["trl"].append(memory)
                run_order.append(("trl", time.perf_counter() - start))
                ratio = median([s["step_s"] for s in theirs[-args.steps:]]) / median([s["step_s"] for s in ours[-args.steps:]])
                round_ratios.append(ratio)
                print(f"# round {r + 1}: trl     steps {[round(s['step_s'], 3) for s in theirs[-args.steps:]]}"
                      f"  (rlhfkit / TRL this round: {ratio:.2f}x)", flush=True)
        if args.profile:
            prof = rlhfkit_runner.Profile(args.burn_in)
            rlhfkit_runner.run(cfg, weights, tokenizer, prompts, rm_path, args.burn_in, args.steps, args.precision,
                               args.seed, profile=prof, fast_kernels=fast_kernels, old_logprobs=args.old_logprobs)
            print(f"# profile of {args.steps} rlhfkit steps (self CPU time):\n{prof.table}\n{prof.table_by_shape}", flush=True)
    peaks_after = {"fp32": matmul_peaks(torch.float32, device=args.device), "bf16": matmul_peaks(torch.bfloat16, device=args.device)}
    probes = [peaks_before, *peaks_between, peaks_after]
    peaks = {k: max(v for probe in probes for v in probe[k].values()) for k in peaks_before}
    mm_fp32 = max(probe["fp32"]["torch.mm"] for probe in probes)
    peak = peaks[args.precision]

    tokens_per_step = cfg.batch * cfg.response
    step_s = median([s["step_s"] for s in ours])
    phase_flops = flops_model.phase_flops(cfg)
    if args.old_logprobs == "sampler":  # no policy scoring pass: pi_old's logprobs come from the sampler
        phase_flops["policy_forward"] = 0.0
    total_flops = sum(phase_flops.values())
    phases = {}
    for name in PHASES:
        t = median([s["phases"].get(name, 0.0) for s in ours])
        f = phase_flops[name]
        phases[name] = {"s_median": t, "gflops": f / 1e9, "gflop_per_s": (f / t / 1e9) if t > 0 else 0.0,
                        "frac_peak": (f / t / peak) if t > 0 else 0.0}
    phase_sum = median([sum(s["phases"].get(n, 0.0) for n in PHASES) for s in ours])
    result = {
        "config": cfg.name,
        "config_params": cfg.as_dict(),
        "precision": args.precision,
        "threads": threads,
        "malloc_tuning": malloc_tuned,
        "ablated": ablated,
        "torch_compile": args.compile,
        "old_logprobs": args.old_logprobs,
        "device": device_name(args.device),
        "peak_memory": {framework: _peak_memory(runs, args.isolate) for framework, runs in memories.items() if runs},
        "versions": versions(),
        "commit": commit(),
        "burn_in": args.burn_in, "steps": args.steps, "rounds": args.rounds,
        "tokens_per_step": tokens_per_step,
        "step_s_median": step_s,
        "step_s_all": [s["step_s"] for s in ours],
        "step_cpu_s_median": median([s["cpu_s"] for s in ours]),  # process CPU time: ~threads x wall when undisturbed
        "tokens_per_s": tokens_per_step / step_s,
        "phases": phases,
        "phase_sum_s_median": phase_sum,
        "other_s_median": step_s - phase_sum,
        "flops_per_step": total_flops,
        "gflop_per_s": total_flops / step_s / 1e9,
        "peak_flop_per_s": peaks,
        "run_seconds": run_order,  # (framework, seconds) of each fresh run, in order, burn-in and set-up included
        "peak_flop_per_s_probes": probes,  # each probe: per dtype, per GEMM library (before, between rounds, after)
        "frac_peak_step": total_flops / step_s / peak,
        "step_over_flops_bound": step_s / (total_flops / peak),
    }
    if args.compare_trl:
        trl_step = median([s["step_s"] for s in theirs])
        result |= {"trl_step_s_median": trl_step, "trl_step_s_all": [s["step_s"] for s in theirs],
                   "trl_step_cpu_s_median": median([s["cpu_s"] for s in theirs]),
                   "trl_tokens_per_s": tokens_per_step / trl_step, "speedup_vs_trl": trl_step / step_s,
                   "speedup_vs_trl_per_round": round_ratios}

    print(f"\nconfig {cfg.name}: B={cfg.batch} T={cfg.response} P={cfg.prompt} GPT-2 {cfg.n_layer}x{cfg.width} "
          f"heads={cfg.heads} V={cfg.vocab}, {cfg.ppo_epochs} epochs x {cfg.minibatches} minibatch, "
          f"{args.precision}, {threads} threads, {device_name(args.device)}")
    print(f"matmul peak (2048^3, best of torch.mm/oneDNN, {len(probes)} probes): fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s, "
          f"bf16 {peaks['bf16'] / 1e9:.1f} GFLOP/s; torch.mm fp32 alone "
          f"{mm_fp32 / 1e9:.1f}")
    print(f"{'phase':<16}{'median s':>10}{'share':>8}{'GFLOP':>10}{'GFLOP/s':>10}{'of peak':>9}")
    for name, p in phases.items():
        print(f"{name:<16}{p['s_median']:>10.4f}{p['s_median'] / step_s:>8.1%}{p['gflops']:>10.3f}"
              f"{p['gflop_per_s']:>10.1f}{p['frac_peak']:>9.1%}")
    print(f"{'other':<16}{step_s - phase_sum:>10.4f}{(step_s - phase_sum) / step_s:>8.1%}")
    print(f"{'step':<16}{step_s:>10.4f}{1:>8.0%}{total_flops / 1e9:>10.3f}{total_flops / step_s / 1e9:>10.1f}"
          f"{total_flops / step_s / peak:>9.1%}")
    print(f"tokens/s: {result['tokens_per_s']:.1f} (B*T = {tokens_per_step} per step); step / (FLOPs / peak) = "
          f"{result['step_over_flops_bound']:.2f}; CPU time per step {result['step_cpu_s_median']:.3f} s "
          f"(x{result['step_cpu_s_median'] / step_s:.2f} the wall time, {threads} threads)")
    if args.compare_trl:
        print(f"TRL tokens/s: {result['trl_tokens_per_s']:.1f} (step {result['trl_step_s_median']:.4f} s); "
              f"rlhfkit / TRL = {result['speedup_vs_trl']:.2f}x")
    print(json.dumps(result), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
