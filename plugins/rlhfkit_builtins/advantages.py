"""Built-in advantage estimators: ``gae`` (default, needs a critic), ``rloo`` and ``grpo``."""

from rlhfkit import hookimpl
from rlhfkit.algos.advantage_estimators import GAEEstimator, GRPOEstimator, RLOOEstimator


@hookimpl
def rlhfkit_advantage_estimators():
    return {"gae": GAEEstimator, "rloo": RLOOEstimator, "grpo": GRPOEstimator}
