"""Hand-computed checks for rlhfkit.algos.kl_controllers (RLHF_DETAILS item 16; arXiv 1909.08593)."""

import pytest

from rlhfkit.algos import AdaptiveKLController, FixedKLController, KLController


def test_adaptive_two_updates_with_clipping() -> None:
    ctl = AdaptiveKLController(init_kl_coef=0.15, target=6.0, horizon=10_000)  # LHP values (item 16)
    # update 1: e = 9/6 - 1 = 0.5 -> clipped to 0.2; beta = 0.15 * (1 + 0.2 * 512/10000) = 0.15 * 1.01024 = 0.151536
    ctl.update(current_kl=9.0, n_steps=512)
    assert ctl.value == pytest.approx(0.151536, rel=1e-12)
    # update 2: e = 5.4/6 - 1 = -0.1 (inside the clip); beta = 0.151536 * (1 - 0.1 * 1000/10000) = 0.151536 * 0.99 = 0.15002064
    ctl.update(current_kl=5.4, n_steps=1000)
    assert ctl.value == pytest.approx(0.15002064, rel=1e-12)


def test_adaptive_lower_clip() -> None:
    ctl = AdaptiveKLController(init_kl_coef=0.1, target=6.0, horizon=1000)
    # e = 0/6 - 1 = -1 -> clipped to -0.2; beta = 0.1 * (1 - 0.2 * 500/1000) = 0.1 * 0.9 = 0.09
    ctl.update(current_kl=0.0, n_steps=500)
    assert ctl.value == pytest.approx(0.09, rel=1e-12)


def test_state_dict_round_trip() -> None:
    ctl = AdaptiveKLController(init_kl_coef=0.15, target=6.0, horizon=10_000)
    ctl.update(current_kl=9.0, n_steps=512)
    restored = AdaptiveKLController(init_kl_coef=1.0, target=1.0, horizon=1.0)
    restored.load_state_dict(ctl.state_dict())
    assert restored.state_dict() == ctl.state_dict() == {"value": ctl.value, "target": 6.0, "horizon": 10_000.0}
    with pytest.raises(ValueError, match="missing keys"):
        restored.load_state_dict({"value": 0.1})


def test_fixed_controller() -> None:
    ctl = FixedKLController(0.02)  # IG beta (item 13)
    ctl.update(current_kl=100.0, n_steps=512)
    assert ctl.value == 0.02
    other = FixedKLController(0.5)
    other.load_state_dict(ctl.state_dict())
    assert other.value == 0.02
    assert isinstance(ctl, KLController) and isinstance(AdaptiveKLController(0.1, 6.0, 10_000), KLController)


def test_validation() -> None:
    with pytest.raises(ValueError, match="target must be > 0"):
        AdaptiveKLController(init_kl_coef=0.1, target=0.0, horizon=10_000)
    with pytest.raises(ValueError, match="kl_coef must be >= 0"):
        FixedKLController(-1.0)
