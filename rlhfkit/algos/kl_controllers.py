"""KL coefficient (beta) controllers: fixed, and Ziegler et al.'s adaptive one (RLHF_DETAILS item 16).

Plain Python floats (no tensors): ``state_dict`` / ``load_state_dict`` round-trip through any
checkpoint format.
"""

from typing import Any, Protocol, runtime_checkable

from rlhfkit.algos._validation import check_positive

ADAPTIVE_KL_ERROR_CLIP = 0.2  # arXiv 1909.08593 sec. 2.2 / RLHF_DETAILS item 16: e clipped to [-0.2, 0.2]


@runtime_checkable
class KLController(Protocol):
    """What the PPO stage needs from a KL controller."""

    value: float

    def update(self, current_kl: float, n_steps: int) -> None:
        """Adjust ``value`` after a batch with mean sequence KL ``current_kl`` over ``n_steps`` episodes."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Checkpointable state."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from ``state_dict()``."""
        ...


def _check_state(state: dict[str, Any], cls_name: str, keys: tuple[str, ...]) -> None:
    """Raise ValueError if ``state`` lacks any of ``keys``."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"{cls_name}.load_state_dict: missing keys {missing}; expected {list(keys)}")


class FixedKLController:
    """Constant beta (IG: 0.02, RLHF_DETAILS item 13)."""

    def __init__(self, kl_coef: float) -> None:
        if kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
        self.value: float = float(kl_coef)

    def update(self, current_kl: float, n_steps: int) -> None:
        """No-op: the coefficient never changes."""

    def state_dict(self) -> dict[str, Any]:
        """{"value": beta} (plain floats)."""
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from ``state_dict()``; ValueError on missing keys."""
        _check_state(state, type(self).__name__, ("value",))
        self.value = float(state["value"])


class AdaptiveKLController:
    """Proportional controller that steers the sequence KL towards ``target`` (arXiv 1909.08593).

    RLHF_DETAILS item 16:
        e = clip(KL / KL_target - 1, -0.2, 0.2)
        beta <- beta * (1 + e * n / H)
    with n = episodes in the batch and H = horizon (10,000). LHP: init beta 0.15, target 6.
    ``current_kl`` is the batch mean of the per-sequence KL (``shape_rewards``' sequence_kl, item 15).
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: float) -> None:
        if init_kl_coef < 0:
            raise ValueError(f"init_kl_coef must be >= 0, got {init_kl_coef}")
        check_positive("target", target)
        check_positive("horizon", horizon)
        self.value: float = float(init_kl_coef)
        self.target: float = float(target)
        self.horizon: float = float(horizon)

    def update(self, current_kl: float, n_steps: int) -> None:
        """One controller step; ``n_steps`` = episodes in the batch (>= 0)."""
        if n_steps < 0:
            raise ValueError(f"n_steps must be >= 0, got {n_steps}")
        e = current_kl / self.target - 1.0  # item 16: proportional error
        e = min(max(e, -ADAPTIVE_KL_ERROR_CLIP), ADAPTIVE_KL_ERROR_CLIP)  # item 16: clip to [-0.2, 0.2]
        self.value *= 1.0 + e * n_steps / self.horizon  # item 16: beta <- beta * (1 + e * n / H)

    def state_dict(self) -> dict[str, Any]:
        """{"value", "target", "horizon"} (plain floats)."""
        return {"value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from ``state_dict()``; ValueError on missing keys."""
        _check_state(state, type(self).__name__, ("value", "target", "horizon"))
        self.value = float(state["value"])
        self.target = float(state["target"])
        self.horizon = float(state["horizon"])
