"""Built-in generation backends (the ``generation`` config group)."""

from rlhfkit import hookimpl
from rlhfkit.models.samplers import SAMPLERS


@hookimpl
def rlhfkit_samplers():
    return dict(SAMPLERS)
