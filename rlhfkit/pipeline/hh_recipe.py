"""The HH recipe (``experiment=hh``): the reward model and PPO on Anthropic's HH preference data.

    hh_data --> sft --> rm --> ppo --> evaluate

* ``hh_data`` reads ``hh.path`` (``../shared/data/hh-rlhf-harmless-base-test.jsonl.gz`` by
  default; a clear error when it is absent), splits it in order into SFT / RM / PPO / eval parts,
  and writes ``sft.jsonl`` (prompt + chosen response), ``preference.jsonl`` (the pairs, K = 2),
  ``ppo_prompts.jsonl`` and ``eval.jsonl`` (held-out pairs and their prompts).
* ``sft``, ``rm``, ``ppo``: the real stages, a tiny byte-level GPT-2 (any text).
* ``evaluate``: SFT and PPO sampled on the held-out prompts; there are no simulated labelers for
  HH, so the figures are the proxy RM's: its accuracy on the held-out pairs, the mean RM score
  of each policy, PPO's win rate against SFT by RM score, and KL(PPO || SFT).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlhfkit.pipeline.compose import override
from rlhfkit.pipeline.stage_graph import Context, Node, container, stage_enabled
from rlhfkit.world import write_jsonl

DEFAULT_PATH = "../shared/data/hh-rlhf-harmless-base-test.jsonl.gz"


def hh_path(cfg: DictConfig) -> Path:
    from rlhfkit.config_dir import config_dir

    raw = Path(str(cfg.hh.path)).expanduser()
    candidates = [raw] if raw.is_absolute() else [Path.cwd() / raw, config_dir().parent / raw]
    for path in candidates:
        if path.exists():
            return path.resolve()
    raise FileNotFoundError(
        f"hh.path: the HH data file '{cfg.hh.path}' is not there (looked in: {', '.join(str(p) for p in candidates)}). "
        "Put hh-rlhf-harmless-base-test.jsonl.gz (Anthropic/hh-rlhf, harmless-base, test split) there or set "
        "hh.path=/path/to/file.jsonl.gz")


def write_hh_files(cfg: DictConfig, out_dir: Path) -> dict[str, float]:
    from rlhfkit.data import load_examples

    sizes = container(cfg.hh)
    pairs = load_examples(str(hh_path(cfg)), "hh", kind="preference", on_error="skip")
    n_sft, n_rm, n_ppo, n_eval = (int(sizes[k]) for k in ("n_sft", "n_rm", "n_ppo", "n_eval"))
    if len(pairs) < n_sft + n_rm + n_ppo + n_eval:
        raise ValueError(f"hh: {len(pairs)} pairs are fewer than n_sft + n_rm + n_ppo + n_eval = "
                         f"{n_sft + n_rm + n_ppo + n_eval}")
    cut = [0, n_sft, n_sft + n_rm, n_sft + n_rm + n_ppo, n_sft + n_rm + n_ppo + n_eval]
    sft, rm, ppo, ev = (pairs[cut[i]:cut[i + 1]] for i in range(4))
    out_dir = Path(out_dir)
    write_jsonl(out_dir / "sft.jsonl", ({"prompt": e.prompt, "completion": e.completions[0]} for e in sft))
    write_jsonl(out_dir / "preference.jsonl", ({"prompt": e.prompt, "chosen": e.completions[0],
                                                "rejected": e.completions[1]} for e in rm))
    write_jsonl(out_dir / "ppo_prompts.jsonl", ({"prompt": e.prompt} for e in ppo))
    write_jsonl(out_dir / "eval.jsonl", ({"prompt": e.prompt, "chosen": e.completions[0],
                                          "rejected": e.completions[1]} for e in ev))
    return {"hh/pairs": float(len(pairs)), "hh/sft": float(len(sft)), "hh/rm": float(len(rm)),
            "hh/ppo": float(len(ppo)), "hh/eval": float(len(ev))}


def evaluate_hh(ctx: Context, out_dir: Path) -> dict[str, float]:
    from rlhfkit.models.generation import count_params, load_causal_lm, sample_completions
    from rlhfkit.rewards.reward_model import RewardModelFn
    from rlhfkit.world import read_jsonl

    settings = container(ctx.cfg.eval)
    rows = read_jsonl(ctx.dir("hh_data") / "eval.jsonl")
    max_length = int(ctx.cfg.hh.max_length)
    rm = RewardModelFn(ctx.final("rm"), max_length=max_length, batch_size=64)
    prompts = [r["prompt"] for r in rows]
    chosen, rejected = rm(prompts, [r["chosen"] for r in rows]), rm(prompts, [r["rejected"] for r in rows])
    ref, tok = load_causal_lm(ctx.final("sft"))
    out: dict[str, Any] = {"models": {}, "win_rates": {}, "rm_accuracy_heldout_pairs": float((chosen > rejected).float().mean())}
    samples = {}
    for name, node in (("sft_small", "sft"), ("ppo_small", "ppo")):
        model = ref if node == "sft" else load_causal_lm(ctx.final(node))[0]
        s = sample_completions(model, tok, prompts, n=1, temperature=float(settings["temperature"]),
                               max_new_tokens=int(ctx.cfg.hh.max_new_tokens), batch_size=64,
                               seed=int(ctx.cfg.seed), max_prompt_length=max_length - int(ctx.cfg.hh.max_new_tokens),
                               ref_model=ref, with_logprobs=True)
        scores = rm(prompts, s.completions)
        samples[name] = scores
        out["models"][name] = {"rm_score": float(scores.mean()), "kl_to_sft": s.kl, "params": float(count_params(model)),
                               "mean_length_bytes": sum(len(c) for c in s.completions) / len(s.completions)}
    wins = (samples["ppo_small"] > samples["sft_small"]).float() + 0.5 * (samples["ppo_small"] == samples["sft_small"]).float()
    out["win_rates"]["ppo_vs_sft_by_rm"] = float(wins.mean())
    out["note"] = "HH has no simulated labelers: every figure is the proxy RM's (an optimised-against judge)."
    (Path(out_dir) / "eval.json").write_text(json.dumps(out, indent=2) + "\n")
    return {"hh/rm_accuracy_heldout_pairs": out["rm_accuracy_heldout_pairs"],
            "hh/ppo_vs_sft_by_rm": out["win_rates"]["ppo_vs_sft_by_rm"]}


def _hh_step(ctx: Context, out_dir: Path) -> dict[str, float]:
    return write_hh_files(ctx.cfg, out_dir)


def nodes(cfg: DictConfig) -> list[Node]:
    def sft(ctx: Context) -> list[str]:
        return ["stage=sft", "model=tiny", "model.tokenizer=bytes", override("model.size", ctx.cfg.sizes.small),
                "data=files", override("data.sft.train.path", str(ctx.dir("hh_data") / "sft.jsonl")),
                override("stage.max_length", int(ctx.cfg.hh.max_length))]

    def rm(ctx: Context) -> list[str]:
        return ["stage=rm", "model=hf", override("model.path", ctx.final("sft")), "data=files",
                override("data.preference.train.path", str(ctx.dir("hh_data") / "preference.jsonl")),
                override("stage.max_length", int(ctx.cfg.hh.max_length))]

    def ppo(ctx: Context) -> list[str]:
        return ["stage=ppo", "model=hf", override("model.path", ctx.final("sft")), "data=files",
                "reward=reward_model", override("reward.path", ctx.final("rm")),
                override("reward.max_length", int(ctx.cfg.hh.max_length)),
                override("data.prompts.train.path", str(ctx.dir("hh_data") / "ppo_prompts.jsonl")),
                override("stage.max_prompt_length", int(ctx.cfg.hh.max_length) - int(ctx.cfg.hh.max_new_tokens)),
                override("stage.max_new_tokens", int(ctx.cfg.hh.max_new_tokens))]

    all_nodes = [
        Node("hh_data", func=_hh_step,
             settings=lambda ctx: {"hh": container(ctx.cfg.hh), "file": str(hh_path(ctx.cfg))}),
        Node("sft", ("hh_data",), "sft", sft),
        Node("rm", ("hh_data", "sft"), "rm", rm),
        Node("ppo", ("hh_data", "sft", "rm"), "ppo", ppo),
        Node("evaluate", ("hh_data", "sft", "rm", "ppo"), func=evaluate_hh,
             settings=lambda ctx: {"eval": container(ctx.cfg.eval), "hh": container(ctx.cfg.hh)}),
    ]
    return [n for n in all_nodes if stage_enabled(cfg, n.name)]


__all__ = ["DEFAULT_PATH", "evaluate_hh", "hh_path", "nodes", "write_hh_files"]
