"""Discovery of plugins through the ``rlhfkit`` entry-point group, and lookup of parts by name."""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from rlhfkit.plugins import hookspecs
from rlhfkit.plugins.errors import (
    DuplicatePluginNameError,
    PluginCheckError,
    PluginOptionError,
    UnknownPluginNameError,
)
from rlhfkit.plugins.markers import ENTRY_POINT_GROUP, PROJECT_NAME

# kind -> hook name. A kind is what a config group names ("model", "reward", ...).
KINDS: dict[str, str] = {
    "model": "rlhfkit_models",
    "dataset": "rlhfkit_datasets",
    "reward": "rlhfkit_reward_functions",
    "kl_controller": "rlhfkit_kl_controllers",
    "optimizer": "rlhfkit_optimizers",
    "lr_scheduler": "rlhfkit_lr_schedulers",
    "advantage": "rlhfkit_advantage_estimators",
    "data_filter": "rlhfkit_data_filters",
    "sampler": "rlhfkit_samplers",
}


@dataclass(frozen=True)
class Provided:
    """One named part: its factory and the plugin (and distribution) it comes from."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    distribution: str | None
    version: str | None


def check_options_taken(factory: Callable, kind: str, name: str, options: dict[str, Any], config_key: str) -> None:
    """Refuse, before the call, an option the factory has no parameter for (a typo, or an option of
    another part), listing the ones it takes; a factory taking ``**kwargs`` takes anything."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin or C callable: no signature to check against
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(options) - set(params))
    if unknown:
        taken = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        raise PluginOptionError(f"config key '{config_key}.{unknown[0]}': {kind} '{name}' has no option "
                                f"'{unknown[0]}'; its options: {', '.join(taken) or '(none)'}")


