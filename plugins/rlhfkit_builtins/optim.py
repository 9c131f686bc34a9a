"""Built-in optimizers (adamw, adam, sgd) and LR schedules (constant, cosine, linear)."""

from rlhfkit import hookimpl
from rlhfkit.optimizers import SCHEDULES, make_adam, make_adamw, make_sgd


@hookimpl
def rlhfkit_optimizers():
    return {"adamw": make_adamw, "adam": make_adam, "sgd": make_sgd}


@hookimpl
def rlhfkit_lr_schedulers():
    return dict(SCHEDULES)
