"""Compute and time of each pipeline stage, from what the stages recorded.

FLOPs (:mod:`rlhfkit.evaluate.flops`): the Lightning stages (pretrain, SFT, RM) count their real
training and validation tokens (``tokens.json``, :class:`rlhfkit.evaluate.flops.TokenCounter`);
``rankings`` and ``evaluate`` count the tokens they sample and score; PPO's tokens come from its
history (``ppo_history.jsonl``: iterations and mean response length) and config (episodes per
iteration, epochs, PPO-ptx's pretraining batches), with prompt and pretraining-text lengths
measured on the data it read. The RM's normalisation pass (a forward over the chosen
completions) is not counted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from rlhfkit.evaluate.flops import forward_flops, pfs_days, ppo_flops, share, stage_flops


def critical_path(inputs: Mapping[str, Sequence[str]], times: Mapping[str, float]) -> float:
    """The longest chain of stage times through the DAG (``inputs``: stage -> the stages it
    reads, in topological order): the wall time of the stages when enough workers run every
    ready stage at once. By hand: a(1) -> b(2), a -> c(5), b, c -> d(1) gives 1 + 5 + 1 = 7."""
    finish: dict[str, float] = {}
    for name, deps in inputs.items():
        finish[name] = max((finish.get(d, 0.0) for d in deps), default=0.0) + float(times.get(name, 0.0))
    return max(finish.values(), default=0.0)


def pipeline_wall_time(inputs: Mapping[str, Sequence[str]], times: Mapping[str, float], cached: Sequence[str],
                       this_run: float, workers: int) -> float:
    """End-to-end wall time of the pipeline without a cache: this run's time when nothing was
    cached; otherwise this run's overhead outside the stages plus the stages' recorded times,
    chained along the DAG's critical path (workers > 1) or summed (workers = 1)."""
    if not cached:
        return this_run

    def span(ts: Mapping[str, float]) -> float:
        return critical_path(inputs, ts) if workers > 1 else sum(ts.values())

    ran = {k: (0.0 if k in cached else v) for k, v in times.items()}
    overhead = max(0.0, this_run - span(ran))
    return overhead + span(times)


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _config(stage_dir: Path) -> dict[str, Any]:
    path = stage_dir / "resolved_config.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def _mean_tokens(tokenizer, texts: list[str], cap: int) -> float:
    if not texts:
        return 0.0
    return sum(min(len(tokenizer(t, add_special_tokens=False)["input_ids"]), cap) for t in texts) / len(texts)


def _params(path: Path) -> int:
    """Parameters of a saved model directory (causal LM or scalar-head model)."""
    from safetensors import safe_open

    total = 0
    for file in path.glob("*.safetensors"):
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():
                if name in ("gain", "offset"):
                    continue
                shape = f.get_slice(name).get_shape()
                total += math.prod(shape) if shape else 1
    return total


