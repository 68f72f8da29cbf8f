"""The seed paper's method beside ours: spectrum inputs, per-draw hyperparameters, ARD importance.

Okubo et al. (2026) hand the GP each sample's posterior predictive spectrum, refit its
hyperparameters on every predictive draw, and draw an ARD importance over the axis.
"""

from __future__ import annotations

import dataclasses

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    RationalQuadratic,
    WhiteKernel,
)
from threadpoolctl import threadpool_limits

import datasets
from deconv.model import to_user_units
from gp_property import (
    PropertyGP,
    distance_kernel,
    feature_draws,
    plot_importance,
    property_log_likelihood,
    region_importance,
)
from gp_property.likelihood import PER_DRAW_POLICY, POLICY

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------------------------------------
# oracle: the documented density on the distance between spectra, built by hand


def hand_spectrum_density(Y, t, *, kind, c, length, mixture, noise, y_mean, y_scale, centre, scale):
    """log N(t; y_mean, y_scale^2 (k(||Ys_i - Ys_j||) + noise I)), Ys = (Y - centre) / scale."""
    ys = (np.asarray(Y) - centre) / scale
    d2 = np.sum((ys[:, None, :] - ys[None, :, :]) ** 2, axis=-1)
    if kind == "rbf":
        k = c * np.exp(-0.5 * d2 / length**2)
    else:
        k = c * (1.0 + d2 / (2.0 * mixture * length**2)) ** (-mixture)
    cov = y_scale**2 * (k + noise * np.eye(len(t)))
    return multivariate_normal(np.full(len(t), y_mean), cov).logpdf(t)


@pytest.fixture(scope="module")
def predictive():
    """Fixed "predictive draws": S = 4 draws of N = 6 spectra of 50 points, and a property."""
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 1.0, 50)
    heights = rng.uniform(0.5, 2.0, 6)
    clean = heights[:, None] * np.exp(-0.5 * ((x - 0.5) / 0.1) ** 2)
    Y = clean + 0.05 * rng.standard_normal((4, 6, 50))
    t = 3.0 * heights + 0.1 * rng.standard_normal(6)
    return Y, t


@pytest.mark.parametrize("kind", ["rbf", "rational_quadratic"])
def test_fixed_hyperparameters_on_predictive_draws_equal_a_hand_built_normal(predictive, kind):
    Y, t = predictive
    shape = RBF(0.8) if kind == "rbf" else RationalQuadratic(0.8, 1.7)
    kernel = ConstantKernel(1.3) * shape + WhiteKernel(0.05)
    template = PropertyGP(kernel, x_scaling="shared", optimizer=None, alpha=1e-8)
    result = property_log_likelihood(Y, t, regressor=template)
    # the standardisation comes from the posterior-mean spectra: column means, one shared scale
    mean = Y.mean(axis=0)
    centre, scale = mean.mean(axis=0), np.sqrt(np.sum(mean.var(axis=0)))
    gp = result.regressor
    np.testing.assert_allclose(gp.x_scaler_.mean_, centre, rtol=1e-12)
    np.testing.assert_allclose(gp.x_scaler_.scale_, np.full(50, scale), rtol=1e-12)
    by_hand = np.array(
        [
            hand_spectrum_density(
                y,
                t,
                kind=kind,
                c=1.3,
                length=0.8,
                mixture=1.7,
                noise=0.05 + 1e-8,
                y_mean=t.mean(),
                y_scale=t.std(),
                centre=centre,
                scale=scale,
            )
            for y in Y
        ]
    )
    np.testing.assert_allclose(result.per_draw, by_hand, rtol=0, atol=1e-8)
    assert result.log_likelihood == pytest.approx(logsumexp(by_hand) - np.log(4), abs=1e-8)
    assert result.policy == POLICY and result.policy_name == "fixed"
    assert result.hyperparameters is None


