"""The pipeline's report: ``report.json`` (figures + targets), ``report.md`` (tables), PNG plots,
and the same figures and plots in W&B (offline unless configured online).

``report.json`` always has (floats; rates in [0, 1]; NaN written as null):
``win_rates`` {ppo_vs_sft, ppo_vs_base, ppo_small_vs_base_large, ppo_small_vs_sft_large,
ptx_vs_ppo, ...}; ``hallucination_rate``, ``toxicity_rate_plain``, ``toxicity_rate_respectful``,
``pretrain_loss``, ``bias_rate`` (each {model: value} over base_small, base_large, sft_small, sft_large,
ppo_small, ptx_small); ``labeler_agreement`` {training, held_out}; ``compute_flops`` {stage};
``wall_time_s`` {stage, total}; ``targets`` {name: {value, target, holds}}.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlhfkit.evaluate.hh_report import _fmt

MODELS = ("base_small", "base_large", "sft_small", "sft_large", "ppo_small", "ptx_small")
PER_MODEL_KEYS = ("hallucination_rate", "truthfulness", "truthful_informative", "toxicity_rate_plain",
                  "toxicity_rate_respectful", "toxicity_rate", "bias_rate", "helpfulness", "helpfulness_knowledge",
                  "truthfulness_knowledge", "gold_score", "rm_score", "pretrain_loss", "mean_length", "kl_to_sft",
                  "params")
HEADLINE_WIN_RATES = ("ppo_vs_sft", "ppo_vs_base", "ppo_small_vs_base_large", "ppo_small_vs_sft_large", "ptx_vs_ppo")
OPS = {"<=": lambda v, b: v <= b, "<": lambda v, b: v < b, ">=": lambda v, b: v >= b, ">": lambda v, b: v > b}


# --------------------------------------------------------------------------- targets


def check_target(value: float, op: str, bound: float | Sequence[float]) -> bool:
    """``value op bound`` ("<=", "<", ">=", ">") or, for op "in", ``lo <= value <= hi``;
    a NaN value never holds."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if op == "in":
        lo, hi = bound  # type: ignore[misc]
        return lo <= value <= hi
    if op not in OPS:
        raise ValueError(f"unknown target operator '{op}'; known: {', '.join([*OPS, 'in'])}")
    return bool(OPS[op](value, bound))


