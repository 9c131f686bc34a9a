"""Built-in advantage estimators: ``gae`` (default, needs a critic), ``rloo`` and ``grpo``."""

from rlhfkit import hookimpl
from rlhfkit.advantages import GAEEstimator, GRPOEstimator, RLOOEstimator


@hookimpl
def rlhfkit_advantage_estimators():
    return {"gae": GAEEstimator, "rloo": RLOOEstimator, "grpo": GRPOEstimator}
