"""The HH recipe's report (``experiment=hh``): the proxy reward model is the only judge.

HH has no simulated labelers, so every PPO figure (its mean RM score, its win rate over SFT by
RM score) is the reward model's own verdict on the policy optimised against it. Those figures
mean something only if the RM orders held-out pairs better than a coin does, so the report
gives the RM's accuracy with a 95% interval (Wilson score interval on the number of pairs: the
RM stage's validation pairs from ``rm_report.json``, and the eval part's held-out pairs) and
says so, in words and above the PPO figures, when the interval includes 0.5.

``report.json`` (recipe hh) adds to the common keys: ``rm_accuracy`` {valid_accuracy,
valid_pairs, valid_ci95, heldout_pairs (accuracy), heldout_n, heldout_ci95, versus_chance
("better" | "chance" | "worse"), better_than_chance, chance_basis, statement}; ``hh_data`` (what
the file yielded: records, skipped and why, pairs, the split); ``base_model``;
``mean_length_bytes`` {model: value}; ``judge``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
JUDGE = "the proxy reward model (HH has no simulated labelers)"


def wilson_interval(correct: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``correct / n`` (95% for the default ``z``);
    (NaN, NaN) when ``n`` is 0. Unlike the normal approximation it stays inside [0, 1] and is
    sound for small ``n`` and proportions near 0 or 1."""
    if not n or n <= 0:
        return math.nan, math.nan
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def versus_chance(interval: tuple[float, float]) -> str:
    """"better" (the interval lies above 0.5), "worse" (below) or "chance" (it includes 0.5, or is NaN)."""
    lo, hi = interval
    if math.isnan(lo) or math.isnan(hi):
        return "chance"
    return "better" if lo > 0.5 else "worse" if hi < 0.5 else "chance"


def _interval(lo_hi: tuple[float, float]) -> str:
    return f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]"


def rm_figures(evaluation: Mapping[str, Any] | None, rm_report: Mapping[str, Any] | None) -> dict[str, Any]:
    """The RM's accuracy with 95% intervals and the verdict against chance (module doc). The
    verdict is taken on the RM stage's validation pairs, or on the eval part's held-out pairs when
    the RM stage reported none."""
    out: dict[str, Any] = {}
    summary = (rm_report or {}).get("summary", {}) or {}
    accuracy, n_valid = summary.get("valid_accuracy"), summary.get("valid_pairs")
    if accuracy is not None and n_valid:
        correct = round(float(accuracy) * float(n_valid))
        out |= {"valid_accuracy": float(accuracy), "valid_pairs": int(n_valid), "valid_correct": int(correct),
                "valid_ci95": list(wilson_interval(correct, float(n_valid)))}
    held = (evaluation or {}).get("rm_heldout") or {}
    if held.get("n_pairs"):
        out |= {"heldout_pairs": float(held["accuracy"]), "heldout_n": int(held["n_pairs"]),
                "heldout_correct": int(held["correct"]), "heldout_ties": int(held.get("ties", 0)),
                "heldout_ci95": list(wilson_interval(float(held["correct"]), float(held["n_pairs"])))}
    elif (evaluation or {}).get("rm_accuracy_heldout_pairs") is not None:
        out["heldout_pairs"] = float(evaluation["rm_accuracy_heldout_pairs"])  # type: ignore[index]
    basis = "valid" if "valid_ci95" in out else "heldout" if "heldout_ci95" in out else None
    if basis is None:
        out |= {"versus_chance": "chance", "better_than_chance": False, "chance_basis": None,
                "statement": "The reward model's accuracy was not measured (no RM stage report, no evaluation): "
                             "nothing below shows that it judges better than chance."}
        return out
    interval = tuple(out[f"{basis}_ci95"])
    verdict = versus_chance(interval)  # type: ignore[arg-type]
    what = ("validation accuracy (the RM stage's, on held-out pairs)" if basis == "valid"
            else "accuracy on the eval part's held-out pairs")
    acc = out["valid_accuracy"] if basis == "valid" else out["heldout_pairs"]
    n = out["valid_pairs"] if basis == "valid" else out["heldout_n"]
    measured = f"its {what} is {acc:.3f}, 95% interval {_interval(interval)} (Wilson, {n} pairs)"  # type: ignore[arg-type]
    if verdict == "better":
        statement = (f"The reward model is better than chance: {measured}, above 0.5. The PPO figures below are "
                     "still this RM's own scores of a policy trained against it, not a human judgement.")
    else:
        how = "no better than chance" if verdict == "chance" else "worse than chance"
        where = "includes 0.5" if verdict == "chance" else "lies below 0.5"
        statement = (f"The reward model is {how}: {measured}, and the interval {where}. PPO was trained against "
                     "this RM and is judged by it, so the PPO figures below (its RM score, its win rate over SFT by "
                     "RM score) do not show that PPO improved on SFT.")
    out |= {"versus_chance": verdict, "better_than_chance": verdict == "better",
            "chance_basis": "validation pairs" if basis == "valid" else "held-out eval pairs", "statement": statement}
    return out