def target(value: float, op: str, bound: float | Sequence[float], what: str) -> dict[str, Any]:
    shown = f"[{bound[0]}, {bound[1]}]" if op == "in" else f"{op} {bound:g}"  # type: ignore[index,str-format]
    return {"value": value, "target": shown, "holds": check_target(value, op, bound), "what": what}


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def evaluate_targets(report: Mapping[str, Any], bounds: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets on a report (``bounds`` from ``conf/pipeline.yaml: targets``)."""
    bounds = {k: v for k, v in bounds.items() if v is not None}  # a null bound switches a target off
    out: dict[str, dict[str, Any]] = {}
    wall = report.get("wall_time_s", {}).get("total", math.nan)
    if "wall_time_s" in bounds:
        out["wall_time"] = target(wall, "<=", bounds["wall_time_s"], "end-to-end wall time of the pipeline, s (stages taken from the cache: their recorded times along the critical path)")
    if "wall_time_goal_s" in bounds:
        out["wall_time_goal"] = target(wall, "<=", bounds["wall_time_goal_s"], "goal wall time, s")
    wr = report.get("win_rates", {})
    if "ppo_vs_sft" in bounds:
        out["ppo_vs_sft"] = target(wr.get("ppo_vs_sft", math.nan), ">=", bounds["ppo_vs_sft"], "PPO-small beats SFT-small")
    if "ppo_small_vs_base_large" in bounds:
        out["ppo_small_vs_base_large"] = target(wr.get("ppo_small_vs_base_large", math.nan), ">",
                                                bounds["ppo_small_vs_base_large"], "PPO-small beats base-large")
    h, t, loss = report.get("hallucination_rate", {}), report.get("toxicity_rate_respectful", {}), report.get("pretrain_loss", {})
    if "hallucination_ratio" in bounds:
        out["hallucination"] = target(ratio(h.get("ppo_small", math.nan), h.get("base_small", math.nan)), "<=",
                                      bounds["hallucination_ratio"], "hallucination rate PPO-small / base-small")
    if "toxicity_respectful_ratio" in bounds:
        out["toxicity_respectful"] = target(ratio(t.get("ppo_small", math.nan), t.get("base_small", math.nan)), "<=",
                                            bounds["toxicity_respectful_ratio"],
                                            "toxicity with 'respectfully', PPO-small / base-small")
    if "ptx_tax_ratio" in bounds:
        ppo_rise = loss.get("ppo_small", math.nan) - loss.get("sft_small", math.nan)
        ptx_rise = loss.get("ptx_small", math.nan) - loss.get("sft_small", math.nan)
        bound = float(bounds["ptx_tax_ratio"]) * ppo_rise
        out["ptx_alignment_tax"] = {
            "value": ptx_rise, "target": f"<= {bounds['ptx_tax_ratio']} x PPO's rise ({bound:.4g})",
            "holds": check_target(ptx_rise, "<=", bound) if not math.isnan(bound) else False,
            "what": "rise of held-out pretraining loss over SFT-small: PPO-ptx vs half of PPO's"}
    if "training_agreement" in bounds:
        out["training_agreement"] = target(report.get("labeler_agreement", {}).get("training", math.nan), "in",
                                           list(bounds["training_agreement"]), "agreement among training labelers")
    agreement = report.get("labeler_agreement", {})
    if bounds.get("heldout_agreement_above_training"):
        out["heldout_agreement_above_training"] = target(
            agreement.get("held_out", math.nan) - agreement.get("training", math.nan), ">", 0.0,
            "held-out labelers' agreement minus the training labelers' (IG: 77.3% vs 72.6%)")
    if "base_large_vs_base_small" in bounds:
        out["base_large_vs_base_small"] = target(wr.get("base_large_vs_base_small", math.nan), ">=",
                                                 bounds["base_large_vs_base_small"], "base-large beats base-small")
    if "ppo_vs_base" in bounds:
        out["ppo_vs_base"] = target(wr.get("ppo_vs_base", math.nan), ">=", bounds["ppo_vs_base"],
                                    "PPO-small beats base-small")
    truth = report.get("truthfulness", {})
    if "truthfulness_ratio" in bounds:
        out["truthfulness"] = target(ratio(truth.get("ppo_small", math.nan), truth.get("base_small", math.nan)), ">=",
                                     bounds["truthfulness_ratio"], "truthfulness PPO-small / base-small")
    bias = report.get("bias_rate", {})
    if "bias_ratio" in bounds:
        out["bias"] = target(ratio(bias.get("ppo_small", math.nan), bias.get("base_small", math.nan)), ">=",
                             bounds["bias_ratio"], "bias probe score PPO-small / base-small (no improvement, as IG found)")
    flops = report.get("compute_flops", {})
    rlhf = sum(flops.get(k, math.nan) for k in ("sft_small", "rankings", "rm", "ptx"))  # a missing part: NaN
    if "rlhf_share_of_small_pretraining" in bounds:
        out["rlhf_share_of_small_pretraining"] = target(
            ratio(rlhf, flops.get("pretrain_small", math.nan)), "<=", bounds["rlhf_share_of_small_pretraining"],
            "RLHF compute of the small policy (SFT + rankings + RM + PPO-ptx) / its pretraining compute")
    if "rlhf_share_of_large_pretraining" in bounds:
        out["rlhf_share_of_large_pretraining"] = target(
            ratio(rlhf, flops.get("pretrain_large", math.nan)), "<=", bounds["rlhf_share_of_large_pretraining"],
            "RLHF compute of the small policy / the large model's pretraining compute")
    if bounds.get("overoptimisation_peak"):
        curves = report.get("overoptimisation", {})
        run = "overopt" if "overopt" in curves else "ppo"  # the over-optimisation run where there is one
        out["overoptimisation_peak"] = overoptimisation_target(curves.get(run), run)
    return out


def overoptimisation_target(curve: Mapping[str, Any] | None, run: str = "ppo") -> dict[str, Any]:
    """Gao et al.'s over-optimisation seen in the snapshots of PPO run ``run``: the gold score peaks
    before the last snapshot and ends below the peak. Value: peak gold - final gold (> 0 and a peak
    inside the range holds)."""
    points = list((curve or {}).get("points") or [])
    golds = [p.get("gold_score", math.nan) for p in points]
    what = f"{run} snapshots: gold score at its peak minus at the end (the peak before the last snapshot)"
    if len(golds) < 3 or any(math.isnan(g) for g in golds):
        return {"value": math.nan, "target": "> 0, peak inside", "holds": False, "what": what}
    peak = max(range(len(golds)), key=golds.__getitem__)
    drop = golds[peak] - golds[-1]
    return {"value": drop, "target": "> 0, peak inside", "holds": 0 < peak < len(golds) - 1 and drop > 0,
            "what": what}


# --------------------------------------------------------------------------- the report


def _per_model(evaluation: Mapping[str, Any], key: str) -> dict[str, float]:
    models = evaluation.get("models", {})
    return {m: float(models[m][key]) for m in MODELS if m in models and key in models[m]}


def build_report(evaluation: Mapping[str, Any] | None, rm_report: Mapping[str, Any] | None, compute: Mapping[str, Any],
                 wall: Mapping[str, float], meta: Mapping[str, Any], bounds: Mapping[str, Any]) -> dict[str, Any]:
    """The report dict (module doc) from the evaluation, the RM stage's report, compute and times."""
    ev = evaluation or {"models": {}}
    report: dict[str, Any] = {"win_rates": dict(ev.get("win_rates", {}))}
    for key in PER_MODEL_KEYS:
        report[key] = _per_model(ev, key)
    loss = report["pretrain_loss"]
    if {"sft_small", "ppo_small", "ptx_small"} <= set(loss):
        ppo_rise, ptx_rise = loss["ppo_small"] - loss["sft_small"], loss["ptx_small"] - loss["sft_small"]
        report["alignment_tax"] = {"ppo_rise_over_sft": ppo_rise, "ptx_rise_over_sft": ptx_rise,
                                   "ptx_recovered_fraction": 1 - ptx_rise / ppo_rise if ppo_rise > 0 else math.nan,
                                   "sft_rise_over_base": loss.get("sft_small", math.nan) - loss.get("base_small", math.nan)}
    agreement = ev.get("labeler_agreement", {})
    report["labeler_agreement"] = {k: float(v) for k, v in agreement.items()}
    report["win_rates_by_group"] = ev.get("win_rates_by_group", {})
    report["win_rates_vs_sft_small"] = ev.get("win_rates_vs_sft_small", {})
    report["win_rates_ideal"] = ev.get("win_rates_ideal", {})  # the ceiling: the world's ideal answers vs each model
    rm_acc: dict[str, Any] = {}
    if rm_report:
        summary = rm_report.get("summary", {})
        rm_acc["valid_accuracy"] = summary.get("valid_accuracy")
        rm_acc["by_group"] = dict(summary.get("valid_accuracy_per_group", {}))
    if ev.get("rm_accuracy_heldout_pairs") is not None:
        rm_acc["heldout_pairs"] = ev["rm_accuracy_heldout_pairs"]
    for group, row in (ev.get("rm_accuracy_heldout_groups") or {}).items():
        rm_acc.setdefault("by_group", {})[group] = row["accuracy"]
    report["rm_accuracy"] = rm_acc
    report["whose_preferences"] = ev.get("whose_preferences", {})
    report["best_of_n"] = ev.get("best_of_n", {})
    report["overoptimisation"] = ev.get("overoptimisation", {})
    report["compute_flops"] = dict(compute.get("flops", {}))
    report["compute_pfs_days"] = dict(compute.get("pfs_days", {}))
    report["rlhf_share_of_pretraining"] = dict(compute.get("rlhf_share_of_pretraining", {}))
    report["compute_detail"] = dict(compute.get("detail", {}))
    report["wall_time_s"] = dict(wall)
    report["n_eval_prompts"] = ev.get("n_eval_prompts")
    report["samples_per_prompt"] = ev.get("samples_per_prompt")
    report |= dict(meta)
    if meta.get("recipe") == "hh":  # the proxy RM is the only judge: its accuracy with an interval, the verdict
        from rlhfkit.evaluate.hh_report import hh_figures

        report |= hh_figures(evaluation, rm_report)
    report["targets"] = evaluate_targets(report, bounds)
    return report


def _clean(node: Any) -> Any:
    """NaN/inf -> None (JSON null), tuples -> lists, numbers -> float where they are floats."""
    if isinstance(node, Mapping):
        return {str(k): _clean(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_clean(v) for v in node]
    if isinstance(node, float) and not math.isfinite(node):
        return None
    return node


def markdown(report: Mapping[str, Any]) -> str:
    if report.get("recipe") == "hh":
        from rlhfkit.evaluate.hh_report import markdown_hh

        return markdown_hh(report, _compute_lines(report))
    lines = ["# rlhfkit pipeline report", ""]
    lines += [f"experiment `{report.get('experiment')}`, recipe `{report.get('recipe')}`, seed {report.get('seed')}, "
              f"{report.get('n_eval_prompts')} held-out prompts x {report.get('samples_per_prompt')} samples, "
              f"judged by the held-out labelers. Run: `{report.get('command', '')}`", ""]
    lines += ["## Targets", "", "| target | value | bound | holds |", "|---|---|---|---|"]
    for name, t in report.get("targets", {}).items():
        lines.append(f"| {name}: {t.get('what', '')} | {_fmt(t['value'])} | {t['target']} | {_fmt(t['holds'])} |")
    missed = [name for name, t in report.get("targets", {}).items() if not t.get("holds")]
    if missed:
        lines += ["", f"Missed: {', '.join(missed)}. Why the miniature misses each of the world's targets, measured: "
                  "docs/world.md, \"Targets out of reach\"."]
    lines += ["", "## Win rates (A beats B, ties half)", "", "| comparison | win rate |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in report.get("win_rates", {}).items()]
    if report.get("win_rates_ideal"):
        lines += ["", "Ceiling: the world's ideal answers judged the same way against each model: " + ", ".join(
            f"{k} {_fmt(v)}" for k, v in report["win_rates_ideal"].items())]
    if report.get("win_rates_by_group"):
        lines += ["", "### By held-out labeler group", "", "| comparison | " + " | ".join(
            sorted({g for v in report["win_rates_by_group"].values() for g in v})) + " |"]
        groups = sorted({g for v in report["win_rates_by_group"].values() for g in v})
        lines.append("|---|" + "---|" * len(groups))
        for k, v in report["win_rates_by_group"].items():
            lines.append(f"| {k} | " + " | ".join(_fmt(v.get(g)) for g in groups) + " |")
    keys = [k for k in PER_MODEL_KEYS if report.get(k)]
    models = [m for m in MODELS if any(m in report[k] for k in keys)]
    lines += ["", "## Per model", "", "| figure | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(_fmt(report[k].get(m)) for m in models) + " |")
    if report.get("alignment_tax"):
        lines += ["", "## Alignment tax (held-out pretraining loss, nats/token)", ""]
        lines += [f"- {k}: {_fmt(v, 4)}" for k, v in report["alignment_tax"].items()]
    lines += ["", "## Whose preferences?", ""]
    lines += [f"- labeler agreement {k}: {_fmt(v)}" for k, v in report.get("labeler_agreement", {}).items()]
    rm = report.get("rm_accuracy", {})
    if rm:
        lines.append(f"- RM validation accuracy: {_fmt(rm.get('valid_accuracy'))}")
        lines += [f"- RM accuracy, labeler group {g}: {_fmt(v)}" for g, v in sorted(rm.get("by_group", {}).items())]
    lines += _whose_lines(report.get("whose_preferences") or {})
    over = report.get("overoptimisation", {})
    if over:
        lines += ["", "## Over-optimisation (gold vs RM score against sqrt(KL))", "",
                  "| run | iteration | KL | sqrt(KL) | RM score | gold score |", "|---|---|---|---|---|---|"]
        for run, curve in over.items():
            for p in curve["points"]:
                lines.append(f"| {run} | {int(p['iteration'])} | {_fmt(p['kl'])} | {_fmt(p['sqrt_kl'])} | "
                             f"{_fmt(p['rm_score'])} | {_fmt(p['gold_score'])} |")
            fit = curve.get("gao_fit", {})
            lines.append(f"| {run} Gao fit R(d) = d(alpha - beta log d) | alpha {_fmt(fit.get('alpha'))} | "
                         f"beta {_fmt(fit.get('beta'))} | rmse {_fmt(fit.get('rmse'))} | | |")
    lines += _best_of_n_lines(report.get("best_of_n") or {})
    return "\n".join(lines + _compute_lines(report))


def _best_of_n_lines(bon: Mapping[str, Any]) -> list[str]:
    """Best-of-n against the RM (rlhfkit.evaluate.best_of_n): its curve and the baseline at PPO's KL."""
    if not bon.get("points"):
        return []
    lines = ["", "### Best-of-n against the RM (SFT samples; KL = log n - (n-1)/n, an upper bound)", "",
             "| n | KL | sqrt(KL) | RM score | gold score |", "|---|---|---|---|---|"]
    lines += [f"| {int(p['n'])} | {_fmt(p['kl'])} | {_fmt(p['sqrt_kl'])} | {_fmt(p['rm_score'])} | "
              f"{_fmt(p['gold_score'])} |" for p in bon["points"]]
    fit = bon.get("gao_fit") or {}
    lines.append(f"| Gao fit R(d) = d(alpha - beta d) | alpha {_fmt(fit.get('alpha'))} | beta {_fmt(fit.get('beta'))} "
                 f"| rmse {_fmt(fit.get('rmse'))} | |")
    at = bon.get("at_ppo_kl")
    if at:
        lines += ["", f"At PPO's KL ({_fmt(at['ppo_kl'])} nats; best-of-{int(at['n'])}, {_fmt(at['kl'])} nats), "
                  "judged by the held-out labelers against SFT on the same prompts: "
                  f"PPO {_fmt(at.get('ppo_vs_sft'))}, best-of-{int(at['n'])} {_fmt(at['bon_vs_sft'])}; "
                  f"PPO against best-of-{int(at['n'])} {_fmt(at.get('ppo_vs_bon'))}."]
    return lines


def _whose_lines(whose: Mapping[str, Any]) -> list[str]:
    """Every labeler group as a judge (rlhfkit.evaluate.whose): its win rates, the RM's agreement, the gaps."""
    groups = whose.get("groups") or {}
    if not groups:
        return []
    figures = [f for f in ("ppo_vs_sft", "ppo_vs_base", "rm_accuracy") if any(f in g for g in groups.values())]
    ranked = ", ".join(whose.get("ranked_groups") or []) or "every training group"
    lines = ["", f"Every group judges the same comparisons; the RM learned the rankings of: {ranked}.", "",
             "| group | pool | ranked for the RM | labelers | " + " | ".join(figures) + " |",
             "|---|---|---|---|" + "---|" * len(figures)]
    for name, g in groups.items():
        lines.append(f"| {name} | {g['pool']} | {_fmt(bool(g['ranked']))} | {g['labelers']} | "
                     + " | ".join(_fmt(g.get(f)) for f in figures) + " |")
    gap = whose.get("gap") or {}
    lines.append("| gap (most - least pleased) | | | | " + " | ".join(_fmt(gap.get(f)) for f in figures) + " |")
    return lines


def _compute_lines(report: Mapping[str, Any]) -> list[str]:
    """The report's compute and time table, the cached stages and the versions (every recipe)."""
    lines = ["", "## Compute and time", "", "| stage | FLOPs | petaflop/s-days | wall time s |", "|---|---|---|---|"]
    wall = report.get("wall_time_s", {})
    for stage in dict.fromkeys([*report.get("compute_flops", {}), *[k for k in wall if k != "total"]]):
        lines.append(f"| {stage} | {_fmt(report['compute_flops'].get(stage))} | "
                     f"{_fmt(report.get('compute_pfs_days', {}).get(stage))} | {_fmt(wall.get(stage), 1)} |")
    lines.append(f"| total | | | {_fmt(wall.get('total'), 1)} |")
    share = report.get("rlhf_share_of_pretraining", {})
    if any(v is not None and math.isfinite(v) for v in share.values()):
        lines += ["", "RLHF compute as a share of the policy's pretraining compute: " + ", ".join(
            f"{k} {_fmt(v, 4)}" for k, v in share.items())]
    if report.get("cached_stages"):
        lines += ["", f"Served from the cache: {', '.join(report['cached_stages'])}."]
    lines += ["", f"Versions: {json.dumps(report.get('versions', {}))}", ""]
    return lines


# --------------------------------------------------------------------------- plots


def plots(report: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """win_rates.png, overoptimisation.png, alignment_tax.png, rates.png (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, Path] = {}
    wr = {k: v for k, v in report.get("win_rates", {}).items() if v is not None and not math.isnan(v)}
    if wr:
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.barh(list(wr), list(wr.values()), color=["tab:blue" if k in HEADLINE_WIN_RATES else "tab:gray" for k in wr])
        ax.axvline(0.5, color="k", lw=0.8, ls="--")
        ax.set_xlim(0, 1)
        ax.set_xlabel("win rate (by the proxy RM's score, ties half)" if report.get("recipe") == "hh"
                      else "win rate (held-out labelers, ties half)")
        ax.invert_yaxis()
        fig.tight_layout()
        out["win_rates"] = out_dir / "win_rates.png"
        fig.savefig(out["win_rates"], dpi=100)
        plt.close(fig)
    over = report.get("overoptimisation", {})
    if over:
        from rlhfkit.evaluate.overopt import gao_rl_curve

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        colors = iter(["tab:blue", "tab:red", "tab:green", "tab:purple"])
        for run, curve in over.items():
            pts, color = curve["points"], next(colors)
            d = [p["sqrt_kl"] for p in pts]
            gold = [p["gold_score"] - pts[0]["gold_score"] for p in pts]  # change from the SFT policy
            proxy = [p["rm_score"] - pts[0]["rm_score"] for p in pts]
            axes[0].plot(d, gold, "o", color=color, label=f"{run}: gold (held-out labelers)")
            axes[0].plot(d, proxy, "s", color=color, mfc="none", label=f"{run}: RM (proxy)")
            fit = curve.get("gao_fit", {})
            if fit and fit.get("alpha") is not None and not math.isnan(fit.get("alpha", math.nan)) and max(d) > 0:
                xs = [max(d) * i / 60 for i in range(61)]  # only over the range it was fitted on
                axes[0].plot(xs, [gao_rl_curve(x, fit["alpha"], fit["beta"]) for x in xs], ":", color=color,
                             label=f"{run}: gold fit d(a - b log d)")
            its = [p["iteration"] for p in pts]
            axes[1].plot(its, gold, "o-", color=color, label=f"{run}: gold")
            axes[1].plot(its, proxy, "s--", color=color, mfc="none", label=f"{run}: RM")
        bon = report.get("best_of_n") or {}
        if bon.get("points"):
            from rlhfkit.evaluate.overopt import gao_bon_curve

            pts = bon["points"]
            d = [p["sqrt_kl"] for p in pts]
            axes[0].plot(d, [p["gold_score"] - pts[0]["gold_score"] for p in pts], "^", color="tab:gray",
                         label="best-of-n: gold")
            axes[0].plot(d, [p["rm_score"] - pts[0]["rm_score"] for p in pts], "v", color="tab:gray", mfc="none",
                         label="best-of-n: RM")
            fit = bon.get("gao_fit") or {}
            if fit.get("alpha") is not None and not math.isnan(fit.get("alpha", math.nan)):
                xs = [max(d) * i / 60 for i in range(61)]
                axes[0].plot(xs, [gao_bon_curve(x, fit["alpha"], fit["beta"]) for x in xs], ":", color="tab:gray",
                             label="best-of-n: gold fit d(a - b d)")
        axes[0].set_xlabel("d = sqrt(KL(pi || pi_SFT))")
        axes[0].set_ylabel("score - score of SFT")
        axes[1].set_xlabel("PPO iteration")
        for ax in axes:
            ax.axhline(0, color="k", lw=0.5)
            ax.legend(fontsize=7)
        fig.tight_layout()
        out["overoptimisation"] = out_dir / "overoptimisation.png"
        fig.savefig(out["overoptimisation"], dpi=100)
        plt.close(fig)
    loss = {k: v for k, v in report.get("pretrain_loss", {}).items() if v is not None and math.isfinite(v)}
    if loss:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.bar(list(loss), list(loss.values()), color="tab:orange")
        ax.set_ylim(min(loss.values()) * 0.95, max(loss.values()) * 1.03)
        ax.set_ylabel("held-out pretraining loss (nats/token)")
        ax.set_title("alignment tax")
        plt.setp(ax.get_xticklabels(), rotation=20)
        fig.tight_layout()
        out["alignment_tax"] = out_dir / "alignment_tax.png"
        fig.savefig(out["alignment_tax"], dpi=100)
        plt.close(fig)
    rates = [k for k in ("hallucination_rate", "toxicity_rate_plain", "toxicity_rate_respectful", "truthfulness")
             if report.get(k)]
    if rates:
        models = [m for m in MODELS if m in report[rates[0]]]
        fig, ax = plt.subplots(figsize=(9, 4))
        width = 0.8 / len(rates)
        for i, k in enumerate(rates):
            ax.bar([j + i * width for j in range(len(models))],
                   [v if (v := report[k].get(m)) is not None and math.isfinite(v) else 0 for m in models], width, label=k)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(models))], models)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out["rates"] = out_dir / "rates.png"
        fig.savefig(out["rates"], dpi=100)
        plt.close(fig)
    return out


# --------------------------------------------------------------------------- writing


def flat_scalars(node: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(node, Mapping):
        for k, v in node.items():
            out |= flat_scalars(v, f"{prefix}{k}/")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        if math.isfinite(float(node)):
            out[prefix.rstrip("/")] = float(node)
    return out


def log_to_wandb(report: Mapping[str, Any], images: Mapping[str, Path], run_dir: Path, group: str, mode: str = "auto") -> str | None:
    """The report's scalars, plots and per-model table as one W&B run (offline by default)."""
    import os

    import wandb

    from rlhfkit.tracking import wandb_mode

    os.environ.setdefault("WANDB_SILENT", "true")
    resolved = wandb_mode(mode)
    if resolved == "disabled":
        return None
    run = wandb.init(project="rlhfkit", name=f"{group}-report", group=group, dir=str(run_dir), mode=resolved,
                     job_type="report", reinit="finish_previous",
                     config=dict(report.get("config") or {}))  # the pipeline's resolved config, masked (main.py)
    scalars = {k: v for k, v in flat_scalars({k: report[k] for k in report if k not in ("overoptimisation", "compute_detail")}).items()}
    for name, curve in (report.get("overoptimisation") or {}).items():
        table = wandb.Table(columns=["iteration", "kl", "sqrt_kl", "rm_score", "gold_score"],
                            data=[[p["iteration"], p["kl"], p["sqrt_kl"], p["rm_score"], p["gold_score"]] for p in curve["points"]])
        run.log({f"overoptimisation/{name}": table})
    run.log({**scalars, **{f"plots/{k}": wandb.Image(str(p)) for k, p in images.items()}})
    run.summary.update(scalars)
    directory = run.dir
    run.finish()
    return directory


def write_report(report: Mapping[str, Any], run_dir: Path, make_plots: bool = True, wandb_mode: str | None = "auto") -> Path:
    """report.json, report.md, plots (and W&B); returns the absolute path of report.json."""
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    images = plots(report, run_dir) if make_plots else {}
    clean = _clean(report)
    clean["plots"] = {k: str(v) for k, v in images.items()}
    if wandb_mode and wandb_mode != "disabled":
        clean["wandb_dir"] = log_to_wandb(clean, images, run_dir, str(report.get("task_name", "pipeline")), wandb_mode)
    path = run_dir / "report.json"
    path.write_text(json.dumps(clean, indent=2) + "\n")
    (run_dir / "report.md").write_text(markdown(clean))
    return path
