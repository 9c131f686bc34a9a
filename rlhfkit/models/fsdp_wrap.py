"""FSDP's unit of sharding: one per transformer block, taken from the HF models' own
``_no_split_modules`` (GPT2Block, LlamaDecoderLayer, ...), so ``trainer=fsdp`` shards block by block
instead of wrapping a whole model as one unit (which gathers every weight at once).

Frozen models (PPO's reference and reward models) are wrapped the same way and never reach an
optimizer; Lightning's FSDP keeps ``use_orig_params=True``, so frozen and trained parameters may
share a unit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from torch import nn

log = logging.getLogger(__name__)

FSDP_TARGETS = ("pytorch_lightning.strategies.FSDPStrategy", "lightning.pytorch.strategies.FSDPStrategy")


def block_classes(models: Iterable[nn.Module]) -> set[type[nn.Module]]:
    """The module classes named in the ``_no_split_modules`` of every HF model inside ``models``
    (wrappers such as peft or rlhfkit's scalar-head model included), as found among their modules."""
    names: set[str] = set()
    modules: list[nn.Module] = []
    for model in models:
        for module in model.modules():
            names.update(getattr(module, "_no_split_modules", None) or ())
            modules.append(module)
    return {type(m) for m in modules if type(m).__name__ in names}


def is_fsdp(strategy_spec: Any) -> bool:
    target = strategy_spec.get("_target_") if hasattr(strategy_spec, "get") else None
    return target in FSDP_TARGETS


def fsdp_strategy(strategy_spec: Any, models: Iterable[nn.Module]):
    """``trainer.strategy`` (an FSDPStrategy spec) instantiated with an auto-wrap policy of the
    models' transformer blocks, unless the spec sets ``auto_wrap_policy`` itself."""
    import hydra

    if strategy_spec.get("auto_wrap_policy") is not None:
        return hydra.utils.instantiate(strategy_spec)
    classes = block_classes(models)
    if not classes:
        log.warning("trainer.strategy FSDP: no model names its transformer blocks (_no_split_modules); each model "
                    "is one FSDP unit. Set trainer.strategy.auto_wrap_policy to shard finer")
        return hydra.utils.instantiate(strategy_spec)
    log.info("trainer.strategy FSDP: one unit per %s", ", ".join(sorted(c.__name__ for c in classes)))
    return hydra.utils.instantiate(strategy_spec, auto_wrap_policy=classes)
