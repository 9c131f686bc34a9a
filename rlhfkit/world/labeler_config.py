"""The labeler pool as configuration: ``world.labelers`` in conf/pipeline.yaml (``data.world_options.labelers``
for a single stage), read into the groups :meth:`rlhfkit.world.LabelerPool.sample` deals labelers into.

    labelers:
      train:                # write the demonstrations and the rankings
        a: {size: 14, helpful: 1.0, honest: 1.0, harmless: 1.0, length: 0.0, noise: 0.3}
        ...
      heldout:              # the judges; they produce no training data
        d: {size: 5, helpful: 1.1, honest: 1.2, harmless: 1.0, length: -0.15, noise: 0.15}

Each group takes ``size`` (labelers, >= 1), the mean weights ``helpful``, ``honest``, ``harmless``
(>= 0) and ``length`` (any sign), the Gumbel scale ``noise`` (> 0) and, optionally, the scatter
``weight_sd``, ``length_sd``, ``noise_sd`` (>= 0), and the share of demonstrations with a slip
``slip`` (in [0, 1]; default 0.2) with its scatter ``slip_sd`` (held-out groups write no demonstrations). A bad value is a :class:`ConfigError` naming its key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from rlhfkit.errors import ConfigError
from rlhfkit.world.labelers import GroupSpec, default_heldout_groups, default_train_groups

KEY = "world.labelers"
POOLS = ("train", "heldout")
_REQUIRED = ("size", "helpful", "honest", "harmless", "length", "noise")
_OPTIONAL = ("weight_sd", "length_sd", "noise_sd", "slip", "slip_sd")


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"config key '{key}': expected a finite number, got {value!r}")
    return float(value)


def group_spec(name: str, spec: Any, key: str) -> GroupSpec:
    """One group's mapping checked (``key`` names it in errors)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"config key '{key}': expected a mapping with {', '.join(_REQUIRED)}, got {spec!r}")
    unknown = sorted(set(spec) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ConfigError(f"config key '{key}.{unknown[0]}': not a labeler group option; options: "
                          f"{', '.join(_REQUIRED + _OPTIONAL)}")
    missing = [k for k in _REQUIRED if spec.get(k) is None]
    if missing:
        raise ConfigError(f"config key '{key}.{missing[0]}' is required (a labeler group needs {', '.join(_REQUIRED)})")
    values = {k: _number(spec[k], f"{key}.{k}") for k in (*_REQUIRED, *_OPTIONAL) if spec.get(k) is not None}
    size = values.pop("size")
    if size < 1 or size != int(size):
        raise ConfigError(f"config key '{key}.size': {spec['size']!r} is not a whole number >= 1")
    for k in ("helpful", "honest", "harmless", "weight_sd", "length_sd", "noise_sd", "slip_sd"):
        if values.get(k, 0.0) < 0:
            raise ConfigError(f"config key '{key}.{k}': {values[k]:g} must be >= 0")
    if not 0 <= values.get("slip", 0.0) <= 1:
        raise ConfigError(f"config key '{key}.slip': {values['slip']:g} must be in [0, 1] (a share of demonstrations)")
    if values["noise"] <= 0:
        raise ConfigError(f"config key '{key}.noise': {values['noise']:g} must be > 0 (the labeler's Gumbel scale)")
    return GroupSpec(name=str(name), size=int(size), **values)


def pool_groups(spec: Mapping[str, Any] | None, n_train: int = 40, n_heldout: int = 10,
                key: str = KEY) -> tuple[list[GroupSpec], list[GroupSpec]]:
    """``(train groups, held-out groups)`` from ``world.labelers``; None (or a pool left out) is the
    default pool of ``n_train`` / ``n_heldout`` labelers. Group names are unique across both pools."""
    if spec is None:
        return default_train_groups(n_train), default_heldout_groups(n_heldout)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"config key '{key}': expected a mapping with train and heldout, got {spec!r}")
    unknown = sorted(set(spec) - set(POOLS))
    if unknown:
        raise ConfigError(f"config key '{key}.{unknown[0]}': not a labeler pool; pools: {', '.join(POOLS)}")
    out: dict[str, list[GroupSpec]] = {}
    for pool, default in (("train", default_train_groups(n_train)), ("heldout", default_heldout_groups(n_heldout))):
        groups = spec.get(pool)
        if groups is None:
            out[pool] = default
            continue
        if not isinstance(groups, Mapping) or not groups:
            raise ConfigError(f"config key '{key}.{pool}': expected a mapping of group name -> group, got {groups!r}")
        out[pool] = [group_spec(name, g, f"{key}.{pool}.{name}") for name, g in groups.items()]
    names = [g.name for pool in POOLS for g in out[pool]]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"config key '{key}': group '{twice[0]}' is both a training and a held-out group")
    if sum(g.size for g in out["train"]) < 2 or sum(g.size for g in out["heldout"]) < 2:
        raise ConfigError(f"config key '{key}': each pool needs at least 2 labelers (agreement compares pairs)")
    return out["train"], out["heldout"]


def as_config(groups: list[GroupSpec]) -> dict[str, dict[str, float]]:
    """Groups back as ``world.labelers.<pool>`` writes them (every field but the name)."""
    return {g.name: {f.name: getattr(g, f.name) for f in fields(GroupSpec) if f.name != "name"} for g in groups}