def test_distance_kernels_are_the_papers_forms():
    a, b = np.array([[0.0, 0.0, 0.0]]), np.array([[1.0, 2.0, 2.0]])  # distance 3
    rbf = distance_kernel("rbf").set_params(k1__k1__constant_value=2.0, k1__k2__length_scale=1.5)
    assert rbf(a, b)[0, 0] == pytest.approx(2.0 * np.exp(-9.0 / (2 * 1.5**2)), rel=1e-12)
    rq = distance_kernel("rational_quadratic").set_params(
        k1__k1__constant_value=2.0, k1__k2__length_scale=1.5, k1__k2__alpha=0.7
    )
    # C0^2 (1 + d^2 / (2 C1 C2^2))^-C1 with C1 = 0.7, C2 = 1.5
    assert rq(a, b)[0, 0] == pytest.approx(2.0 * (1 + 9.0 / (2 * 0.7 * 1.5**2)) ** -0.7, rel=1e-12)
    assert rq(a)[0, 0] == pytest.approx(2.0 + 0.1, rel=1e-12)  # plus the white noise
    with pytest.raises(ValueError, match="kind must be one of"):
        distance_kernel("matern")


def test_per_draw_policy_refits_on_every_draw_and_is_optimistic(predictive, monkeypatch):
    Y, t = predictive
    template = PropertyGP(
        distance_kernel("rational_quadratic"),
        x_scaling="shared",
        n_restarts_optimizer=3,
        random_state=0,
    )
    fixed = property_log_likelihood(Y, t, regressor=template)
    fits = []
    original = PropertyGP.fit

    def counting(self, X, y):
        fits.append(np.array(X))
        return original(self, X, y)

    monkeypatch.setattr(PropertyGP, "fit", counting)
    result = property_log_likelihood(Y, t, regressor=template, policy="per_draw")
    assert len(fits) == Y.shape[0] == result.n_draws == 4
    for s, X in enumerate(fits):  # draw s, in order
        np.testing.assert_array_equal(X, Y[s])
    monkeypatch.undo()
    assert result.policy == PER_DRAW_POLICY and result.policy_name == "per_draw"
    assert "biased upwards" in result.policy
    assert result.hyperparameters.shape == (4, 4)  # c, l, mixture, white per draw
    for s in range(4):  # l_s is the maximised marginal likelihood of a fit on draw s alone
        alone = clone(template).fit(Y[s], t)
        assert result.per_draw[s] == pytest.approx(alone.log_marginal_likelihood(), abs=1e-8)
        np.testing.assert_allclose(result.hyperparameters[s], alone.kernel_.theta, rtol=1e-10)
    # refitting per draw can only raise each draw's density above the fixed hyperparameters'
    assert np.all(result.per_draw >= fixed.per_draw - 1e-6)
    assert result.log_likelihood - fixed.log_likelihood == pytest.approx(0.0102, abs=0.002)
    with pytest.raises(ValueError, match="policy must be one of"):
        property_log_likelihood(Y, t, policy="refit")


# ---------------------------------------------------------------------------------------------
# spectrum inputs from fits


def _with_draws(fit, n_chains: int, n_draws: int, seed: int):
    """A MAP fit with synthetic posterior draws, and predictive draws = curve + fresh noise."""
    rng = np.random.default_rng(seed)
    samples = {}
    for name, value in fit.samples_internal.items():
        base = np.broadcast_to(value, (n_chains, n_draws, *np.shape(value)[2:]))
        if name == "centre":
            samples[name] = base + 0.003 * rng.standard_normal(base.shape)
        else:
            samples[name] = base * np.exp(0.05 * rng.standard_normal(base.shape))
    user = {k: np.asarray(a) for k, a in to_user_units(samples, fit.model, fit.scaling).items()}
    plain = dataclasses.replace(fit, samples_internal=samples)
    curves = plain.predict(n_draws=None)["total"].reshape(n_chains, n_draws, -1)
    y = curves + 0.02 * rng.standard_normal(curves.shape)
    idata = az.from_dict(
        posterior=user,
        posterior_predictive={"y": y},
        coords={"peak": [1, 2], "baseline_term": [0], "x": fit.spectrum.x},
        dims={**{k: ["peak"] for k in ("centre", "fwhm", "height", "area")},
              "baseline": ["baseline_term"], "y": ["x"]},
    )  # fmt: skip
    return dataclasses.replace(fit, idata=idata, samples_internal=samples)


@pytest.fixture(scope="module")
def fits(two_band_map_fits):
    return [_with_draws(fit, 2, 3, seed) for seed, fit in enumerate(two_band_map_fits)]


