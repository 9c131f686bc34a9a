"""Plugin discovery (pluggy entry points) and name lookup."""

from rlhfkit.plugins.errors import (
    DuplicatePluginNameError,
    PluginCheckError,
    PluginError,
    UnknownPluginNameError,
)
from rlhfkit.plugins.manager import KINDS, PluginManager, Provided, get_plugin_manager
from rlhfkit.plugins.markers import hookimpl, hookspec

__all__ = [
    "KINDS",
    "DuplicatePluginNameError",
    "PluginCheckError",
    "PluginError",
    "PluginManager",
    "Provided",
    "UnknownPluginNameError",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
]
