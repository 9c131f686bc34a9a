"""rlhfkit: the InstructGPT recipe (SFT, reward model, PPO / PPO-ptx, evaluation) as a framework.

Plugins implement hooks marked with :data:`hookimpl`; see :mod:`rlhfkit.plugins.hookspecs`.
"""

from rlhfkit.plugins.markers import hookimpl, hookspec

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl", "hookspec"]
