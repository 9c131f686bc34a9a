"""Start-up noise off in every process that runs a stage: :func:`silence_noise`.

What is silenced, and why:

* Lightning's product tips ("💡 Tip: For seamless cloud logging ... try installing [litlogger]",
  "... [litmodels] to enable LitModelCheckpoint"): advertisements, printed on every Trainer start.
  Lightning has no switch for them; they are INFO records of the logger behind its
  ``rank_zero_info`` (``<package>.utilities.rank_zero``), so a :class:`logging.Filter` on those
  loggers drops them and nothing else (Lightning's other INFO lines are untouched).
* DeprecationWarning / FutureWarning *attributed to a dependency's own code* (the ``module`` of a
  warnings filter is the module the warning points at): e.g. Lightning calling a deprecated torch
  pytree API. The user can do nothing about them. A deprecation that points at rlhfkit's (or the
  user's) code still shows, and so does every other warning category.

Call it early (before the dependencies are imported, so import-time warnings are caught too): the
train and pipeline entry scripts call it at the top, and the pipeline's worker processes in their
initializer. It is idempotent and imports nothing heavy.
"""

from __future__ import annotations

import logging
import warnings

# Top-level packages whose own deprecation / future warnings are hidden.
DEPENDENCIES = (
    "lightning", "pytorch_lightning", "lightning_fabric", "lightning_utilities", "torch", "torchmetrics",
    "transformers", "tokenizers", "huggingface_hub", "datasets", "safetensors", "wandb", "hydra", "omegaconf",
    "pkg_resources", "setuptools", "matplotlib", "pydantic", "google", "sentry_sdk",
)
DEPENDENCY_MODULES = rf"({'|'.join(DEPENDENCIES)})(\.|$)"  # a package or any module inside it

# The loggers Lightning's rank_zero_info writes to (whichever package was imported last sets it).
RANK_ZERO_LOGGERS = (
    "lightning_utilities.core.rank_zero",
    "lightning_fabric.utilities.rank_zero",
    "pytorch_lightning.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.utilities.rank_zero",
)


class DropLightningTips(logging.Filter):
    """Drops Lightning's "💡 Tip: ... try installing [litlogger]/[litmodels]" records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (message.lstrip().startswith("💡 Tip") or "pypi.org/project/lit" in message)


def silence_noise() -> None:
    """Install the tip filter and the dependency-warning filters (once per process)."""
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropLightningTips) for f in logger.filters):
            logger.addFilter(DropLightningTips())
    for category in (DeprecationWarning, FutureWarning):  # LightningDeprecationWarning is a DeprecationWarning
        warnings.filterwarnings("ignore", category=category, module=DEPENDENCY_MODULES)
