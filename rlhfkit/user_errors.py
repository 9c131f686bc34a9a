"""The errors a user fixes in their config, data or run (not bugs): every command prints them as
one line, ``rlhfkit: error: ...``, and exits with status 2, no traceback."""

from __future__ import annotations

from rlhfkit.data.errors import DataFormatError
from rlhfkit.errors import ConfigError, NonFiniteError
from rlhfkit.plugins.errors import PluginError

USER_ERRORS: tuple[type[BaseException], ...] = (PluginError, ConfigError, DataFormatError, FileNotFoundError,
                                                NonFiniteError)