class PluginManager:
    """Loads plugins and answers "which factory is called NAME for KIND?".

    Args:
        load_entrypoints: discover installed plugins through the ``rlhfkit`` entry-point group.
            Tests turn it off and :meth:`register` plugin modules or objects directly.
    """

    def __init__(self, load_entrypoints: bool = True) -> None:
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._dists: dict[int, tuple[str, str]] = {}
        self._cache: dict[str, dict[str, Provided]] = {}
        if load_entrypoints:
            self._load_entrypoints()

    def _load_entrypoints(self) -> None:
        for ep in installed_entry_points():
            if self._pm.has_plugin(ep.name):
                raise PluginCheckError(
                    f"two installed packages declare the rlhfkit plugin '{ep.name}' "
                    f"({ep.value} and {self._pm.get_plugin(ep.name)!r})"
                )
            try:
                plugin = ep.load()
            except Exception as err:  # a broken third-party plugin must name itself
                raise PluginCheckError(
                    f"plugin '{ep.name}' (entry point '{ep.value}'"
                    f"{' from ' + ep.dist.name if ep.dist else ''}) failed to import: {type(err).__name__}: {err}"
                ) from err
            self._pm.register(plugin, name=ep.name)
            if ep.dist is not None:
                self._dists[id(plugin)] = (ep.dist.name, ep.dist.version)

    def register(self, plugin: ModuleType | object, name: str | None = None) -> None:
        self._pm.register(plugin, name=name)
        self._cache.clear()

    def _distributions(self) -> dict[int, tuple[str, str]]:
        return self._dists

    def plugin_names(self) -> list[str]:
        return [self._pm.get_name(p) or repr(p) for p in self._pm.get_plugins()]

    def registry(self, kind: str) -> dict[str, Provided]:
        """Every part of ``kind`` by name; raises on a name provided twice."""
        if kind not in KINDS:
            raise UnknownPluginNameError("plugin kind", kind, list(KINDS))
        if kind in self._cache:
            return self._cache[kind]
        dists = self._distributions()
        merged: dict[str, Provided] = {}
        for impl in getattr(self._pm.hook, KINDS[kind]).get_hookimpls():
            provided = impl.function()
            if not isinstance(provided, dict):
                raise PluginCheckError(
                    f"plugin '{impl.plugin_name}': hook {KINDS[kind]} must return a dict "
                    f"{{name: factory}}, got {type(provided).__name__}"
                )
            dist, version = dists.get(id(impl.plugin), (None, None))
            for name, factory in provided.items():
                if name in merged:
                    raise DuplicatePluginNameError(kind, name, merged[name].plugin, impl.plugin_name)
                merged[name] = Provided(kind, name, factory, impl.plugin_name, dist, version)
        self._cache[kind] = merged
        return merged

    def get(self, kind: str, name: str, config_key: str | None = None) -> Callable[..., Any]:
        """The factory called ``name``; an unknown name lists the known ones."""
        parts = self.registry(kind)
        if name not in parts:
            raise UnknownPluginNameError(kind, name, list(parts), config_key)
        return parts[name].factory

    def provider(self, kind: str, name: str) -> Provided:
        self.get(kind, name)
        return self.registry(kind)[name]

    def build(self, kind: str, spec: Any, config_key: str, /, **extra: Any) -> Any:
        """Call the factory named by ``spec['name']`` with the rest of ``spec`` plus ``extra``."""
        options = dict(spec)
        if "name" not in options:
            raise UnknownPluginNameError(kind, "<missing 'name'>", list(self.registry(kind)), config_key)
        name = options.pop("name")
        factory = self.get(kind, name, config_key=f"{config_key}.name")
        check_options_taken(factory, kind, name, options, config_key)
        try:
            return factory(**extra, **options)
        except ValueError as err:
            if type(err) is not ValueError or not options:  # ConfigError, DataFormatError...: their own message
                raise
            raise PluginOptionError(f"config key '{config_key}': {kind} '{name}' refused its options: {err}") from err

    def check(self) -> list[str]:
        """Validate every plugin against the contract; returns the problems found (empty = ok)."""
        problems: list[str] = []
        for kind in KINDS:
            try:
                parts = self.registry(kind)
            except (PluginCheckError, DuplicatePluginNameError) as err:
                problems.append(str(err))
                continue
            for part in parts.values():
                if not callable(part.factory):
                    problems.append(f"plugin '{part.plugin}': {kind} '{part.name}' is not callable")
                if not isinstance(part.name, str) or not part.name:
                    problems.append(f"plugin '{part.plugin}': a {kind} has an empty or non-str name")
        problems.extend(self._unknown_hooks())
        return problems

    def _unknown_hooks(self) -> list[str]:
        """A plugin that implements a hook nobody specified (a typo like ``rlhfkit_model``)."""
        problems = []
        for plugin in self._pm.get_plugins():
            for attr in dir(plugin):
                if attr.startswith("rlhfkit_") and attr not in KINDS.values():
                    if getattr(getattr(plugin, attr), PROJECT_NAME + "_impl", None) is not None:
                        problems.append(
                            f"plugin '{self._pm.get_name(plugin)}': '{attr}' is not an rlhfkit hook "
                            f"(known hooks: {', '.join(KINDS.values())})"
                        )
        return problems

    def describe(self) -> list[dict[str, Any]]:
        """Per plugin: name, distribution, version and the names it provides by kind."""
        dists = self._distributions()
        rows = []
        for plugin in self._pm.get_plugins():
            name = self._pm.get_name(plugin)
            dist, version = dists.get(id(plugin), (None, None))
            provides: dict[str, list[str]] = {}
            for kind, hook in KINDS.items():
                for impl in getattr(self._pm.hook, hook).get_hookimpls():
                    if impl.plugin is plugin:
                        provides[kind] = sorted(impl.function())
            rows.append({"plugin": name, "distribution": dist, "version": version, "provides": provides})
        return sorted(rows, key=lambda r: r["plugin"])


@functools.lru_cache(maxsize=1)
def get_plugin_manager() -> PluginManager:
    """The process-wide manager, loaded from the installed entry points once."""
    return PluginManager()


def installed_entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
