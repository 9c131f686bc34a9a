"""Peak memory of rlhfkit's PPO stage with and without LoRA, on a small Llama-style model built here.

    python benchmarks/lora_memory.py                   # rloo (critic-free) and gae (critic), full and LoRA
    python benchmarks/lora_memory.py --layers 8 --hidden 512 --advantages rloo
    python benchmarks/lora_memory.py --malloc default  # glibc's own thresholds (what a plain run sees)

Each measurement is a fresh process (peak RSS is a per-process high-water mark) that loads the
saved model through the ``hf`` model plugin (``model.lora.r=0`` or ``> 0``) and runs the real
stage (``run_ppo``: rollout, reference, reward, PPO epochs, optimizer steps) for ``--steps`` PPO
iterations. Figures, per process (RSS, MiB): after the imports (before the model loads); when the models are
loaded (policy, critic); once the PPO module holds its reference; the peak
(the process's VmHWM) at the end of the PPO iterations, before the
export of final/ (``added``: peak - imports); and the peak with the export. By default glibc is
told to return every freed block of 64 KiB or more to the OS (``--malloc tracking``), so that RSS
follows the live tensors; ``--malloc default`` keeps glibc's own (dynamic) thresholds, where freed
activations stay mapped for reuse and the peak also measures the allocator's caching.

What LoRA removes: the reference copy of the policy (with LoRA the reference is the same weights
with the adapter disabled), the policy's gradients and its AdamW state (two more copies), all but
the adapter's. With ``gae`` the critic is a separate copy of the policy's body: LoRA too in mode
``lora`` (``stage.value_lora``, the default), trained in full in ``lora_full_critic``. The CPU (``lscpu``) and
the versions are printed; the last line is one JSON object with everything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# full fine-tuning; LoRA on the policy and (gae) the critic (stage.value_lora, the default); gae
# only: LoRA on the policy, the critic trained in full (stage.value_lora=false)
MODES = ("full", "lora", "lora_full_critic")
WORDS = [f"w{i}" for i in range(509)]  # + <pad>, <eos>, <unk>: a 512-token vocabulary


def rss_bytes() -> int:
    """The current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """This worker's own peak (VmHWM): its ``ru_maxrss`` would start at the parent's peak (fork + exec)."""
    from common import max_rss_mib

    return int(max_rss_mib() * 2**20)


