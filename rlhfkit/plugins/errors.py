"""Errors raised while discovering plugins or resolving names from a config."""

from __future__ import annotations


class PluginError(Exception):
    """Base class: the CLI prints these as one message and exits with status 2, no traceback."""


class DuplicatePluginNameError(PluginError):
    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        super().__init__(
            f"two plugins provide the {kind} '{name}': '{first}' and '{second}'. "
            f"Uninstall one of them or rename the {kind} in one plugin."
        )
        self.kind, self.name, self.plugins = kind, name, (first, second)


class UnknownPluginNameError(PluginError):
    def __init__(self, kind: str, name: str, known: list[str], config_key: str | None = None) -> None:
        where = f"config key '{config_key}': " if config_key else ""
        known_text = ", ".join(sorted(known)) or "(none installed)"
        super().__init__(
            f"{where}unknown {kind} '{name}'. Known {kind} names: {known_text}. "
            "`rlhfkit plugins` lists every installed plugin and what it provides."
        )
        self.kind, self.name, self.known, self.config_key = kind, name, sorted(known), config_key


class PluginCheckError(PluginError):
    """A plugin violates the contract (e.g. a hook that does not return a dict of callables)."""


class PluginOptionError(PluginError, ValueError):
    """A plugin part given an option it does not take, or a value it refuses."""
