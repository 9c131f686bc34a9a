"""Check every plugin name a run will use before anything is built (fail at start-up)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlhfkit.plugins import PluginManager, UnknownPluginNameError
from rlhfkit.plugins.errors import PluginError


class ConfigNamesError(PluginError):
    def __init__(self, errors: list[UnknownPluginNameError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def select(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, throw_on_missing=False)


def check_names(cfg: DictConfig, plugins: PluginManager, wanted: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """``wanted``: (kind, config key of a spec with a ``name``). Absent (null) specs are skipped.

    Returns the providers used (for versions.json); raises one error listing every unknown name.
    """
    errors, used = [], []
    for kind, key in wanted:
        spec = select(cfg, key)
        if spec is None:
            continue
        name = spec.get("name") if isinstance(spec, DictConfig) else None
        if name is None:
            errors.append(UnknownPluginNameError(kind, "<missing 'name'>", list(plugins.registry(kind)), key))
            continue
        if name not in plugins.registry(kind):
            errors.append(UnknownPluginNameError(kind, name, list(plugins.registry(kind)), f"{key}.name"))
            continue
        p = plugins.provider(kind, name)
        used.append({"kind": kind, "name": name, "plugin": p.plugin, "distribution": p.distribution, "version": p.version})
        if kind == "reward" and name == "weighted_sum":
            for i, _ in enumerate(spec.get("components") or []):
                used.extend(check_names(cfg, plugins, [("reward", f"{key}.components[{i}]")]))
    if errors:
        raise ConfigNamesError(errors)
    return used


def as_spec(cfg: DictConfig, key: str) -> dict[str, Any]:
    """A plugin spec as a plain dict (``name`` plus keyword arguments), MISSING values reported."""
    node = select(cfg, key)
    if node is None:
        raise KeyError(f"config key '{key}' is not set")
    missing = [k for k in node if OmegaConf.is_missing(node, k)]
    if missing:
        raise MissingConfigValueError(f"config key '{key}.{missing[0]}' is required (e.g. {key}.{missing[0]}=...)")
    return OmegaConf.to_container(node, resolve=True)


class MissingConfigValueError(PluginError):
    pass