def test_predictive_spectra_are_the_stored_predictive_draws(fits):
    draws = feature_draws(fits, features="predictive_spectrum", region=(5.0, 8.0))
    x = fits[0].spectrum.x
    mask = (x >= 5.0) & (x <= 8.0)
    assert draws.values.shape == (6, 4, int(mask.sum())) == (6, 4, 30)
    np.testing.assert_array_equal(draws.x, x[mask])
    assert draws.names[0] == "predictive_spectrum(x=5.05051)"
    for i, fit in enumerate(fits):
        y = fit.idata.posterior_predictive["y"].to_numpy().reshape(6, -1)
        np.testing.assert_array_equal(draws.values[:, i], y[:, mask])
    # paired with the posterior draws: thinning takes the same rows of both
    thinned = feature_draws(fits, features="predictive_spectrum", n_draws=3)
    y = fits[0].idata.posterior_predictive["y"].to_numpy().reshape(6, -1)
    np.testing.assert_array_equal(thinned.values[:, 0], y[[0, 2, 4]])


def test_noise_free_spectra_are_the_mean_curves_of_the_draws(fits):
    draws = feature_draws(fits, features="noise_free_spectrum")
    assert draws.values.shape == (6, 4, 100)
    for i, fit in enumerate(fits):
        np.testing.assert_allclose(draws.values[:, i], fit.predict(n_draws=None)["total"])
    # the predictive draws are these curves plus the noise of sd 0.02 added in _with_draws
    noisy = feature_draws(fits, features="predictive_spectrum")
    assert np.std(noisy.values - draws.values) == pytest.approx(0.02, rel=0.05)


def test_spectrum_inputs_are_validated(fits):
    with pytest.raises(ValueError, match="features must name a spectrum input"):
        feature_draws(fits, features=("area", "predictive_spectrum"))
    with pytest.raises(ValueError, match=r"region must hold at least 2 points of the axis"):
        feature_draws(fits, features="noise_free_spectrum", region=(5.0, 5.05))
    with pytest.raises(ValueError, match="region must have xmin < xmax"):
        feature_draws(fits, features="noise_free_spectrum", region=(6.0, 5.0))
    with pytest.raises(TypeError, match=r"region must be a pair \(xmin, xmax\)"):
        feature_draws(fits, features="noise_free_spectrum", region=5.0)
    with pytest.raises(ValueError, match="region must be None unless features is"):
        feature_draws(fits, features="area", region=(5.0, 8.0))
    bare = dataclasses.replace(fits[1], idata=az.InferenceData(posterior=fits[1].idata.posterior))
    with pytest.raises(ValueError, match=r"fits must carry posterior predictive draws .* index 1"):
        feature_draws([fits[0], bare], features="predictive_spectrum")


def test_spectrum_input_likelihood_through_feature_draws(fits):
    draws = feature_draws(fits, features="predictive_spectrum")
    t = np.array([1.0, 1.5, 2.0, 2.5])  # the height of peak 2 of each sample
    kernel = ConstantKernel(1.0) * RBF(1.0) + WhiteKernel(0.1)
    template = PropertyGP(kernel, x_scaling="shared", optimizer=None)
    result = property_log_likelihood(draws, t, regressor=template)
    mean = draws.values.mean(axis=0)
    centre, scale = mean.mean(axis=0), np.sqrt(np.sum(mean.var(axis=0)))
    by_hand = [
        hand_spectrum_density(
            y,
            t,
            kind="rbf",
            c=1.0,
            length=1.0,
            mixture=None,
            noise=0.1 + 1e-10,
            y_mean=t.mean(),
            y_scale=t.std(),
            centre=centre,
            scale=scale,
        )
        for y in draws.values
    ]
    np.testing.assert_allclose(result.per_draw, by_hand, rtol=0, atol=1e-8)
    assert result.feature_names == draws.names


# ---------------------------------------------------------------------------------------------
# ARD importance (the paper's Fig. 9)

NOISE_CASE_PRIORS = [(3.5, 4.75), (5.25, 6.5)]  # the centre ranges of the two peaks


@pytest.fixture(scope="module")
def noise_case():
    return datasets.paper_noise_series(seed=0)


