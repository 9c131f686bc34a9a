"""The HH recipe (``experiment=hh``): the reward model and PPO on Anthropic's HH preference data.

    hh_data --> pretrain --> sft --> rm --> ppo --> evaluate

* ``hh_data`` reads ``hh.path`` (``../shared/data/hh-rlhf-harmless-base-test.jsonl.gz`` by
  default; a clear error when it is absent). Records that cannot be a pair (a blank chosen or
  rejected response) are skipped and counted; the pairs left are split in file order into SFT /
  RM / PPO / eval parts by the fractions ``hh.split`` (or by the fixed counts ``hh.n_*``). It writes
  ``sft.jsonl`` (prompt + chosen response), ``preference.jsonl`` (the pairs, K = 2),
  ``ppo_prompts.jsonl``, ``eval.jsonl`` (held-out pairs and their prompts), ``pretrain.jsonl``
  (the text of the SFT / RM / PPO dialogues, never the eval part's, in windows of
  ``hh.max_length`` bytes) and ``hh.json`` (what was read, skipped and split).
* ``pretrain``: ``stage=pretrain`` of a tiny byte-level GPT-2 on ``pretrain.jsonl``, the base
  model SFT starts from. Not run when ``hh.base_model`` names a model (SFT then starts from it:
  ``model=hf model.path=<hh.base_model>``); with ``stages.pretrain.enabled=false`` SFT starts from
  random weights.
* ``sft``, ``rm``, ``ppo``: the real stages (the RM and PPO start from SFT, as in IG); the RM
  trains on every pair of the RM part and is validated on the eval part's held-out pairs.
* ``evaluate``: SFT and PPO sampled on the held-out prompts; there are no simulated labelers for
  HH, so the figures are the proxy RM's: its accuracy on the held-out pairs, the mean RM score
  of each policy, PPO's win rate against SFT by RM score, and KL(PPO || SFT). The report
  (:mod:`rlhfkit.evaluate.hh_report`) gives the RM's accuracy with a 95% interval and says so,
  above the PPO figures, when the RM is no better than chance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlhfkit.errors import ConfigError
from rlhfkit.pipeline.compose import override
from rlhfkit.pipeline.stage_graph import Context, Node, container, stage_enabled
from rlhfkit.world import write_jsonl

DEFAULT_PATH = "../shared/data/hh-rlhf-harmless-base-test.jsonl.gz"
SPLITS = ("sft", "rm", "ppo", "eval")
# the stages of the share of pretraining compute (item 29); no pretraining share with hh.base_model
COMPUTE_ROLES = {"pretrain": "pretrain", "sft": "sft", "rm": "rm", "ppo": "ppo"}


def _candidates(raw: Path) -> list[Path]:
    from rlhfkit.config_dir import config_dir

    return [raw] if raw.is_absolute() else [Path.cwd() / raw, config_dir().parent / raw]


def hh_path(cfg: DictConfig) -> Path:
    candidates = _candidates(Path(str(cfg.hh.path)).expanduser())
    for path in candidates:
        if path.exists():
            return path.resolve()
    raise FileNotFoundError(
        f"hh.path: the HH data file '{cfg.hh.path}' is not there (looked in: {', '.join(str(p) for p in candidates)}). "
        "Put hh-rlhf-harmless-base-test.jsonl.gz (Anthropic/hh-rlhf, harmless-base, test split) there or set "
        "hh.path=/path/to/file.jsonl.gz")


def base_model(cfg: DictConfig) -> str | None:
    """``hh.base_model``: the causal LM SFT starts from (a directory, made absolute, or a hub id), or
    None: a byte-level GPT-2 pretrained on the dialogues (the ``pretrain`` stage)."""
    raw = cfg.hh.get("base_model")
    if raw is None or str(raw).strip() == "":
        return None
    for path in _candidates(Path(str(raw)).expanduser()):
        if path.exists():
            return str(path.resolve())
    if str(raw).startswith((".", "/", "~")):
        raise FileNotFoundError(f"hh.base_model: no model directory at '{raw}'")
    return str(raw)  # a hub id (downloads; offline, transformers says it cannot find it)


def split_sizes(n_pairs: int, hh: Mapping[str, Any], skipped: int = 0) -> dict[str, int]:
    """The number of pairs of each part: ``hh.split`` fractions of ``n_pairs`` (cut at
    ``floor(cumulative fraction * n_pairs)``), or the counts ``hh.n_sft`` ... ``hh.n_eval`` when
    all four are set. A clear :class:`ConfigError` when they do not fit."""
    counts = {k: hh.get(f"n_{k}") for k in SPLITS}
    given = [k for k, v in counts.items() if v is not None]
    yielded = f"{n_pairs} pairs ({skipped} records skipped)"
    if given:
        if len(given) != len(SPLITS):
            raise ConfigError("hh.n_sft, hh.n_rm, hh.n_ppo, hh.n_eval: set all four counts or none "
                              "(none: the parts are the fractions hh.split of the pairs the file yields)")
        sizes = {k: int(counts[k]) for k in SPLITS}
        if any(v < 1 for v in sizes.values()):
            raise ConfigError(f"hh.n_*: every part needs at least one pair, got {sizes}")
        if sum(sizes.values()) > n_pairs:
            raise ConfigError(f"hh.n_*: {yielded} are fewer than n_sft + n_rm + n_ppo + n_eval = "
                              f"{sum(sizes.values())}; use fractions (hh.split, with the counts null)")
        return sizes
    fractions = hh.get("split") or {}
    missing = [k for k in SPLITS if fractions.get(k) is None]
    if missing:
        raise ConfigError(f"hh.split: needs a fraction for each of {', '.join(SPLITS)}; missing {', '.join(missing)}")
    for k in SPLITS:
        if not 0 < float(fractions[k]) <= 1:
            raise ConfigError(f"hh.split.{k}: a fraction in (0, 1], got {fractions[k]}")
    total = sum(float(fractions[k]) for k in SPLITS)
    if total > 1 + 1e-9:
        raise ConfigError(f"hh.split: the fractions sum to {total:g}, more than 1")
    cuts, cumulative = [0], 0.0
    for k in SPLITS:
        cumulative += float(fractions[k])
        cuts.append(int(min(cumulative, 1.0) * n_pairs + 1e-9))
    sizes = {k: cuts[i + 1] - cuts[i] for i, k in enumerate(SPLITS)}
    empty = [k for k, v in sizes.items() if v < 1]
    if empty:
        raise ConfigError(f"hh.split.{empty[0]}={fractions[empty[0]]}: {yielded} leave that part empty; raise it")
    return sizes


def byte_windows(text: str, width: int) -> list[str]:
    """``text`` cut into pieces of at most ``width`` UTF-8 bytes (a character split at a cut is
    dropped); blank pieces are left out."""
    raw = text.encode("utf-8")
    pieces = (raw[i:i + width].decode("utf-8", errors="ignore") for i in range(0, len(raw), width))
    return [p for p in pieces if p.strip()]


def pretrain_texts(pairs: list, width: int) -> list[str]:
    """The dialogues of ``pairs`` as plain text for the base model: each prompt with its chosen
    response, then the rejected response after the prompt's last turn marker (the prompt is not
    repeated), in windows of ``width`` bytes."""
    texts: list[str] = []
    for e in pairs:
        texts += byte_windows(e.prompt + e.completions[0], width)
        texts += byte_windows("Assistant:" + e.completions[1], width)
    return texts


def write_hh_files(cfg: DictConfig, out_dir: Path) -> dict[str, float]:
    from rlhfkit.data import load_examples_with_report
    from rlhfkit.pipeline.executor import say

    hh = container(cfg.hh)
    path = hh_path(cfg)
    pairs, load = load_examples_with_report(str(path), "hh", kind="preference", on_error="skip")
    sizes = split_sizes(len(pairs), hh, load.n_skipped)
    cut = [0]
    for k in SPLITS:
        cut.append(cut[-1] + sizes[k])
    parts = {k: pairs[cut[i]:cut[i + 1]] for i, k in enumerate(SPLITS)}
    out_dir = Path(out_dir)
    write_jsonl(out_dir / "sft.jsonl", ({"prompt": e.prompt, "completion": e.completions[0]} for e in parts["sft"]))
    write_jsonl(out_dir / "preference.jsonl", ({"prompt": e.prompt, "chosen": e.completions[0],
                                                "rejected": e.completions[1]} for e in parts["rm"]))
    write_jsonl(out_dir / "ppo_prompts.jsonl", ({"prompt": e.prompt} for e in parts["ppo"]))
    write_jsonl(out_dir / "eval.jsonl", ({"prompt": e.prompt, "chosen": e.completions[0],
                                          "rejected": e.completions[1]} for e in parts["eval"]))
    # the base model's text: every dialogue but the held-out ones (the RM is judged on those)
    texts = pretrain_texts(parts["sft"] + parts["rm"] + parts["ppo"], max(int(hh["max_length"]) - 1, 1))
    write_jsonl(out_dir / "pretrain.jsonl", ({"text": t} for t in texts))
    info = {"file": str(path), "records": load.n_records, "pairs": len(pairs), "skipped": load.n_skipped,
            "skipped_by_field": dict(load.skipped), "split": sizes, "unused": len(pairs) - cut[-1],
            "split_by": "counts" if hh.get("n_sft") is not None else "fractions",
            "fractions": {k: float(v) for k, v in (hh.get("split") or {}).items()},
            "pretrain_texts": len(texts), "pretrain_bytes": sum(len(t.encode("utf-8")) for t in texts),
            "rm_valid": "eval"}  # the RM stage validates on eval.jsonl (nodes: rm)
    (out_dir / "hh.json").write_text(json.dumps(info, indent=2) + "\n")
    why = ", ".join(f"blank {k}: {v}" for k, v in sorted(load.skipped.items()))
    say(f"hh_data: {load.n_records} records, {load.n_skipped} skipped{f' ({why})' if why else ''}, {len(pairs)} pairs "
        f"-> " + ", ".join(f"{k} {v}" for k, v in sizes.items()) + f"; {len(texts)} pretraining texts")
    return {"hh/records": float(load.n_records), "hh/skipped": float(load.n_skipped), "hh/pairs": float(len(pairs)),
            **{f"hh/{k}": float(v) for k, v in sizes.items()}, "hh/pretrain_texts": float(len(texts))}


def rm_accuracy_counts(chosen, rejected) -> dict[str, float]:
    """The RM orders a held-out pair right when it scores the chosen response higher (a tie is wrong)."""
    correct = int((chosen > rejected).sum())
    n = int(chosen.numel())
    return {"accuracy": correct / n if n else float("nan"), "correct": float(correct), "n_pairs": float(n),
            "ties": float(int((chosen == rejected).sum()))}


def evaluate_hh(ctx: Context, out_dir: Path) -> dict[str, float]:
    from rlhfkit.evaluate.progress import Progress
    from rlhfkit.models.generation import count_params, load_causal_lm, sample_completions
    from rlhfkit.rewards.reward_model import RewardModelFn
    from rlhfkit.world import read_jsonl

    settings = container(ctx.cfg.eval)
    rows = read_jsonl(ctx.dir("hh_data") / "eval.jsonl")
    max_length = int(ctx.cfg.hh.max_length)
    progress = Progress("evaluate", total=3, unit="steps")
    rm = RewardModelFn(ctx.final("rm"), max_length=max_length, batch_size=64)
    prompts = [r["prompt"] for r in rows]
    chosen, rejected = rm(prompts, [r["chosen"] for r in rows]), rm(prompts, [r["rejected"] for r in rows])
    heldout = rm_accuracy_counts(chosen, rejected)
    progress.advance(1, f"RM on {len(rows)} held-out pairs: accuracy {heldout['accuracy']:.3f}")
    ref, tok = load_causal_lm(ctx.final("sft"))
    out: dict[str, Any] = {"models": {}, "win_rates": {}, "rm_accuracy_heldout_pairs": heldout["accuracy"],
                           "rm_heldout": heldout, "judge": "proxy_rm", "n_eval_prompts": len(prompts),
                           "samples_per_prompt": 1}
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
        progress.advance(1, f"{name} sampled on {len(prompts)} prompts and scored: RM score {float(scores.mean()):.3f}")
    wins = (samples["ppo_small"] > samples["sft_small"]).float() + 0.5 * (samples["ppo_small"] == samples["sft_small"]).float()
    out["win_rates"]["ppo_vs_sft_by_rm"] = float(wins.mean())
    data_file = ctx.dir("hh_data") / "hh.json"
    out["data"] = json.loads(data_file.read_text()) if data_file.exists() else {}
    user_model = base_model(ctx.cfg)
    out["base_model"] = (user_model if user_model else
                         "byte-level GPT-2 pretrained on the dialogues (pretrain stage)" if "pretrain" in ctx.results else
                         "byte-level GPT-2 from random weights (no pretrain stage)")
    out["note"] = "HH has no simulated labelers: every figure is the proxy RM's (an optimised-against judge)."
    (Path(out_dir) / "eval.json").write_text(json.dumps(out, indent=2) + "\n")
    return {"hh/rm_accuracy_heldout_pairs": out["rm_accuracy_heldout_pairs"],
            "hh/ppo_vs_sft_by_rm": out["win_rates"]["ppo_vs_sft_by_rm"]}


def _hh_step(ctx: Context, out_dir: Path) -> dict[str, float]:
    return write_hh_files(ctx.cfg, out_dir)


def _data_settings(ctx: Context) -> dict[str, Any]:
    hh = dict(container(ctx.cfg.hh))
    hh.pop("base_model", None)  # which model starts SFT does not change the data
    return {"hh": hh, "file": str(hh_path(ctx.cfg))}


def nodes(cfg: DictConfig) -> list[Node]:
    user_model = base_model(cfg)
    max_length = int(cfg.hh.max_length)

    def pretrain(ctx: Context) -> list[str]:
        return ["stage=pretrain", "model=tiny", "model.tokenizer=bytes", override("model.size", ctx.cfg.sizes.small),
                override("model.max_positions", max(int(ctx.cfg.hh.max_length), 256)),
                "data=files", override("data.pretrain.train.path", str(ctx.dir("hh_data") / "pretrain.jsonl")),
                override("stage.max_length", int(ctx.cfg.hh.max_length))]

    def start(ctx: Context) -> list[str]:
        if user_model:
            return ["model=hf", override("model.path", user_model)]
        if "pretrain" in ctx.results:
            return ["model=hf", override("model.path", ctx.final("pretrain"))]
        return ["model=tiny", "model.tokenizer=bytes", override("model.size", ctx.cfg.sizes.small),
                override("model.max_positions", max(int(ctx.cfg.hh.max_length), 256))]

    def sft(ctx: Context) -> list[str]:
        return ["stage=sft", *start(ctx), "data=files", override("data.sft.train.path", str(ctx.dir("hh_data") / "sft.jsonl")),
                override("stage.max_length", int(ctx.cfg.hh.max_length))]

    def rm(ctx: Context) -> list[str]:
        # validated on the eval part's held-out pairs: every RM pair trains, and the accuracy's
        # interval rests on more pairs than a 10% split of the RM part would give
        return ["stage=rm", "model=hf", override("model.path", ctx.final("sft")), "data=files",
                override("data.preference.train.path", str(ctx.dir("hh_data") / "preference.jsonl")),
                "data.preference.valid={name: files, format: auto, split: train, limit: null, on_error: raise}",
                "+" + override("data.preference.valid.path", str(ctx.dir("hh_data") / "eval.jsonl")),
                override("stage.max_length", int(ctx.cfg.hh.max_length))]

    def ppo(ctx: Context) -> list[str]:
        return ["stage=ppo", "model=hf", override("model.path", ctx.final("sft")), "data=files",
                "reward=reward_model", override("reward.path", ctx.final("rm")),
                override("reward.max_length", int(ctx.cfg.hh.max_length)),
                override("data.prompts.train.path", str(ctx.dir("hh_data") / "ppo_prompts.jsonl")),
                override("stage.max_prompt_length", int(ctx.cfg.hh.max_length) - int(ctx.cfg.hh.max_new_tokens)),
                override("stage.max_new_tokens", int(ctx.cfg.hh.max_new_tokens))]

    if max_length <= int(cfg.hh.max_new_tokens):
        raise ConfigError(f"hh.max_length ({max_length}) must be larger than hh.max_new_tokens ({cfg.hh.max_new_tokens})")
    with_pretrain = user_model is None and stage_enabled(cfg, "pretrain")
    base = ("pretrain",) if with_pretrain else ()
    all_nodes = [
        Node("hh_data", func=_hh_step, settings=_data_settings),
        *([Node("pretrain", ("hh_data",), "pretrain", pretrain)] if with_pretrain else []),
        Node("sft", ("hh_data", *base), "sft", sft),
        Node("rm", ("hh_data", "sft"), "rm", rm),
        Node("ppo", ("hh_data", "sft", "rm"), "ppo", ppo),
        Node("evaluate", ("hh_data", *base, "sft", "rm", "ppo"), func=evaluate_hh,
             settings=lambda ctx: {"eval": container(ctx.cfg.eval), "hh": container(ctx.cfg.hh)}),
    ]
    return [n for n in all_nodes if n.name == "pretrain" or stage_enabled(cfg, n.name)]


__all__ = ["DEFAULT_PATH", "SPLITS", "base_model", "byte_windows", "evaluate_hh", "hh_path", "nodes", "pretrain_texts",
           "rm_accuracy_counts", "split_sizes", "write_hh_files"]
