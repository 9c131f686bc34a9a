"""Built-in KL controllers: ``fixed`` and ``adaptive`` (Ziegler et al. 2019; RLHF_DETAILS item 16)."""

from rlhfkit import hookimpl
from rlhfkit.algos import AdaptiveKLController, FixedKLController


@hookimpl
def rlhfkit_kl_controllers():
    return {"fixed": FixedKLController, "adaptive": AdaptiveKLController}
