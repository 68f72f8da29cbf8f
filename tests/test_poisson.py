"""The Poisson likelihood for counts (``noise="poisson"``).

Oracles: SciPy's ``poisson.logpmf`` for the pointwise log-likelihood, and a 2-D quadrature
(``scipy.integrate.dblquad``) of likelihood times prior for the free energy of a model whose
only free parameters are a peak height and a constant baseline (centre and width held by
priors far narrower than the likelihood).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import distributions as dist
from numpyro import handlers
from numpyro.infer.util import log_density
from scipy import integrate, stats

import deconv
from deconv import _structured, model
from deconv.exceptions import ConvergenceWarning, MisfitWarning
from deconv.inference import make_problem, multi_start_map
from deconv.priors import Priors
from deconv.selection import evidence_densities

FWHM_TO_B = 4.0 * np.log(2.0)


def _gaussian(x, centre, fwhm, height):
    return height * np.exp(-FWHM_TO_B * (x - centre) ** 2 / fwhm**2)


def _counts(seed: int, n: int = 80):
    """A two-peak count spectrum on a sloped background, and its true centres."""
    x = np.linspace(0.0, 10.0, n)
    centres = (4.0, 6.2)
    mean = 15.0 + 1.0 * x + _gaussian(x, centres[0], 1.0, 120.0) + _gaussian(x, 6.2, 1.2, 80.0)
    y = np.random.default_rng(seed).poisson(mean).astype(float)
    return deconv.Spectrum(x, y), np.array(centres)


@pytest.fixture(scope="module")
def two_peaks():
    spectrum, _ = _counts(0)
    problem = make_problem(spectrum, 2, shape="gaussian", baseline="linear", noise="poisson")
    optima, table = multi_start_map(problem, n_starts=8, seed=0)
    return problem, optima, table


def test_pointwise_log_likelihood_is_the_poisson_log_pmf(two_peaks):
    problem, optima, _ = two_peaks
    y = problem.spectrum.y
    params = {k: jnp.asarray(a) for k, a in optima[0].items()}
    ys = problem.scaling.ys
    mean = ys * np.asarray(model.mean_curve(params, problem.u, problem.model, problem.scaling))
    expected = stats.poisson.logpmf(y, mean)
    pointwise = model.pointwise_log_likelihood(
        params, problem.u, problem.v, problem.model, problem.scaling
    )
    np.testing.assert_allclose(np.asarray(pointwise), expected, rtol=1e-12, atol=1e-12)
    # the same sum from both evidence paths: closures over the data, and the structured
    # layer (identity scaling, the count scale carried per point), Jacobian offset included
    z = problem.unconstrain(params)
    _, closure = evidence_densities(problem)
    structure, data = _structured.split(problem)
    _, structured = _structured.evidence_densities(structure)
    np.testing.assert_allclose(float(closure(z)), expected.sum(), rtol=1e-12)
    np.testing.assert_allclose(float(structured(z, data)), expected.sum(), rtol=1e-12)
    assert "sigma" not in params
    assert problem.model.n_parameters == 2 * 3 + 2


def test_log_pmf_at_zero_counts_and_a_negative_curve():
    """Zero counts are ``-mu``; a curve below zero is floored at ``POISSON_FLOOR * ys``."""
    law = model.ScaledPoisson(model.poisson_rate(jnp.array([0.2, -0.5, -0.5])), 50.0)
    v_obs = jnp.array([0.0, 0.0, 3.0]) / 50.0
    floor = model.POISSON_FLOOR * 50.0
    expected = stats.poisson.logpmf([0, 0, 3], [10.0, floor, floor]) + np.log(50.0)
    np.testing.assert_allclose(np.asarray(law.log_prob(v_obs)), expected, rtol=1e-12)
    draws = np.asarray(model.draw_counts(jax.random.PRNGKey(0), jnp.full(4000, 0.2), 50.0))
    np.testing.assert_array_equal(draws, np.round(draws))
    assert abs(float(np.mean(draws)) - 10.0) < 4 * np.sqrt(10.0 / 4000)
    assert np.all(np.asarray(model.draw_counts(jax.random.PRNGKey(1), -jnp.ones(9), 50.0)) == 0)


def test_map_objective_is_in_counts(two_peaks):
    """The MAP table adds the usual ``n log ys`` to the internal objective, which turns it into
    -(log pmf of the counts + log prior of the internal parameters)."""
    problem, optima, table = two_peaks
    params = {k: jnp.asarray(a) for k, a in optima[0].items()}
    mean = problem.scaling.ys * np.asarray(
        model.mean_curve(params, problem.u, problem.model, problem.scaling)
    )
    log_pmf = stats.poisson.logpmf(problem.spectrum.y, mean).sum()
    hidden = handlers.block(model.peak_model, hide=["v"])
    log_prior, _ = log_density(hidden, (problem.u, problem.v), problem.kwargs, params)
    expected = -(log_pmf + float(log_prior))
    np.testing.assert_allclose(table["neg_log_posterior"].iloc[0], expected, rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# free energy against quadrature

CENTRE, FWHM, HEIGHT, LEVEL = 5.0, 1.5, 40.0, 8.0
HEIGHT_PRIOR = (4.0, 4.0 / 40.0)  # Gamma(shape, rate)
LEVEL_PRIOR = (8.0, 4.0)  # Normal(mean, sd)


def _linear_poisson_spectrum():
    x = np.linspace(0.0, 10.0, 60)
    mean = LEVEL + _gaussian(x, CENTRE, FWHM, HEIGHT)
    y = np.random.default_rng(3).poisson(mean).astype(float)
    return deconv.Spectrum(x, y)


def _log_evidence_by_quadrature(spectrum) -> float:
    """log of the integral over (height, level) of P(y | height, level) p(height) p(level),
    the mean floored as the model floors it."""
    x, y = spectrum.x, spectrum.y
    shape = _gaussian(x, CENTRE, FWHM, 1.0)
    floor = model.POISSON_FLOOR * np.max(y)
    a, rate = HEIGHT_PRIOR

    def log_f(height, level):
        height, level = np.broadcast_arrays(np.asarray(height), np.asarray(level))
        mean = np.maximum(level[..., None] + height[..., None] * shape, floor)
        log_lik = np.sum(stats.poisson.logpmf(y, mean), axis=-1)
        log_p = stats.gamma.logpdf(height, a, scale=1 / rate) + stats.norm.logpdf(
            level, *LEVEL_PRIOR
        )
        return log_lik + log_p

    # the mode and its curvature on a grid, then a box of +-10 posterior sd around it
    h_grid, l_grid = np.linspace(10.0, 80.0, 141), np.linspace(2.0, 14.0, 121)
    values = log_f(h_grid[:, None], l_grid[None, :])
    i, j = np.unravel_index(np.argmax(values), values.shape)
    peak = values[i, j]
    h_sd = 1 / np.sqrt(-(values[i + 1, j] - 2 * peak + values[i - 1, j]) / 0.5**2)
    l_sd = 1 / np.sqrt(-(values[i, j + 1] - 2 * peak + values[i, j - 1]) / 0.1**2)
    h0, l0 = h_grid[i], l_grid[j]
    value, error = integrate.dblquad(
        lambda level, height: np.exp(log_f(height, level) - peak),
        h0 - 10 * h_sd, h0 + 10 * h_sd,
        l0 - 10 * l_sd, l0 + 10 * l_sd,
        epsabs=1e-10, epsrel=1e-9,
    )  # fmt: skip
    assert error < 1e-6 * value
    return float(peak + np.log(value))


def test_free_energy_matches_quadrature():
    spectrum = _linear_poisson_spectrum()
    priors = Priors(
        centre=dist.Normal(CENTRE, 1e-4),
        width=dist.LogNormal(float(np.log(FWHM)), 1e-5),
        amplitude=dist.Gamma(*HEIGHT_PRIOR),
        baseline=dist.Normal(*LEVEL_PRIOR),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, MisfitWarning))
        result = deconv.free_energy(
            spectrum, 1, shape="gaussian", baseline="constant", noise="poisson",
            priors=priors, key=0, n_starts=4, compute_wbic=False,
            sampler={"n_warmup": 300, "n_samples": 600, "n_independent": 4},
        )  # fmt: skip
    oracle = -_log_evidence_by_quadrature(spectrum)
    assert abs(result.free_energy - oracle) < 0.1
    assert result.free_energy_se < 0.1
    # the fit's posterior predictive draws are counts
    predictive = result.fit.idata.posterior_predictive["y"].to_numpy()
    np.testing.assert_array_equal(predictive, np.round(predictive))
    assert predictive.min() >= 0


# ---------------------------------------------------------------------------------------------
# recovery


def test_centres_recovered_within_their_posterior_sd():
    """NUTS on three count spectra: every centre within 3 posterior sd of the truth, most
    within 1 sd (measured over seeds 1-10: 80 % within 1 sd, rms z 0.90)."""
    z = []
    for seed in (1, 2, 3):
        spectrum, truth = _counts(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (ConvergenceWarning, MisfitWarning))
            result = deconv.fit(
                spectrum, 2, shape="gaussian", baseline="linear", noise="poisson", key=seed,
                n_starts=8, num_warmup=150, num_samples=200, num_chains=1,
            )  # fmt: skip
        peaks = result.peak_table
        sd = peaks["centre_sd"].to_numpy()
        z.extend((peaks["centre"].to_numpy() - truth) / sd)
        assert np.all(sd < 0.1)  # ~100 counts pin a 1-wide peak to a few hundredths
        assert "sigma" not in result.idata.posterior
    z = np.abs(np.array(z))
    assert np.all(z < 3), z
    assert np.sum(z <= 1) >= 4, z


# ---------------------------------------------------------------------------------------------
# validation


@pytest.fixture
def never_fits(monkeypatch):
    """Fail loudly if any optimisation starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("work started before validation")

    monkeypatch.setattr(deconv.inference, "multi_start_map", refuse)
    monkeypatch.setattr(deconv.selection, "multi_start_map", refuse)


