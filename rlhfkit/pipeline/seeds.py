"""Results across seeds: after ``rlhfkit pipeline -m seed=0,1,2``, the mean, standard deviation
(population, ddof 0), min and max of every report figure, in ``summary.json`` and
``summary.md`` in the sweep directory (a Hydra callback, ``on_multirun_end``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

SKIP = ("config", "stage_dirs", "stage_keys", "versions", "overoptimisation", "compute_detail", "plots",
        "cached_stages", "command", "wandb_dir", "params")


def flatten(report: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a report as ``{"a/b/c": value}`` (booleans as 0/1; the keys of
    :data:`SKIP` at the top level left out; nulls as NaN)."""
    out: dict[str, float] = {}
    for key, value in report.items():
        if not prefix and key in SKIP:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= flatten(value, name + "/")
        elif isinstance(value, bool):
            out[name] = float(value)
        elif isinstance(value, (int, float)):
            out[name] = float(value)
        elif value is None:
            out[name] = math.nan
    return out


def statistics(values: Sequence[float]) -> dict[str, float]:
    """mean, std (population), min, max and n over the finite values (NaN when none)."""
    xs = [v for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan, "n": 0.0}
    m = sum(xs) / len(xs)
    return {"mean": m, "std": math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs)), "min": min(xs), "max": max(xs),
            "n": float(len(xs))}


def summarise(reports: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    flat = [flatten(r) for r in reports]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return {k: statistics([f.get(k, math.nan) for f in flat]) for k in keys}


def _fmt(v: float) -> str:
    return "n/a" if not math.isfinite(v) else (f"{v:.3e}" if abs(v) >= 1e5 else f"{v:.4f}")


def write_summary(sweep_dir: Path) -> Path | None:
    paths = sorted(Path(sweep_dir).glob("*/report.json"))
    if not paths:
        return None
    reports = [json.loads(p.read_text()) for p in paths]
    summary = summarise(reports)
    clean = {k: {s: (v if math.isfinite(v) else None) for s, v in st.items()} for k, st in summary.items()}
    out = Path(sweep_dir) / "summary.json"
    out.write_text(json.dumps({"runs": [str(p) for p in paths], "seeds": [r.get("seed") for r in reports],
                               "figures": clean}, indent=2) + "\n")
    lines = [f"# rlhfkit pipeline: {len(paths)} runs (seeds {[r.get('seed') for r in reports]})", "",
             "| figure | mean | std | min | max |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {_fmt(s['mean'])} | {_fmt(s['std'])} | {_fmt(s['min'])} | {_fmt(s['max'])} |"
              for k, s in summary.items()]
    (Path(sweep_dir) / "summary.md").write_text("\n".join(lines) + "\n")
    return out


class SeedSummary(Callback):
    """Hydra callback: after a multirun, summarise every job's report.json; prints the summary path."""

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        path = write_summary(Path(config.hydra.sweep.dir))
        if path is not None:
            print(f"[pipeline] summary of {len(json.loads(path.read_text())['runs'])} runs: {path.parent / 'summary.md'}",
                  flush=True)
            print(path.resolve(), flush=True)
