"""The residual (misfit) check: its statistics against SciPy and hand formulas, its false-alarm
rate on white noise, and its power on a Lorentzian band fitted with the wrong shape."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import special, stats

import datasets
from deconv import MisfitWarning, fit
from deconv.misfit import (
    MISFIT_ALPHA,
    chi_square_test,
    lag1_autocorrelation,
    misfit_check,
    runs_test,
    standardised_residuals,
)

N = 300
X = np.linspace(0.0, 10.0, N)
BAND = {"centre": [5.0], "fwhm": [1.0], "height": [1.0]}
NOISE = 0.005  # 0.5 % of the band height
SEEDS = range(10)


def _ar1(phi: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n)
    out = np.empty(n)
    out[0] = e[0] / math.sqrt(1.0 - phi**2)
    for j in range(1, n):
        out[j] = phi * out[j - 1] + e[j]
    return out


def _hand_runs_z(r: np.ndarray) -> float:
    """Wald-Wolfowitz z by explicit counting (zeros dropped, no continuity correction)."""
    signs = [1 if value > 0 else -1 for value in r if value != 0]
    runs = 1
    for previous, current in itertools.pairwise(signs):
        runs += previous != current
    n1 = sum(1 for s in signs if s > 0)
    n2 = len(signs) - n1
    n = n1 + n2
    mean = 2.0 * n1 * n2 / n + 1.0
    variance = 2.0 * n1 * n2 * (2.0 * n1 * n2 - n) / (n**2 * (n - 1.0))
    return (runs - mean) / math.sqrt(variance)


# -- the statistics on fixed residual vectors ---------------------------------------------------


def test_chi_square_of_white_noise_matches_the_gamma_function():
    r = np.random.default_rng(0).standard_normal(N)
    result = chi_square_test(r)
    assert abs(result.per_point - 1.0) < 3.0 * math.sqrt(2.0 / N)
    assert result.spread == pytest.approx(math.sqrt(2.0 / N), rel=1e-15)
    total = float(np.sum(r**2))
    # P(chi2_n >= t) is the regularised upper incomplete gamma Q(n/2, t/2)
    assert result.p_value == pytest.approx(special.gammaincc(N / 2, total / 2), rel=1e-10)
    assert chi_square_test(1.5 * r).p_value < 1e-20  # noise 50 % above the stated sigma


def test_lag1_autocorrelation_of_white_noise_and_of_an_ar1_series():
    white = np.random.default_rng(1).standard_normal(N)
    quiet = lag1_autocorrelation(white)
    assert abs(quiet.value) < 3.0 / math.sqrt(N)
    assert quiet.null_sd == pytest.approx(1.0 / math.sqrt(N), rel=1e-15)
    ar = _ar1(0.6, 1000, seed=2)
    result = lag1_autocorrelation(ar)
    assert abs(result.value - 0.6) < 0.1
    centred = ar - ar.mean()
    hand = sum(centred[j] * centred[j + 1] for j in range(ar.size - 1)) / sum(centred**2)
    assert result.value == pytest.approx(hand, rel=1e-12)
    z = (hand + 1.0 / ar.size) * math.sqrt(ar.size)
    assert result.z == pytest.approx(z, rel=1e-12)
    assert result.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2.0)), rel=1e-10)
    assert misfit_check(ar).misfit


def test_runs_test_matches_the_hand_formula():
    r = np.random.default_rng(3).standard_normal(N)
    r[[10, 20]] = 0.0  # zeros are dropped
    result = runs_test(r)
    assert result.z == pytest.approx(_hand_runs_z(r), abs=1e-12)
    assert result.p_value == pytest.approx(2.0 * stats.norm.sf(abs(_hand_runs_z(r))), rel=1e-12)
    smooth = _ar1(0.9, N, seed=4)
    assert runs_test(smooth).z == pytest.approx(_hand_runs_z(smooth), abs=1e-12)
    assert runs_test(smooth).z < -5.0  # long stretches of one sign
    small = runs_test(np.array([1.0, 2.0, -1.0, -3.0, 0.5]))
    assert small.n_runs == 3
    assert small.expected == pytest.approx(1.0 + 2.0 * 3 * 2 / 5, rel=1e-15)
    undefined = runs_test(np.ones(5))
    assert math.isnan(undefined.z) and math.isnan(undefined.p_value)


def test_inputs_are_validated():
    with pytest.raises(ValueError, match="finite"):
        misfit_check(np.array([0.1, np.nan, 0.3, -0.2]))
    with pytest.raises(ValueError, match="at least 3"):
        lag1_autocorrelation(np.array([0.1, -0.2]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        misfit_check(np.zeros(10) + np.arange(10), alpha=1.5)
    with pytest.raises(ValueError, match="> 0"):
        standardised_residuals(np.ones(4), np.zeros(4), 0.0)
    assert standardised_residuals([1.0, 3.0], [0.0, 1.0], [0.5, 2.0]) == pytest.approx([2, 1])


def test_chi_square_counts_only_with_a_known_sigma():
    r = 1.5 * np.random.default_rng(5).standard_normal(N)
    known = misfit_check(r, sigma_known=True)
    assert known.misfit and known.statistics == ("chi_square", "lag1", "runs")
    assert known.threshold == pytest.approx(MISFIT_ALPHA / 3, rel=1e-15)
    assert "larger than the stated noise" in known.describe()
    inferred = misfit_check(r, sigma_known=False)
    assert not inferred.misfit
    assert "white noise" in inferred.describe()


@pytest.mark.parametrize("sigma_known", [False, True])
def test_false_alarm_rate_on_white_noise_is_below_one_percent(sigma_known):
    rng = np.random.default_rng(6)
    n_draws = 2000
    fired = sum(
        misfit_check(rng.standard_normal(N), sigma_known=sigma_known).misfit for _ in range(n_draws)
    )
    # measured: 0 of 2000 (sigma inferred), 2 of 2000 (sigma known); design rate 1e-3
    assert fired / n_draws < 0.01


# -- fits: power against a wrong line shape, quiet under the right one --------------------------


def _spectrum(seed: int):
    return datasets.synthetic_spectrum(
        X, BAND, shape="lorentzian", noise_sd=NOISE, seed=seed
    ).spectrum


def _fires(shape: str) -> list[bool]:
    out = []
    for seed in SEEDS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MisfitWarning)
            result = fit(_spectrum(seed), 1, shape=shape, method="map", key=seed)
        warned = any(issubclass(w.category, MisfitWarning) for w in caught)
        assert warned == result.misfit.misfit == result.diagnostics["misfit"]
        out.append(result.misfit.misfit)
    return out


def test_a_gaussian_fitted_to_a_lorentzian_band_misfits():
    fires = _fires("gaussian")
    assert sum(fires) >= 9  # measured: 10 of 10 (lag-1 autocorrelation ~0.97, runs z ~ -15)


def test_the_correct_lorentzian_rarely_misfits():
    fires = _fires("lorentzian")
    assert sum(fires) <= 1  # measured: 0 of 10


def test_the_public_fit_warns_and_reports_the_misfit():
    with pytest.warns(MisfitWarning, match="residuals are structured") as record:
        result = fit(_spectrum(0), 1, shape="gaussian", method="map")
    ours = [w for w in record if issubclass(w.category, MisfitWarning)]
    assert len(ours) == 1
    assert ours[0].filename == __file__  # points at the user's call
    check = result.misfit
    assert check.misfit and check.lag1.value > 0.9 and check.runs.z < -10
    report = result.report()
    assert check.describe() in report
    assert "misfit   : YES" in report
    assert result.diagnostics["misfit_lag1"] == check.lag1.value
    assert result.diagnostics["misfit_p_min"] == check.p_min