@pytest.mark.parametrize(
    ("y_change", "message"),
    [
        ({5: -1.0}, r"y must hold counts .*-1 at index 5"),
        ({7: 2.5}, r"y must hold counts .*2\.5 at index 7"),
    ],
)
@pytest.mark.parametrize("entry", ["fit", "free_energy", "select"])
def test_bad_counts_are_refused_before_any_work(never_fits, y_change, message, entry):
    spectrum, _ = _counts(0, n=30)
    y = spectrum.y.copy()
    for index, value in y_change.items():
        y[index] = value
    bad = deconv.Spectrum(spectrum.x, y)
    call = {
        "fit": lambda: deconv.fit(bad, 1, noise="poisson"),
        "free_energy": lambda: deconv.free_energy(bad, 1, noise="poisson"),
        "select": lambda: deconv.select(bad, [1, 2], noise="poisson"),
    }[entry]
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("sigma", [2.0, "data"])
def test_a_sigma_is_refused_with_poisson_noise(never_fits, sigma):
    spectrum, _ = _counts(0, n=30)
    spectrum = deconv.Spectrum(spectrum.x, spectrum.y, sigma=np.sqrt(spectrum.y + 1))
    with pytest.raises(ValueError, match="sigma must be None with noise='poisson'"):
        deconv.fit(spectrum, 1, noise="poisson", sigma=sigma)


