"""Property layer: GP regressor, exact GP densities, property likelihood and feature draws."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.utils.estimator_checks import check_estimator
from threadpoolctl import threadpool_limits

from deconv.exceptions import ConvergenceWarning, SpecbayesWarning
from deconv.model import to_user_units
from gp_property import (
    FeatureDraws,
    PropertyGP,
    bounds_reached,
    feature_draws,
    gp_log_density,
    property_log_likelihood,
)
from gp_property.likelihood import POLICY

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """On a small shared machine, two BLAS threads contend: one is 10x faster for small GPs."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------------------------------------
# oracle: the documented density, built by hand


def hand_density(Z, t, *, c, length, noise, x_mean, x_scale, y_mean, y_scale, alpha=0.0):
    """log N(t; y_mean, y_scale^2 (c exp(-|dZs / l|^2 / 2) + (noise + alpha) I)) by SciPy."""
    zs = (np.asarray(Z) - x_mean) / x_scale
    diff = (zs[:, None, :] - zs[None, :, :]) / np.asarray(length)
    kernel = c * np.exp(-0.5 * np.sum(diff**2, axis=-1)) + (noise + alpha) * np.eye(len(t))
    mean = np.full(len(t), y_mean)
    return multivariate_normal(mean, y_scale**2 * kernel).logpdf(t)


def hand_density_from(gp, Z, t):
    """The oracle at the fitted hyperparameters and standardisation of a PropertyGP."""
    params = gp.kernel_.get_params()
    return hand_density(
        Z,
        t,
        c=params["k1__k1__constant_value"],
        length=params["k1__k2__length_scale"],
        noise=params["k2__noise_level"],
        x_mean=gp.x_scaler_.mean_,
        x_scale=gp.x_scaler_.scale_,
        y_mean=gp.y_mean_,
        y_scale=gp.y_std_,
        alpha=gp.alpha,
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(15, 2)) * [3.0, 0.5] + [10.0, -2.0]
    t = 40.0 + 12.0 * np.sin(Z[:, 0] / 3.0) - 8.0 * Z[:, 1] + rng.normal(scale=1.5, size=15)
    return Z, t


# ---------------------------------------------------------------------------------------------
# exact densities


def test_gp_log_density_matches_scipy_for_fixed_hyperparameters(data):
    Z, t = data
    kernel = ConstantKernel(1.7) * RBF([0.8, 2.5]) + WhiteKernel(0.05)
    stand = {"x_mean": [9.0, -1.5], "x_scale": [2.5, 0.7], "y_mean": 38.0, "y_scale": 9.5}
    got = gp_log_density(Z, t, kernel, alpha=1e-6, **stand)
    want = hand_density(Z, t, c=1.7, length=[0.8, 2.5], noise=0.05, alpha=1e-6, **stand)
    assert isinstance(got, float)
    assert got == pytest.approx(want, abs=1e-8)
    # a stack of draws gives one density per draw
    shifted = np.stack([Z, Z + 0.3])
    many = gp_log_density(shifted, t, kernel, alpha=1e-6, **stand)
    assert many.shape == (2,)
    assert many[0] == got
    assert many[1] == pytest.approx(
        hand_density(Z + 0.3, t, c=1.7, length=[0.8, 2.5], noise=0.05, alpha=1e-6, **stand),
        abs=1e-8,
    )


def test_gp_log_density_jacobian_of_the_property_scale(data):
    Z, t = data
    kernel = ConstantKernel(1.0) * RBF([1.0, 1.0]) + WhiteKernel(0.1)
    stand = {"x_mean": 0.0, "x_scale": 1.0, "y_mean": 0.0}
    base = gp_log_density(Z, t, kernel, y_scale=1.0, **stand)
    # measuring t in units 1000x smaller (t * 1000) shifts log p by -N log 1000
    scaled = gp_log_density(Z, 1000.0 * t, kernel, y_scale=1000.0, **stand)
    assert scaled == pytest.approx(base - len(t) * np.log(1000.0), abs=1e-8)


