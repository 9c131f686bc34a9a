"""Data hygiene as a plugin step (RLHF_DETAILS item 5): apply the ``data_filter`` plugins listed at
``data.<group>.filters`` to loaded examples, and log what each one changed or dropped.

    data:
      preference:
        filters:
          - {name: scrub_pii}
          - {name: dedupe, prefix_chars: 200}
          - {name: cap_per_user, max_per_user: 200}

A filter is ``factory(**options)(examples) -> (examples, report dict)``
(:func:`rlhfkit.plugins.hookspecs.rlhfkit_data_filters`). Nothing is silent: every filter's
report, and its own in/out counts, are logged and returned for the experiment tracker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, ListConfig

from rlhfkit.plugins import PluginManager
from rlhfkit.training.resolve import as_spec, select
from rlhfkit.errors import ConfigError

log = logging.getLogger(__name__)


def filter_keys(cfg: DictConfig, group: str) -> list[tuple[str, str]]:
    """``(kind, config key)`` of each filter at ``data.<group>.filters``, for :func:`check_names`."""
    specs = select(cfg, f"data.{group}.filters")
    if specs is None:
        return []
    if not isinstance(specs, ListConfig):
        raise ConfigError(f"config key 'data.{group}.filters' must be a list of {{name: ..., ...}} specs, "
                         f"got {type(specs).__name__}")
    return [("data_filter", f"data.{group}.filters[{i}]") for i in range(len(specs))]


def _prefixed(report: dict[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for key, value in report.items():
        short = key[len("data/hygiene/"):] if key.startswith("data/hygiene/") else key
        out[f"{prefix}{short}"] = value
    return out


def apply_filters(examples: list, cfg: DictConfig, plugins: PluginManager, group: str,
                  where: str = "train") -> tuple[list, dict[str, float]]:
    """Run the filters of ``data.<group>.filters`` in order on ``examples``.

    Returns the kept examples and a flat report ``{"data/<group>/<where>/hygiene/<i>_<name>/<key>": n}``
    (each filter's own report plus its ``in``/``out`` counts, so a filter that drops without
    saying so is still caught).
    """
    report: dict[str, float] = {}
    keys = filter_keys(cfg, group)
    if not keys:
        log.info("data.%s (%s): no hygiene filters configured (data.%s.filters is empty)", group, where, group)
        return examples, report
    for _, key in keys:
        spec = as_spec(cfg, key)
        name = spec.get("name", "?")
        step: Callable = plugins.build("data_filter", spec, key)
        n_in = len(examples)
        result = step(examples)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise TypeError(f"{key}: data filter '{name}' must return (examples, report dict), got {type(result).__name__}")
        examples, step_report = list(result[0]), result[1]
        prefix = f"data/{group}/{where}/hygiene/{key.rsplit('[', 1)[-1].rstrip(']')}_{name}/"
        entry = _prefixed(step_report, prefix) | {f"{prefix}in": n_in, f"{prefix}out": len(examples)}
        report |= entry
        log.info("data.%s (%s) filter %s: %d -> %d examples; report %s", group, where, name, n_in,
                 len(examples), {k[len(prefix):]: v for k, v in entry.items()})
        if not examples:
            raise ValueError(f"{key}: data filter '{name}' left no {where} examples of data.{group}")
    return examples, report


def filter_hook(cfg: DictConfig, plugins: PluginManager, group: str, reports: dict[str, float]) -> Callable[[list, str], list]:
    """A ``prepare(examples, config_key) -> examples`` for :func:`rlhfkit.training.common.train_valid`
    that applies the filters and adds their reports to ``reports``."""

    def prepare(examples: list, key: str) -> list:
        kept, report = apply_filters(examples, cfg, plugins, group, where=key.rsplit(".", 1)[-1])
        reports.update(report)
        return kept

    return prepare