@pytest.fixture(scope="module")
def noise_importance(noise_case):
    return region_importance(noise_case.series, "delta", n_bins=60, seed=0)


def test_importance_is_normalised_inverse_squared_length_scales(noise_importance):
    result = noise_importance
    length = result.regressor.kernel_.k1.k2.length_scale
    assert length.shape == (60,)
    np.testing.assert_allclose(result.length_scale, length)
    np.testing.assert_allclose(result.bin_importance, (1 / length**2) / np.sum(1 / length**2))
    # 600 points in 60 bins of 10: each point carries a tenth of its bin's importance
    np.testing.assert_allclose(result.importance, np.repeat(result.bin_importance / 10, 10))
    assert result.importance.sum() == pytest.approx(1.0, abs=1e-12)
    assert result.bin_edges[[0, -1]].tolist() == [3.0, 7.0]
    assert result.source == "observed spectra" and result.x_scaling == "shared"


def test_importance_lies_in_the_peak_ranges_of_the_noise_case(noise_importance):
    """A uniform importance would put 0.627 inside the two centre ranges (376 of 600 points);
    seed 0 puts 0.72 there, and its largest bin is inside. The margin is thin and the
    diagnostic fragile with 6 samples: over seeds 0-19 the share has median 0.98 but is below
    0.25 for 4 of them (gp_property.importance's notes)."""
    result = noise_importance
    uniform = np.mean(
        ((result.x >= 3.5) & (result.x <= 4.75)) | ((result.x >= 5.25) & (result.x <= 6.5))
    )
    assert uniform == pytest.approx(0.627, abs=1e-3)
    share = result.fraction_inside(NOISE_CASE_PRIORS)
    assert share == pytest.approx(0.718, abs=0.03)
    assert share > 0.7
    top = np.argmax(result.bin_importance)
    centre = 0.5 * (result.bin_edges[top] + result.bin_edges[top + 1])
    assert 3.5 <= centre <= 4.75


def test_per_feature_importance_finds_the_band_that_sets_the_property():
    """Well posed: the property is 3x the height of the band at x = 4; the other band varies
    as much but does not matter. Measured: >= 0.99 of the importance in [3.7, 4.3] for seeds
    0-7 of this design (8 spectra)."""
    x = np.linspace(3.0, 7.0, 600)
    rng = np.random.default_rng(0)
    h_a, h_b = rng.uniform(0.5, 2.0, 8), rng.uniform(0.5, 2.0, 8)
    Y = (
        h_a[:, None] * np.exp(-0.5 * ((x - 4.0) / 0.1) ** 2)
        + h_b[:, None] * np.exp(-0.5 * ((x - 6.0) / 0.1) ** 2)
        + 0.05 * rng.standard_normal((8, 600))
    )
    result = region_importance(Y, 3.0 * h_a, x=x, x_scaling="per_feature")
    assert result.fraction_inside([(3.7, 4.3)]) > 0.99
    assert result.fraction_inside([(5.7, 6.3)]) < 0.005
    assert result.source == "spectra"


def test_importance_validation(noise_case):
    series = noise_case.series
    with pytest.raises(ValueError, match=r"n_bins must be <= the number of axis points \(600\)"):
        region_importance(series, "delta", n_bins=601)
    with pytest.raises(TypeError, match="x must be given with an array of spectra"):
        region_importance(np.asarray(series.y), series.property("delta"))
    with pytest.raises(ValueError, match=r"t must have one value per spectrum \(6\)"):
        region_importance(series, np.ones(5))
    with pytest.raises(ValueError, match="x_scaling must be one of"):
        region_importance(series, "delta", x_scaling="raw")


def test_importance_plot_draws_under_the_spectra(noise_importance):
    fig, ax = plt.subplots()
    out = plot_importance(noise_importance, ax=ax)
    assert out is ax
    assert len(ax.lines) == 6  # one per spectrum
    twin = fig.axes[-1]
    assert twin is not ax and ax.get_zorder() > twin.get_zorder()
    (stairs,) = twin.patches
    heights = noise_importance.bin_importance / np.diff(noise_importance.bin_edges)
    np.testing.assert_allclose(stairs.get_data().values, heights)
    assert noise_importance.plot(ax=plt.subplots()[1]).get_title().startswith("ARD importance")
    plt.close("all")