def test_gp_log_density_validation(data):
    Z, t = data
    kernel = ConstantKernel() * RBF([1.0, 1.0]) + WhiteKernel()
    stand = {"x_mean": 0.0, "x_scale": 1.0, "y_mean": 0.0, "y_scale": 1.0}
    with pytest.raises(TypeError, match="kernel must be a scikit-learn Kernel"):
        gp_log_density(Z, t, "rbf", **stand)
    with pytest.raises(ValueError, match=r"t must have one value per row of Z \(15\); got"):
        gp_log_density(Z, t[:-1], kernel, **stand)
    with pytest.raises(ValueError, match="x_scale must be > 0 for every feature"):
        gp_log_density(Z, t, kernel, **{**stand, "x_scale": [1.0, 0.0]})
    with pytest.raises(ValueError, match="y_scale must be finite and > 0"):
        gp_log_density(Z, t, kernel, **{**stand, "y_scale": 0.0})
    with pytest.raises(ValueError, match="Z must be finite"):
        gp_log_density(np.where(Z > 11, np.nan, Z), t, kernel, **stand)
    duplicated = np.vstack([Z[:3], Z[:3]])
    with pytest.raises(ValueError, match="kernel must give a positive-definite"):
        gp_log_density(duplicated, t[:6], RBF([1.0, 1.0]), **stand)


# ---------------------------------------------------------------------------------------------
# the regressor


