"""Each stage's settings are one frozen dataclass (``SFTConfig``, ``RMConfig``, ``PPOConfig``, ...):
every option written once, with its default and a comment naming its source. This module turns
such a dataclass into what Hydra needs and back:

* :func:`hydra_schema`: a mutable twin of the dataclass, stored in Hydra's ConfigStore as
  ``stage/<name>_schema``, which ``conf/stage/<name>.yaml`` lists in its defaults. Hydra then knows
  every key, its type and its default (a typo or a wrong type is refused at composition, naming the
  key), and the yaml holds nothing but the values that differ.
* :func:`from_node`: the composed ``cfg.stage`` node as the frozen dataclass the stage takes whole.

Frozen dataclasses cannot be Hydra schemas themselves (Hydra merges overrides into the node).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from rlhfkit.errors import ConfigError
from rlhfkit.stages.option_rules import check_options

T = TypeVar("T")


@functools.cache
def hydra_schema(cls: type) -> type:
    """A non-frozen dataclass with ``cls``'s fields, types and defaults (nested dataclasses too)."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            kind = hydra_schema(kind)
            fields.append((f.name, kind, dataclasses.field(default_factory=kind)))
        elif f.default is not dataclasses.MISSING:
            fields.append((f.name, kind, dataclasses.field(default=f.default)))
        else:
            fields.append((f.name, kind, dataclasses.field(default_factory=f.default_factory)))
    return dataclasses.make_dataclass(f"{cls.__name__}Schema", fields)


def register(name: str, cls: type) -> None:
    """Store ``cls``'s schema as the config ``stage/<name>_schema``."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="stage", name=f"{name}_schema", node=hydra_schema(cls))


def build(cls: type[T], values: dict[str, Any], key: str) -> T:
    """``cls(**values)``, nested dataclasses built from their dicts, every option checked against
    ``cls.RULES`` (:mod:`rlhfkit.stages.option_rules`); unknown keys and refused values name the key."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"config key '{key}.{unknown[0]}': not an option of {cls.__name__}; "
                          f"options: {', '.join(sorted(names))}")
    kwargs = {}
    for name, value in values.items():
        kind = hints[name]
        kwargs[name] = build(kind, value, f"{key}.{name}") if dataclasses.is_dataclass(kind) else value
    config = cls(**kwargs)
    check_options(config, key)  # ranges and relations (the schema already checked the types)
    return config


def from_node(cls: type[T], node: DictConfig | dict[str, Any], key: str = "stage") -> T:
    """The composed config ``node`` (resolved) as a frozen ``cls``."""
    values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    return build(cls, values, key)


def option_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}