def cpu_model() -> str:
    """``lscpu``'s model name, with its family/model numbers and hypervisor when it names them."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}
    name = fields.get("Model name", platform.machine())
    extra = [f"family {fields['CPU family']} model {fields['Model']}" if "CPU family" in fields and "Model" in fields
             else "", f"{fields['Hypervisor vendor']} guest" if "Hypervisor vendor" in fields else ""]
    return name + (f" ({', '.join(e for e in extra if e)})" if any(extra) else "")


def build_model(path: Path, layers: int, hidden: int, seed: int) -> int:
    """A random Llama-style causal LM and a word tokenizer, saved with save_pretrained; its parameter count."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from rlhfkit.models.tokenizers import word_tokenizer

    tok = word_tokenizer(WORDS)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=int(hidden * 2.75) // 8 * 8,
                         num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                         num_key_value_heads=max(1, hidden // 64), max_position_embeddings=256,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id,
                         tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def write_prompts(path: Path, n: int, length: int, seed: int) -> Path:
    rng = random.Random(seed)
    path.write_text("".join(json.dumps({"prompt": " ".join(rng.choice(WORDS) for _ in range(length))}) + "\n"
                            for _ in range(n)))
    return path


def worker(args: argparse.Namespace) -> None:
    """One measurement, in this (fresh) process; prints one JSON line."""
    import logging

    import torch

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    torch.set_num_threads(args.threads)
    from hydra import compose, initialize_config_dir

    import rlhfkit.stages  # noqa: F401  (the stage config schemas)
    from rlhfkit.config_dir import config_dir
    from rlhfkit.stages import lifecycle
    from rlhfkit.stages.ppo import module as ppo_module
    from rlhfkit.stages.ppo.module import PPOModule
    from rlhfkit.plugins import get_plugin_manager
    from rlhfkit.stages.ppo.builder import run_ppo

    baseline = rss_bytes()
    advantage = ["advantage=rloo", "advantage.group_size=2"] if args.advantage == "rloo" else ["advantage=gae"]
    overrides = [
        "stage=ppo", "model=hf", f"model.path={args.model_dir}", f"model.lora.r={0 if args.mode == 'full' else args.lora_r}",
        f"stage.value_lora={str(args.mode != 'lora_full_critic').lower()}",
        f"data.prompts.train.path={args.prompts}", "reward=keyword", "reward.wanted=[w1,w2,w3]", "reward.banned=[]",
        *advantage, f"stage.total_steps={args.steps}", f"stage.rollout_batch_size={args.batch}",
        f"stage.minibatch_size={args.batch * (2 if args.advantage == 'rloo' else 1)}", f"stage.max_new_tokens={args.response}",
        "stage.ppo_epochs=2", "stage.checkpoint_every=0", "stage.last_checkpoint_every=0", "stage.sample_table_every=0",
        "logger=none", "callbacks=none", "trainer.enable_progress_bar=false", "+trainer.enable_model_summary=false",
        f"paths.output_dir={args.run_dir}",
    ]
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    marks: dict[str, int] = {}
    finish, fast_kernels, setup = lifecycle.StageRun.finish, ppo_module.apply_fast_kernels, PPOModule.setup

    def kernels_and_mark(*a, **k):  # called by PPOModule.__init__ before it makes its reference
        marks["models"] = rss_bytes()
        return fast_kernels(*a, **k)

    def setup_and_mark(self, stage):  # the fit's start: the module holds its reference
        marks["with_reference"] = rss_bytes()
        return setup(self, stage)

    def finish_after_training(self, *a, **k):  # the peak of loading + the PPO iterations, before the export
        marks["training"] = peak_rss_bytes()
        return finish(self, *a, **k)

    ppo_module.apply_fast_kernels, PPOModule.setup = kernels_and_mark, setup_and_mark
    lifecycle.StageRun.finish = finish_after_training
    plugins = get_plugin_manager()
    metrics = run_ppo(cfg, plugins, Path(args.run_dir))
    peak = marks["training"]
    print(json.dumps({"mode": args.mode, "advantage": args.advantage, "baseline_rss_mib": baseline / 2**20,
                      "models_rss_mib": marks["models"] / 2**20, "with_reference_rss_mib": marks["with_reference"] / 2**20,
                      "peak_rss_mib": peak / 2**20, "added_mib": (peak - baseline) / 2**20,
                      "peak_with_export_mib": peak_rss_bytes() / 2**20,
                      "iterations": metrics.get("ppo/iteration")}), flush=True)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8, help="prompts per PPO iteration (rloo: x 2 samples)")
    ap.add_argument("--prompt", type=int, default=16, help="prompt words (= tokens)")
    ap.add_argument("--response", type=int, default=32, help="max_new_tokens")
    ap.add_argument("--steps", type=int, default=2, help="PPO iterations (the first allocates AdamW's state)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--advantages", default="rloo,gae", help="comma-separated: rloo (critic-free), gae (a critic)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--malloc", choices=("tracking", "default"), default="tracking",
                    help="tracking: glibc returns every block >= 64 KiB to the OS when freed "
                         "(MALLOC_MMAP_THRESHOLD_=65536), so RSS follows the live tensors; default: glibc's "
                         "dynamic thresholds, freed memory kept for reuse (what a plain run sees; noisier)")
    ap.add_argument("--worker", choices=MODES, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--advantage", default="rloo", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--prompts", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        args.mode = args.worker
        worker(args)
        return {}

    import importlib.metadata as md

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_params = build_model(tmp / "model", args.layers, args.hidden, args.seed)
        prompts = write_prompts(tmp / "prompts.jsonl", 4 * args.batch, args.prompt, args.seed)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1",
               "TOKENIZERS_PARALLELISM": "false"}
        env.pop("MALLOC_MMAP_THRESHOLD_", None)
        if args.malloc == "tracking":
            env["MALLOC_MMAP_THRESHOLD_"] = "65536"
        for advantage in [a.strip() for a in args.advantages.split(",") if a.strip()]:
            for mode in MODES if advantage == "gae" else MODES[:2]:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--advantage", advantage,
                       "--model-dir", str(tmp / "model"), "--prompts", str(prompts), "--run-dir",
                       str(tmp / f"run_{advantage}_{mode}"), "--lora-r", str(args.lora_r), "--batch", str(args.batch),
                       "--response", str(args.response), "--steps", str(args.steps), "--threads", str(args.threads)]
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
                if out.returncode != 0:
                    sys.stderr.write(out.stdout[-4000:] + out.stderr[-4000:])
                    raise SystemExit(f"worker {mode}/{advantage} failed (exit {out.returncode})")
                row = json.loads(out.stdout.strip().splitlines()[-1])
                counts = [line for line in out.stderr.splitlines() if "trainable of" in line]
                row["parameters_line"] = counts[-1].split(":", 2)[-1].strip() if counts else ""
                rows.append(row)
    result = {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "threads": args.threads,
              "model": {"arch": "llama", "layers": args.layers, "hidden": args.hidden, "vocab": len(WORDS) + 3,
                        "parameters": n_params},
              "lora_r": args.lora_r, "batch": args.batch, "prompt": args.prompt, "response": args.response,
              "steps": args.steps, "malloc": args.malloc, "rows": rows,
              "versions": {name: md.version(name) for name in ("torch", "transformers", "peft", "pytorch-lightning")}}
    print(f"# PPO peak memory, full fine-tuning vs LoRA r={args.lora_r}: Llama-style {args.layers} x {args.hidden}, "
          f"{n_params / 1e6:.2f}M parameters ({n_params * 4 / 2**20:.1f} MiB fp32); B={args.batch} prompts, "
          f"P={args.prompt}, T={args.response}, {args.steps} PPO iterations x 2 epochs, {args.threads} threads, "
          f"malloc {args.malloc}")
    print(f"# CPU: {result['cpu']} ({result['logical_cores']} logical cores)")
    print(f"{'advantage':<10}{'mode':<17}{'imports':>9}{'models':>9}{'+ref':>9}{'peak':>9}{'added':>9}"
          f"{'w/ export':>11}  (RSS MiB)  parameters")
    for row in rows:
        print(f"{row['advantage']:<10}{row['mode']:<17}{row['baseline_rss_mib']:>9.1f}{row['models_rss_mib']:>9.1f}"
              f"{row['with_reference_rss_mib']:>9.1f}{row['peak_rss_mib']:>9.1f}{row['added_mib']:>9.1f}"
              f"{row['peak_with_export_mib']:>11.1f}  {row['parameters_line']}")
    for advantage in sorted({r["advantage"] for r in rows}):
        full = next(r for r in rows if r["advantage"] == advantage and r["mode"] == "full")
        for lora in (r for r in rows if r["advantage"] == advantage and r["mode"] != "full"):
            print(f"# {advantage}: {lora['mode']} peak {lora['peak_rss_mib'] - full['peak_rss_mib']:+.1f} MiB "
                  f"({lora['peak_rss_mib'] / full['peak_rss_mib'] - 1:+.1%}); added by the run "
                  f"{full['added_mib']:.1f} -> {lora['added_mib']:.1f} MiB")
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
