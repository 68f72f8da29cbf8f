"""The peak model: densities against SciPy, exact unit handling, ordered centres."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import distributions as dist
from numpyro.infer.util import log_density
from scipy import special, stats

import datasets
from deconv.baselines import chebyshev_basis
from deconv.inference import make_problem
from deconv.model import OrderedIID, PeakModel, peak_model, pointwise_log_likelihood
from deconv.priors import AffineDistribution, Priors


def test_ordered_iid_density_is_k_factorial_times_product():
    base = dist.Normal(0.3, 2.0)
    values = jnp.array([-1.0, 0.2, 0.5, 3.0])
    expected = np.log(24.0) + stats.norm(0.3, 2.0).logpdf(np.asarray(values)).sum()
    assert float(OrderedIID(base, 4).log_prob(values)) == pytest.approx(expected, abs=1e-12)


def test_ordered_iid_draws_are_sorted_and_inside_an_interval_support():
    ordered = OrderedIID(dist.Uniform(2.0, 5.0), 3)
    draws = ordered.sample(jax.random.PRNGKey(0), (1000,))
    assert bool(jnp.all(jnp.diff(draws, axis=-1) > 0))
    transform = dist.biject_to(ordered.support)
    mapped = transform(jnp.array([-30.0, 0.0, 30.0]))
    assert bool(ordered.support(mapped))
    assert 2.0 <= float(mapped[0]) < float(mapped[-1]) <= 5.0


def test_affine_distribution_keeps_support_and_jacobian():
    base = dist.Gamma(5.0, 0.04)
    scaled = AffineDistribution(base, 0.0, 9.0)
    assert isinstance(scaled.support, type(dist.constraints.positive)) or scaled.support(1.0)
    assert not bool(scaled.support(-1.0))
    value = 3.0
    expected = stats.gamma(5.0, scale=1 / 0.04).logpdf(value / 9.0) - np.log(9.0)
    assert float(scaled.log_prob(value)) == pytest.approx(expected, abs=1e-12)
    interval = AffineDistribution(dist.Uniform(1650.0, 1850.0), -1650.0 / 200, 1 / 200)
    assert float(interval.support.lower_bound) == pytest.approx(0.0)
    assert float(interval.support.upper_bound) == pytest.approx(1.0)


def test_chebyshev_basis_matches_numpy():
    t = np.linspace(-1, 1, 7)
    expected = np.polynomial.chebyshev.chebvander(t, 3).T
    np.testing.assert_allclose(np.asarray(chebyshev_basis(jnp.asarray(t), 3)), expected, atol=1e-14)


def _user_params(problem, internal):
    x0, dx, ys = problem.scaling
    return x0 + dx * np.asarray(internal["centre"]), dx * np.asarray(internal["fwhm"]), ys


def test_log_likelihood_in_user_units_matches_scipy():
    data = datasets.synthetic_spectrum(
        np.linspace(10.0, 30.0, 201),
        {"centre": [15.0, 22.0], "fwhm": [2.0, 3.0], "height": [5.0, 2.0]},
        shape="gaussian",
        baseline=(1.0, 0.05),
        noise_sd=0.1,
        seed=1,
    )
    problem = make_problem(data.spectrum, 2, shape="gaussian", baseline="linear")
    x0, dx, ys = problem.scaling
    internal = {
        "centre": jnp.array([(15.1 - x0) / dx, (21.8 - x0) / dx]),
        "fwhm": jnp.array([2.1 / dx, 2.9 / dx]),
        "height": jnp.array([4.9 / ys, 2.1 / ys]),
        "baseline": jnp.array([1.5 / ys, 0.5 / ys]),  # Chebyshev: 1.5 + 0.5 * t
        "sigma": jnp.asarray(0.12 / ys),
    }
    x, y = data.spectrum.x, data.spectrum.y
    t = 2 * (x - x0) / dx - 1
    mean = 1.5 + 0.5 * t
    for c, w, h in ((15.1, 2.1, 4.9), (21.8, 2.9, 2.1)):
        mean = mean + h * np.exp(-4 * np.log(2) * (x - c) ** 2 / w**2)
    expected = stats.norm(mean, 0.12).logpdf(y)
    got = pointwise_log_likelihood(internal, problem.u, problem.v, problem.model, problem.scaling)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-10)


def test_student_t_likelihood_matches_scipy():
    data = datasets.nagata2012(0)
    problem = make_problem(
        data.spectrum, 1, shape="lorentzian", baseline="constant", noise="student_t"
    )
    x0, dx, ys = problem.scaling
    internal = {
        "centre": jnp.array([(1.45 - x0) / dx]),
        "fwhm": jnp.array([0.3 / dx]),
        "height": jnp.array([1.4 / ys]),
        "baseline": jnp.array([0.1 / ys]),
        "sigma": jnp.asarray(0.2 / ys),
        "nu": jnp.asarray(4.0),
    }
    x = data.spectrum.x
    mean = 0.1 + 1.4 / (1 + 4 * (x - 1.45) ** 2 / 0.3**2)
    expected = stats.t(4.0, mean, 0.2).logpdf(data.spectrum.y)
    got = pointwise_log_likelihood(internal, problem.u, problem.v, problem.model, problem.scaling)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-10)


def test_log_joint_equals_user_unit_density_up_to_the_jacobians():
    """Internal log joint + n log ys + Jacobians of the parameter scaling = user log joint."""
    data = datasets.nagata2012(0)
    problem = make_problem(data.spectrum, 2, shape="gaussian", baseline="none", priors="nagata2012")
    x0, dx, ys = problem.scaling
    centre_user, precision_user, height_user = (
        np.array([1.2, 1.6]),
        np.array([90.0, 150.0]),
        np.array([0.6, 1.3]),
    )
    internal = {
        "centre": jnp.asarray((centre_user - x0) / dx),
        "precision": jnp.asarray(precision_user * dx**2),
        "height": jnp.asarray(height_user / ys),
    }
    log_joint, _ = log_density(peak_model, (problem.u, problem.v), problem.kwargs, internal)
    x, y = data.spectrum.x, data.spectrum.y
    mean = (
        height_user[:, None]
        * np.exp(-precision_user[:, None] * (x - centre_user[:, None]) ** 2 / 2)
    ).sum(0)
    user = (
        stats.norm(mean, 0.1).logpdf(y).sum()
        + np.log(2.0)
        + stats.norm(1.5, np.sqrt(0.2)).logpdf(centre_user).sum()
        + stats.gamma(5, scale=1 / 0.04).logpdf(precision_user).sum()
        + stats.gamma(5, scale=1 / 5.0).logpdf(height_user).sum()
    )
    # Jacobians: centre (1/dx per peak), precision (dx^2), height (1/ys), data (1/ys per point)
    n, k = x.size, 2
    jacobian = k * np.log(dx) - k * np.log(dx**2) + k * np.log(ys) + n * np.log(ys)
    assert float(log_joint) == pytest.approx(user + jacobian, abs=1e-9)


def test_model_rejects_bad_specifications():
    with pytest.raises(ValueError, match=r"n_peaks must be >= 1; got 0"):
        PeakModel(n_peaks=0)
    with pytest.raises(TypeError, match=r"n_peaks must be an integer; got 2\.5"):
        PeakModel(n_peaks=2.5)
    with pytest.raises(ValueError, match=r"shape must be one of \('gaussian'"):
        PeakModel(n_peaks=1, shape="triangle")
    with pytest.raises(ValueError, match=r"baseline must be one of \('none', 'constant'"):
        PeakModel(n_peaks=1, baseline="wavelet")
    noises = r"noise must be one of \('normal', 'student_t', 'poisson'\)"
    with pytest.raises(ValueError, match=noises):
        PeakModel(n_peaks=1, noise="laplace")
    with pytest.raises(ValueError, match=r"width_kind must be one of \('fwhm', 'precision'\)"):
        Priors(width_kind="sigma")
    with pytest.raises(TypeError, match="centre must be a numpyro Distribution or None"):
        Priors(centre=3.0)


def test_parameter_count():
    assert PeakModel(3, shape="pseudo_voigt", baseline="linear").n_parameters == 3 * 4 + 2 + 1
    assert PeakModel(2, shape="voigt", baseline="cubic", noise="student_t").n_parameters == 14
    assert (
        PeakModel(
            3, shape="gaussian", baseline="none", priors=Priors.preset("nagata2012")
        ).n_parameters
        == 9
    )


def test_erfcx_identity_used_by_voigt_peak_value():
    # a Voigt with equal widths: peak value = erfcx(g / (s sqrt2)) / (s sqrt(2 pi))
    from deconv import lineshapes

    fwhm_g, fwhm_l = 2.0, 1.0
    sigma, gamma = fwhm_g / (2 * np.sqrt(2 * np.log(2))), fwhm_l / 2
    expected = special.erfcx(gamma / (sigma * np.sqrt(2))) / (sigma * np.sqrt(2 * np.pi))
    got = float(lineshapes.peak_value("voigt", fwhm_g, fwhm_lorentz=fwhm_l))
    assert got == pytest.approx(expected, rel=1e-12)


def test_per_point_uncertainties_are_used_when_sigma_is_data():
    x = np.linspace(0.0, 1.0, 50)
    sigma = np.linspace(0.05, 0.2, 50)
    from deconv import Spectrum

    spectrum = Spectrum(x, np.exp(-((x - 0.4) ** 2) / 0.01) + 0.1, sigma=sigma)
    problem = make_problem(spectrum, 1, shape="gaussian", baseline="constant", sigma="data")
    assert problem.model.n_parameters - 1 == 4  # centre, fwhm, height, offset: no noise site
    ys = problem.scaling.ys
    internal = {
        "centre": jnp.array([0.45]),
        "fwhm": jnp.array([0.2]),
        "height": jnp.array([0.9 / ys]),
        "baseline": jnp.array([0.12 / ys]),
    }
    mean = 0.12 + 0.9 * np.exp(-4 * np.log(2) * (x - 0.45) ** 2 / 0.2**2)
    got = pointwise_log_likelihood(
        internal, problem.u, problem.v, problem.model, problem.scaling, problem.sigma_points
    )
    np.testing.assert_allclose(
        np.asarray(got), stats.norm(mean, sigma).logpdf(spectrum.y), rtol=1e-12
    )