def hh_figures(evaluation: Mapping[str, Any] | None, rm_report: Mapping[str, Any] | None) -> dict[str, Any]:
    """The keys the HH report adds or replaces (module doc)."""
    ev = evaluation or {}
    models = ev.get("models", {})
    return {
        "rm_accuracy": rm_figures(evaluation, rm_report),
        "hh_data": dict(ev.get("data", {})),
        "base_model": ev.get("base_model"),
        "mean_length_bytes": {m: float(v["mean_length_bytes"]) for m, v in models.items() if "mean_length_bytes" in v},
        "judge": JUDGE,
    }


def _fmt(v: Any, digits: int = 3) -> str:
    """A report value as text (the world report's :mod:`rlhfkit.evaluate.report` uses it too)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.3e}" if (abs(v) >= 1e5 or (0 < abs(v) < 1e-3)) else f"{v:.{digits}f}"
    return str(v)


def markdown_hh(report: Mapping[str, Any], tail: list[str]) -> str:
    """report.md of the HH recipe; ``tail``: the common compute, time and versions lines."""
    data = report.get("hh_data") or {}
    rm = report.get("rm_accuracy") or {}
    n_eval = report.get("n_eval_prompts")
    lines = ["# rlhfkit pipeline report", ""]
    lines += [f"experiment `{report.get('experiment')}`, recipe `{report.get('recipe')}`, seed {report.get('seed')}: "
              f"Anthropic HH preference pairs, {_fmt(n_eval)} held-out pairs and their prompts, "
              f"{_fmt(report.get('samples_per_prompt'))} sample per prompt and policy. There are no simulated labelers "
              f"for HH: every figure below is {JUDGE.split(' (')[0]}'s. Run: `{report.get('command', '')}`", ""]
    lines += ["## Data", ""]
    if data:
        skipped = data.get("skipped", 0)
        why = ", ".join(f"blank {k} response: {v}" for k, v in sorted((data.get("skipped_by_field") or {}).items()))
        lines.append(f"- `{data.get('file')}`: {data.get('records')} records read, {skipped} skipped"
                     f"{f' ({why})' if why else ''}, {data.get('pairs')} pairs")
        split = data.get("split") or {}
        how = ("fractions " + " / ".join(f"{_fmt(data['fractions'].get(k), 2)}" for k in split)
               if data.get("split_by") == "fractions" and data.get("fractions") else "fixed counts")
        lines.append(f"- split in file order ({how} of the pairs): " + ", ".join(f"{k} {v}" for k, v in split.items())
                     + (f"; {data['unused']} unused" if data.get("unused") else ""))
        if data.get("pretrain_texts"):
            lines.append(f"- pretraining text: {data['pretrain_texts']} windows ({data.get('pretrain_bytes')} bytes) of "
                         "the SFT, RM and PPO dialogues (not the held-out ones)")
    lines.append(f"- base model: {report.get('base_model') or 'n/a'}")
    lines += ["", "## Reward model", ""]
    if "valid_accuracy" in rm:
        lines.append(f"- validation accuracy (the RM stage's, on held-out pairs): {_fmt(rm['valid_accuracy'])}, 95% interval "
                     f"{_interval(tuple(rm['valid_ci95']))} (Wilson, {rm['valid_pairs']} pairs)")
    if "heldout_ci95" in rm:
        same = " (the RM stage's validation set, scored again by the exported RM)" if data.get("rm_valid") == "eval" else ""
        lines.append(f"- accuracy on the eval part's held-out pairs{same}: {_fmt(rm['heldout_pairs'])}, 95% interval "
                     f"{_interval(tuple(rm['heldout_ci95']))} (Wilson, {rm['heldout_n']} pairs; a tie counts as wrong)")
    elif rm.get("heldout_pairs") is not None:
        lines.append(f"- accuracy on the eval part's held-out pairs: {_fmt(rm['heldout_pairs'])}")
    if rm.get("statement"):
        lines += ["", f"**{rm['statement']}**"]
    lines += ["", "## Targets", "", "| target | value | bound | holds |", "|---|---|---|---|"]
    for name, t in report.get("targets", {}).items():
        lines.append(f"| {name}: {t.get('what', '')} | {_fmt(t['value'])} | {t['target']} | {_fmt(t['holds'])} |")
    lines += ["", "## PPO against SFT, judged by the reward model", ""]
    if rm and not rm.get("better_than_chance"):
        lines += ["(The reward model is not better than chance: see above. These are its scores.)", ""]
    rows = [("RM score (mean)", "rm_score"), ("KL to SFT (nats per response)", "kl_to_sft"),
            ("mean length, characters", "mean_length_bytes"), ("parameters", "params")]
    models = [m for m in ("sft_small", "ppo_small") if any(m in (report.get(k) or {}) for _, k in rows)]
    if models:
        lines += ["| figure | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
        for label, key in rows:
            if report.get(key):
                lines.append(f"| {label} | " + " | ".join(_fmt(report[key].get(m)) for m in models) + " |")
    for key, value in (report.get("win_rates") or {}).items():
        lines.append(f"\n- {key}: {_fmt(value)} (PPO's sample scored higher than SFT's by the RM, ties half)")
    return "\n".join(lines + tail)


__all__ = ["JUDGE", "Z95", "hh_figures", "markdown_hh", "rm_figures", "versus_chance", "wilson_interval"]