def ppo_stage_flops(stage_dir: Path, rm_dir: Path | None) -> dict[str, float]:
    """FLOPs of a PPO / PPO-ptx run (see :func:`rlhfkit.evaluate.flops.ppo_flops`)."""
    from transformers import AutoTokenizer

    from rlhfkit.data import load_examples

    history = [json.loads(l) for l in (stage_dir / "ppo_history.jsonl").read_text().splitlines() if l.strip()] \
        if (stage_dir / "ppo_history.jsonl").exists() else []
    cfg = _config(stage_dir)
    if not history or not cfg:
        return {"total": math.nan}
    st = cfg["stage"]
    tokenizer = AutoTokenizer.from_pretrained(stage_dir / "final")
    episodes = int(st["rollout_batch_size"])
    prompts = [e.prompt for e in load_examples(cfg["data"]["prompts"]["train"]["path"], kind="prompt")]
    prompt_tokens = _mean_tokens(tokenizer, prompts, int(st["max_prompt_length"]))
    response_tokens = sum(h.get("ppo/response_length", 0.0) for h in history) / len(history)
    ptx_tokens = 0.0
    if float(st.get("ptx_coef", 0.0)) > 0:
        texts = [e.text for e in load_examples(cfg["data"]["pretrain"]["train"]["path"], kind="text",
                                               limit=2000)]
        minibatches = len(history) * int(st["ppo_epochs"]) * (episodes // int(st["minibatch_size"]))
        ptx_tokens = minibatches * int(st["ptx_batch_size"]) * _mean_tokens(tokenizer, texts, int(st["ptx_max_length"]))
    policy = _params(stage_dir / "final")
    value = _params(stage_dir / "final_value") if (stage_dir / "final_value").exists() else 0
    reward = _params(rm_dir / "final") if rm_dir is not None and (rm_dir / "final").exists() else 0
    out = ppo_flops(policy, value, reward, len(history), episodes, prompt_tokens, response_tokens,
                    int(st["ppo_epochs"]), ptx_tokens)
    out |= {"iterations": float(len(history)), "episodes": float(len(history) * episodes),
            "prompt_tokens_mean": prompt_tokens, "response_tokens_mean": response_tokens, "ptx_tokens": ptx_tokens}
    return out


# which stage of a recipe plays which part in the share of pretraining compute (item 29): the world
# recipe's small policy; a recipe names its own (rlhfkit.pipeline.recipes.COMPUTE_ROLES)
WORLD_ROLES = {"pretrain": "pretrain_small", "sft": "sft_small", "rankings": "rankings", "rm": "rm", "ppo": "ppo",
               "ptx": "ptx"}


def stage_compute(results: Mapping[str, Any], evaluation: Mapping[str, Any] | None,
                  roles: Mapping[str, str] = WORLD_ROLES) -> dict[str, Any]:
    """``{"flops": {stage: FLOPs}, "detail": {stage: {...}}, "pfs_days": {...}, "rlhf_share_*"}``;
    ``roles``: the stage names of the pretraining, SFT, rankings, RM, PPO and PPO-ptx parts (a
    part the recipe has not, e.g. no pretraining stage, leaves its shares NaN)."""
    flops: dict[str, float] = {}
    detail: dict[str, dict[str, float]] = {}
    for name, res in results.items():
        stage_dir = Path(res.dir)
        if res.stage in ("pretrain", "sft", "rm"):
            tokens = _json(stage_dir / "tokens.json")
            if tokens:
                flops[name] = stage_flops(int(tokens["params"]), int(tokens["train_tokens"]), int(tokens["forward_tokens"]))
                detail[name] = {k: float(v) for k, v in tokens.items()}
            else:
                flops[name], detail[name] = math.nan, {"note": "no tokens.json (TokenCounter callback off)"}
        elif res.stage == "ppo":
            rm_dir = Path(results["rm"].dir) if "rm" in results else None
            try:
                d = ppo_stage_flops(stage_dir, rm_dir)
            except (KeyError, OSError, ValueError, TypeError) as err:  # e.g. prompts from a plugin without a path
                d = {"total": math.nan, "note": f"not counted: {type(err).__name__}: {err}"}
            flops[name], detail[name] = d["total"], d
        elif name == "rankings":
            m = res.metrics
            flops[name] = forward_flops(int(m.get("rankings/sft_params", 0)), int(m.get("rankings/sampled_tokens", 0)))
            detail[name] = {"sampled_tokens": m.get("rankings/sampled_tokens", math.nan)}
        elif name == "evaluate" and evaluation and "eval_forward_tokens" not in evaluation:
            flops[name], detail[name] = math.nan, {"note": "not counted: the evaluation records no forward tokens"}
        elif name == "evaluate" and evaluation:
            params = {k: v.get("params", 0.0) for k, v in evaluation.get("models", {}).items()}
            total = sum(forward_flops(int(params.get(k, 0)), int(t))
                        for k, t in evaluation.get("eval_forward_tokens", {}).items())
            sft_params = int(params.get("sft_small", 0))
            for curve in (evaluation.get("overoptimisation") or {}).values():
                total += sum(forward_flops(3 * sft_params, int(p.get("tokens", 0))) for p in curve["points"])
            flops[name] = total
    part = {role: flops.get(roles[role], math.nan) if role in roles else math.nan
            for role in ("pretrain", "sft", "rankings", "rm", "ppo", "ptx")}
    pretrain = part["pretrain"]
    # a stage the recipe lacks adds 0; one that ran but was not counted (NaN) makes the sum NaN
    rlhf_ptx = sum(flops.get(roles.get(k, ""), 0.0) for k in ("sft", "rankings", "rm", "ptx")) \
        if "ptx" in roles else math.nan
    rlhf_ppo = sum(flops.get(roles.get(k, ""), 0.0) for k in ("sft", "rankings", "rm", "ppo")) \
        if "ppo" in roles else math.nan
    return {"flops": flops, "pfs_days": {k: pfs_days(v) for k, v in flops.items()}, "detail": detail,
            "rlhf_share_of_pretraining": {
                "ptx_only": share(part["ptx"], pretrain),  # IG: 60 / 3,640 (item 29)
                "ppo_only": share(part["ppo"], pretrain),
                "sft_rm_ptx": share(rlhf_ptx, pretrain),  # SFT + rankings sampling + RM + PPO-ptx
                "sft_rm_ppo": share(rlhf_ppo, pretrain),
                "paper_175b_ptx_only": 60 / 3640, "paper_175b_sft_ptx": (4.9 + 60) / 3640}}
