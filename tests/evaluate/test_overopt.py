"""Gao et al.'s RL form R(d) = d (alpha - beta log d), fitted by hand-made points."""

from __future__ import annotations

import math

import pytest

from rlhfkit.evaluate.overopt import fit_gao_rl, gao_rl_curve, snapshot_dirs, sqrt_kl


def test_curve_by_hand():
    assert gao_rl_curve(0.0, 2.0, 0.5) == 0.0
    assert gao_rl_curve(1.0, 2.0, 0.5) == 2.0  # log 1 = 0
    assert gao_rl_curve(math.e, 2.0, 0.5) == pytest.approx(math.e * 1.5)


def test_fit_recovers_exact_parameters():
    d = [0.0, 0.5, 1.0, 2.0, 3.0]
    r = [gao_rl_curve(x, 1.2, 0.4) for x in d]
    fit = fit_gao_rl(d, r)
    assert fit["alpha"] == pytest.approx(1.2, abs=1e-9) and fit["beta"] == pytest.approx(0.4, abs=1e-9)
    assert fit["rmse"] < 1e-9 and fit["n"] == 4  # d = 0 dropped


def test_fit_needs_two_points():
    assert math.isnan(fit_gao_rl([0.0, 1.0], [0.0, 1.0])["alpha"])


def test_sqrt_kl_clips_negative_estimates():
    assert sqrt_kl(4.0) == 2.0 and sqrt_kl(-0.01) == 0.0


def test_snapshot_dirs_in_iteration_order(tmp_path):
    for name in ("iter000020", "iter000005", "other"):
        (tmp_path / name).mkdir()
    assert [i for i, _ in snapshot_dirs(tmp_path)] == [5, 20]
    assert snapshot_dirs(tmp_path / "missing") == []


def test_the_best_of_n_fit_recovers_its_parameters():
    from rlhfkit.evaluate.overopt import fit_gao_bon, gao_bon_curve

    d = [0.0, 0.3, 0.6, 0.9, 1.2, 1.5]
    r = [gao_bon_curve(x, 1.0, 0.5) for x in d]  # R(d) = d (1 - 0.5 d): peak at d = 1
    fit = fit_gao_bon(d, r)
    assert fit["alpha"] == pytest.approx(1.0) and fit["beta"] == pytest.approx(0.5) and fit["rmse"] < 1e-9
    assert fit["n"] == 5 and fit["d_max"] == 1.5  # d = 0 carries no information