def test_a_preset_with_a_known_sigma_is_refused():
    with pytest.raises(ValueError, match="sigma must be None with noise='poisson'"):
        model.PeakModel(n_peaks=1, noise="poisson", priors=Priors(sigma=0.1))


def test_whole_floats_and_integer_arrays_are_counts():
    np.testing.assert_array_equal(model.check_counts("y", np.array([0, 3, 7])), [0.0, 3.0, 7.0])
    np.testing.assert_array_equal(model.check_counts("y", [0.0, 12.0]), [0.0, 12.0])
    spectrum, _ = _counts(0, n=30)
    # other noise models accept any data
    model.PeakModel(n_peaks=1).check_data(deconv.Spectrum(spectrum.x, spectrum.y - 100.5))


def test_the_misfit_check_of_counts_uses_pearson_residuals():
    spectrum, _ = _counts(1)
    checks = {}
    for n_peaks in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (MisfitWarning, ConvergenceWarning))
            fitted = deconv.fit(spectrum, n_peaks, shape="gaussian", baseline="linear",
                                noise="poisson", method="map", key=0)  # fmt: skip
        checks[n_peaks] = fitted.misfit
    right, short = checks[2], checks[1]
    # Poisson variance is known (the mean): the chi-square is tested, and near 1 per point
    assert right.sigma_known and short.sigma_known
    spread = np.sqrt(2.0 / spectrum.n_points)
    assert abs(right.chi_square.per_point - 1.0) < 3.5 * spread and not right.misfit
    # one peak short: the Pearson chi-square is many spreads above 1 and the verdict says so
    assert short.chi_square.per_point > 1.0 + 10 * spread and short.misfit
