"""Errors a user fixes in their config or data. The CLI prints them as one line (exit status 2)."""


class ConfigError(ValueError):
    """A config value that cannot work; the message starts with the config key to change."""


class NonFiniteError(RuntimeError):
    """A loss, gradient or weight became NaN/inf: the run stops there and writes nothing non-finite.
    The message names the stage, the step, the quantity and the last good checkpoint."""