def test_regressor_log_marginal_likelihood_in_original_units(data):
    Z, t = data
    gp = PropertyGP(random_state=0).fit(Z, t)
    assert gp.n_features_in_ == 2
    np.testing.assert_allclose(gp.x_scaler_.mean_, Z.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(gp.x_scaler_.scale_, Z.std(axis=0), rtol=1e-12)
    assert gp.y_mean_ == pytest.approx(t.mean(), rel=1e-12)
    assert gp.y_std_ == pytest.approx(t.std(), rel=1e-12)
    want = hand_density_from(gp, Z, t)
    assert gp.log_marginal_likelihood() == pytest.approx(want, abs=1e-8)
    assert gp.log_marginal_likelihood(gp.kernel_.theta) == pytest.approx(want, abs=1e-8)
    jacobian = len(t) * np.log(t.std())
    standardised = gp.gp_.log_marginal_likelihood_value_
    assert gp.log_marginal_likelihood() == pytest.approx(standardised - jacobian, abs=1e-10)
    value, gradient = gp.log_marginal_likelihood(eval_gradient=True)
    assert value == pytest.approx(want, abs=1e-8)
    assert gradient.shape == gp.kernel_.theta.shape


def test_regressor_predicts_in_original_units(data):
    Z, t = data
    gp = PropertyGP(random_state=0).fit(Z, t)
    mean, std = gp.predict(Z, return_std=True)
    zs = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    inner_mean, inner_std = gp.gp_.predict(zs, return_std=True)
    np.testing.assert_allclose(mean, t.mean() + t.std() * inner_mean, rtol=1e-12)
    np.testing.assert_allclose(std, t.std() * inner_std, rtol=1e-12)
    # a useful fit: residuals well below the spread of t
    assert np.sqrt(np.mean((mean - t) ** 2)) < 0.5 * t.std()


def test_estimator_checks_pass():
    """All of scikit-learn's estimator checks, default kernel, no optimiser restarts."""
    check_estimator(PropertyGP(n_restarts_optimizer=0))


def test_hyperparameters_at_bounds_are_recorded_and_only_the_suspicious_ones_warn():
    """Two irrelevant features switch off quietly; an interpolated property warns, typed."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3))
    y = X[:, 0] ** 2 + 1e-3 * rng.normal(size=10)
    with pytest.warns(ConvergenceWarning, match="noise_level at lower bound 1e-05") as record:
        gp = PropertyGP(random_state=0).fit(X, y)
    assert gp.bounds_reached_ == [
        "k1__k2__length_scale[1] at upper bound 1000",
        "k1__k2__length_scale[2] at upper bound 1000",
        "k2__noise_level at lower bound 1e-05",
    ]
    assert all(issubclass(w.category, ConvergenceWarning) for w in record)
    assert not any("length_scale" in str(w.message) for w in record)


def test_noisy_property_fit_reaches_no_bound_and_does_not_warn():
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(30, 1))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gp = PropertyGP(random_state=0).fit(X, y)
    assert gp.bounds_reached_ == []
    noise = gp.kernel_.k2.noise_level * gp.y_std_**2
    assert np.sqrt(noise) == pytest.approx(0.1, rel=0.35)


def test_bounds_reached_of_a_kernel_set_by_hand():
    kernel = ConstantKernel(1e2, (1e-3, 1e2)) * RBF([1e-2, 3.0], (1e-2, 1e3)) + WhiteKernel(
        0.5, (1e-5, 1e1)
    )
    assert bounds_reached(kernel) == [
        "k1__k1__constant_value at upper bound 100",
        "k1__k2__length_scale[0] at lower bound 0.01",
    ]


def test_shared_input_scaling_keeps_distances_in_proportion(data):
    Z, t = data
    gp = PropertyGP(x_scaling="shared", random_state=0).fit(Z, t)
    shared = np.sqrt(np.sum(Z.var(axis=0)))
    np.testing.assert_allclose(gp.x_scaler_.mean_, Z.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(gp.x_scaler_.scale_, [shared, shared], rtol=1e-12)
    # the standardised inputs have total variance 1
    zs = gp.x_scaler_.transform(Z)
    assert np.sum(zs.var(axis=0)) == pytest.approx(1.0, rel=1e-12)
    assert gp.log_marginal_likelihood() == pytest.approx(hand_density_from(gp, Z, t), abs=1e-8)
    constant = PropertyGP(x_scaling="shared", optimizer=None).fit(np.ones((5, 3)), np.arange(5.0))
    np.testing.assert_array_equal(constant.x_scaler_.scale_, np.ones(3))
    with pytest.raises(ValueError, match="x_scaling must be one of"):
        PropertyGP(x_scaling="global").fit(Z, t)


def test_a_rational_quadratic_mixture_at_its_upper_bound_is_expected():
    from gp_property.regressor import _expected_bound

    assert _expected_bound("k1__k2__alpha at upper bound 100")
    assert _expected_bound("k1__k2__length_scale[3] at upper bound 1000")
    assert not _expected_bound("k1__k2__alpha at lower bound 0.01")
    assert not _expected_bound("k2__noise_level at lower bound 1e-05")
    assert not _expected_bound("k1__k1__constant_value at upper bound 100")


@pytest.mark.slow
def test_estimator_checks_pass_with_shared_input_scaling():
    check_estimator(PropertyGP(n_restarts_optimizer=0, x_scaling="shared"))


@pytest.mark.slow
def test_estimator_checks_pass_with_defaults():
    """The full default configuration (2 optimiser restarts)."""
    check_estimator(PropertyGP())


# ---------------------------------------------------------------------------------------------
# the property likelihood


def test_property_likelihood_of_identical_draws_is_the_single_draw_density(data):
    Z, t = data
    result = property_log_likelihood(np.repeat(Z[np.newaxis], 6, axis=0), t)
    gp = result.regressor
    single = gp_log_density(
        Z,
        t,
        result.kernel,
        x_mean=gp.x_scaler_.mean_,
        x_scale=gp.x_scaler_.scale_,
        y_mean=gp.y_mean_,
        y_scale=gp.y_std_,
        alpha=gp.alpha,
    )
    assert result.log_likelihood == single
    assert result.se == 0.0
    assert result.n_draws == 6
    np.testing.assert_array_equal(result.per_draw, np.full(6, single))
    assert result.policy == POLICY
    assert "held fixed across draws" in result.policy
    # posterior-mean features = Z: the density is the regressor's own marginal likelihood
    assert single == pytest.approx(gp.log_marginal_likelihood(), abs=1e-8)
    assert single == pytest.approx(hand_density_from(gp, Z, t), abs=1e-8)


def test_property_likelihood_averages_fixed_hyperparameter_densities(data):
    Z, t = data
    rng = np.random.default_rng(7)
    draws = Z + rng.normal(scale=[0.4, 0.1], size=(20, *Z.shape))
    result = property_log_likelihood(draws, t, seed=3)
    # hyperparameters: fitted once on the posterior-mean features, then held fixed
    reference = PropertyGP(random_state=3).fit(draws.mean(axis=0), t)
    np.testing.assert_allclose(result.kernel.theta, reference.kernel_.theta, rtol=1e-10)
    by_hand = np.array([hand_density_from(reference, z, t) for z in draws])
    np.testing.assert_allclose(result.per_draw, by_hand, rtol=0, atol=1e-8)
    assert result.log_likelihood == pytest.approx(logsumexp(by_hand) - np.log(20), abs=1e-8)
    w = np.exp(by_hand - by_hand.max())
    assert result.se == pytest.approx(np.std(w, ddof=1) / (np.sqrt(20) * w.mean()), rel=1e-6)
    assert result.se > 0
    # fewer pairs: evenly thinned draws 0, 4, 8, 12, 16
    thinned = property_log_likelihood(draws, t, seed=3, n_pairs=5)
    np.testing.assert_allclose(thinned.per_draw, by_hand[::4], atol=1e-8)
    # random re-pairing keeps each sample's marginal but changes the pairs
    shuffled = property_log_likelihood(draws, t, seed=3, pairing="random")
    assert shuffled.n_draws == 20
    assert not np.allclose(np.sort(shuffled.per_draw), np.sort(by_hand))


def test_property_likelihood_prefers_informative_features(data):
    Z, t = data
    rng = np.random.default_rng(2)
    informative = property_log_likelihood(Z + rng.normal(scale=0.05, size=(8, *Z.shape)), t)
    noise = property_log_likelihood(rng.normal(size=(8, *Z.shape)), t)
    assert informative.log_likelihood > noise.log_likelihood + 5.0


def test_property_likelihood_validation(data):
    Z, t = data
    draws = np.repeat(Z[np.newaxis], 3, axis=0)
    with pytest.raises(ValueError, match=r"t must have one value per sample \(15\)"):
        property_log_likelihood(draws, t[:-2])
    with pytest.raises(ValueError, match="feature_draws must be 3-dimensional"):
        property_log_likelihood(Z, t)
    with pytest.raises(ValueError, match="feature_draws must hold at least 2 samples"):
        property_log_likelihood(draws[:, :1], t[:1])
    with pytest.raises(ValueError, match="pairing must be one of"):
        property_log_likelihood(draws, t, pairing="sorted")
    with pytest.raises(TypeError, match="regressor must be a PropertyGP"):
        property_log_likelihood(draws, t, regressor=object())
    with pytest.raises(ValueError, match="n_pairs must be >= 1"):
        property_log_likelihood(draws, t, n_pairs=0)
    with pytest.raises(ValueError, match=r"policy must be one of \('fixed', 'per_draw'\)"):
        property_log_likelihood(draws, t, policy="paper")


# ---------------------------------------------------------------------------------------------
# feature draws from fits


@pytest.fixture(scope="module")
def map_fits(two_band_map_fits):
    return two_band_map_fits[:3]


def _with_draws(fit, n_chains: int, n_draws: int, seed: int):
    """A copy of a MAP fit with synthetic posterior draws scattered around the optimum."""
    rng = np.random.default_rng(seed)
    samples = {}
    for name, value in fit.samples_internal.items():
        base = np.broadcast_to(value, (n_chains, n_draws, *np.shape(value)[2:]))
        if name == "centre":
            samples[name] = base + 0.003 * rng.standard_normal(base.shape)
        else:
            samples[name] = base * np.exp(0.05 * rng.standard_normal(base.shape))
    user = {k: np.asarray(a) for k, a in to_user_units(samples, fit.model, fit.scaling).items()}
    dims = {k: ["peak"] for k in ("centre", "fwhm", "height", "area")}
    idata = az.from_dict(
        posterior=user,
        coords={"peak": [1, 2], "baseline_term": [0]},
        dims={**dims, "baseline": ["baseline_term"]},
    )
    return dataclasses.replace(fit, idata=idata, samples_internal=samples)


@pytest.fixture(scope="module")
def sampled_fits(map_fits):
    return [_with_draws(fit, 2, 5, seed) for seed, fit in enumerate(map_fits)]


def _flat(fit, name):
    return fit.idata.posterior[name].to_numpy().reshape(-1, 2)


def test_map_areas_equal_the_posterior(map_fits):
    draws = feature_draws(map_fits)
    assert isinstance(draws, FeatureDraws)
    assert draws.values.shape == (1, 3, 2)
    assert draws.names == ["area[1]", "area[2]"]
    assert draws.sample_ids == ["s0", "s1", "s2"]
    for i, fit in enumerate(map_fits):
        np.testing.assert_array_equal(draws.values[0, i], _flat(fit, "area")[0])
    # the second peak grows along the series, as simulated (area = height * fwhm * 1.0645)
    np.testing.assert_allclose(
        draws.values[0, :, 1], [1.0, 1.5, 2.0] * np.array(0.6 * 2.3548 * 1.0645), rtol=0.05
    )


def test_peak_features_and_ratios_equal_posterior_arrays(sampled_fits):
    features = ("area", "height", "centre", "fwhm", "area_ratio")
    draws = feature_draws(sampled_fits, features=features)
    assert draws.values.shape == (10, 3, 10)
    assert draws.names[:4] == ["area[1]", "area[2]", "height[1]", "height[2]"]
    assert draws.names[-2:] == ["area_ratio[1]", "area_ratio[2]"]
    for i, fit in enumerate(sampled_fits):
        for j, name in enumerate(features[:4]):
            np.testing.assert_array_equal(draws.values[:, i, 2 * j : 2 * j + 2], _flat(fit, name))
        area = _flat(fit, "area")
        np.testing.assert_allclose(draws.values[:, i, 8:], area / area.sum(1, keepdims=True))
    np.testing.assert_allclose(draws.values[..., 8:].sum(axis=-1), 1.0, rtol=1e-12)
    second = feature_draws(sampled_fits, features="area_ratio", peaks=[2])
    assert second.names == ["area_ratio[2]"]
    np.testing.assert_array_equal(second.values[..., 0], draws.values[..., 9])


def test_pairing_by_index_and_at_random_keeps_marginals(sampled_fits):
    index = feature_draws(sampled_fits, features="height")
    random = feature_draws(sampled_fits, features="height", pairing="random", seed=4)
    assert random.values.shape == index.values.shape
    assert not np.array_equal(random.values, index.values)
    np.testing.assert_array_equal(np.sort(random.values, 0), np.sort(index.values, 0))
    thinned = feature_draws(sampled_fits, features="height", n_draws=5)
    np.testing.assert_array_equal(thinned.values, index.values[::2])
    assert thinned.pairing == "index pairing of 5 draws per sample"


def test_unequal_draw_counts_use_the_minimum(map_fits, sampled_fits):
    fits = [*sampled_fits[:2], _with_draws(map_fits[2], 1, 6, 9)]
    with pytest.warns(SpecbayesWarning, match="6 to 10 posterior draws"):
        draws = feature_draws(fits)
    assert draws.values.shape == (6, 3, 2)
    assert "at most the minimum, 6" in draws.pairing
    np.testing.assert_array_equal(draws.values[:, 0], _flat(fits[0], "area")[:6])


def test_projection_on_principal_components(sampled_fits):
    draws = feature_draws(sampled_fits, features=("projection",), n_components=2)
    assert draws.names == ["projection[1]", "projection[2]"]
    curves = [fit.predict(n_draws=None)["total"] for fit in sampled_fits]
    means = np.stack([c.mean(axis=0) for c in curves])
    centre = means.mean(axis=0)
    _, _, vt = np.linalg.svd(means - centre, full_matrices=False)
    first = vt[0] * np.sign(vt[0][np.argmax(np.abs(vt[0]))])
    for i, c in enumerate(curves):
        np.testing.assert_allclose(draws.values[:, i, 0], (c - centre) @ first, atol=1e-9)
    # projections of the mean curves are centred across samples
    np.testing.assert_allclose(draws.values.mean(axis=0).sum(axis=0), 0.0, atol=1e-9)
    with pytest.raises(ValueError, match=r"n_components must be <= min\(number of samples - 1"):
        feature_draws(sampled_fits, features="projection", n_components=3)


def test_feature_draws_validation(map_fits):
    other = dataclasses.replace(
        map_fits[1], model=dataclasses.replace(map_fits[1].model, n_peaks=3)
    )
    with pytest.raises(
        ValueError, match=r"fits must all share the model of fits\[0\] \(K=2 .*K=3 .* at index 1"
    ):
        feature_draws([map_fits[0], other])
    with pytest.raises(ValueError, match=r"features must be one of \('area'"):
        feature_draws(map_fits, features=("area", "volume"))
    with pytest.raises(ValueError, match="peaks must hold 1-based peak indices between 1 and 2"):
        feature_draws(map_fits, peaks=[1, 3])
    with pytest.raises(ValueError, match="peaks must hold 1-based"):
        feature_draws(map_fits, peaks=0)
    with pytest.raises(TypeError, match="fits must be a non-empty sequence of Fit objects"):
        feature_draws(map_fits[0])
    with pytest.raises(TypeError, match="fits must hold only Fit objects; got 'str at index 1'"):
        feature_draws([map_fits[0], "fit"])
    with pytest.raises(ValueError, match=r"sample_ids must have one id per fit \(3\)"):
        feature_draws(map_fits, sample_ids=["a", "b"])


def test_series_end_to_end_with_property_series(sampled_fits):
    draws = feature_draws(sampled_fits, features="area_ratio", peaks=[2])
    t = pd.Series([3.0, 1.0, 2.0], index=["s2", "s0", "s1"])
    result = property_log_likelihood(draws, t)
    assert result.feature_names == ["area_ratio[2]"]
    gp = result.regressor
    np.testing.assert_allclose(gp.y_mean_ + gp.y_std_ * gp.gp_.y_train_, [1.0, 2.0, 3.0])
    assert np.isfinite(result.log_likelihood) and result.se >= 0
    with pytest.raises(ValueError, match="t must have a value for every sample id"):
        property_log_likelihood(draws, t.drop("s1"))


# ---------------------------------------------------------------------------------------------
# package


def test_import_is_lazy_and_exports_resolve():
    code = "import sys, gp_property; print('sklearn' in sys.modules, 'jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    import gp_property

    assert gp_property.PropertyGP is PropertyGP
    for name in ("distance_kernel", "rank_table", "region_importance", "plot_importance"):
        assert name in gp_property.__all__ and callable(getattr(gp_property, name))
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        gp_property.nothing  # noqa: B018
