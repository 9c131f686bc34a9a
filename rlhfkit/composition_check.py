"""Overrides Hydra cannot compose, refused the way every other config error is: one line naming
the key (``rlhfkit: error: config key 'stage.lr': Value 'abc' ... could not be converted to Float``),
exit status 2, before Hydra starts the run. Hydra's own report of the same error is several lines
and exit status 1.

The check composes the config once with Hydra's compose API (a fraction of a second). Command
lines with flags (``-m`` sweeps, ``--cfg``, ``-cn`` ...) are left to Hydra.
"""

from __future__ import annotations

import sys

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from rlhfkit.config_dir import config_dir


def composition_error(config_name: str, overrides: list[str]) -> str | None:
    """Why ``overrides`` do not compose onto ``config_name``, in one line; None when they do."""
    if any(arg.startswith("-") for arg in overrides):
        return None
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            compose(config_name=config_name, overrides=overrides)
    except HydraException as err:
        cause = err.__cause__
        key = getattr(cause, "full_key", None)
        first = (str(cause) if cause is not None else str(err)).strip().splitlines()[0]
        options = getattr(err, "options", None)
        if options:
            first += f"; available: {', '.join(options)}"
        return f"config key '{key}': {first}" if key else first
    return None


def exit_on_composition_error(config_name: str, overrides: list[str]) -> None:
    message = composition_error(config_name, overrides)
    if message:
        print(f"rlhfkit: error: {message}", file=sys.stderr)
        sys.exit(2)
