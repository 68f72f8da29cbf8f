"""The penalised-spline baseline (``baseline="spline"``, :class:`deconv.SplineBaseline`).

Oracles: SciPy's B-spline design matrix for the basis; the exact evidence of a
linear-Gaussian model for the free energy. With the peak's centre and width held by priors far
narrower than the likelihood (sd 1e-4 and 1e-5 against a posterior sd of ~1e-2), a known sigma
and a Normal height prior, every remaining parameter (height, the line, the penalised terms)
enters the mean linearly under a Gaussian prior, so ``y`` is Gaussian with covariance
``sigma^2 I + s_h^2 g g' + ys^2 (1 1' + t t') + tau^2 B pinv(D2' D2) B'`` (``t = 2u - 1``,
``B`` the basis, ``D2`` second differences). The oracle builds that covariance from SciPy's
basis and NumPy's pseudo-inverse, independently of the package's eigenbasis. With the
smoothness inferred, a 1-D quadrature over its prior (inverse-gamma on ``s**2``) integrates the
same closed form, which checks the package's Student-t prior that integrates it analytically.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro import distributions as dist
from scipy import integrate, stats
from scipy.interpolate import BSpline

import datasets
import deconv
from deconv import _structured, baselines
from deconv.exceptions import ConvergenceWarning, EvidenceWarning, MisfitWarning
from deconv.inference import make_problem
from deconv.priors import Priors
from deconv.selection import evidence_densities

SEGMENTS = 6
N_POINTS = 150
SIGMA = 0.02
CENTRE, FWHM = 5.0, 1.0
HEIGHT_PRIOR = (1.0, 0.5)  # Normal(mean, sd): a real-line prior keeps the model linear-Gaussian
# The reference path (tempering from the Laplace approximation, exact for a Gaussian posterior)
# resolves these 14-parameter problems to ~0.01 nat where the prior path needs ~20x the draws
# for 0.1 (se 0.14 at 800 draws per run); the engine's paths are each validated on closed
# forms in test_evidence.py, so here the sharper one checks the spline's prior and basis.
SAMPLER = {"n_warmup": 300, "n_samples": 800, "n_independent": 4, "reference": "laplace"}


def _design(u: np.ndarray, segments: int) -> np.ndarray:
    """SciPy's cubic B-spline design matrix on ``u`` in [0, 1], shape ``(n, segments + 3)``."""
    knots = (np.arange(segments + 7) - 3.0) / segments
    return BSpline.design_matrix(u, knots, 3).toarray()


def _wiggle_covariance(u: np.ndarray, segments: int, smoothness: float) -> np.ndarray:
    """Prior covariance of the departure from a line at ``smoothness`` (y units)."""
    difference = np.diff(np.eye(segments + 3), n=2, axis=0)
    inverse = np.linalg.pinv(difference.T @ difference)
    grid = _design(np.linspace(0.0, 1.0, 2001), segments)
    rms = np.mean(np.einsum("ij,jk,ik->i", grid, inverse, grid))
    basis = _design(u, segments)
    return smoothness**2 / rms * basis @ inverse @ basis.T


def _spectrum() -> deconv.Spectrum:
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 10.0, N_POINTS)
    background = 0.3 * np.exp(-0.5 * ((x - 3.0) / 2.0) ** 2) + 0.02 * x
    peak = np.exp(-4.0 * np.log(2.0) * (x - CENTRE) ** 2 / FWHM**2)
    return deconv.Spectrum(x, background + peak + SIGMA * rng.standard_normal(x.size))


def _fixed_peak_priors(**changes) -> Priors:
    return Priors(
        centre=dist.Normal(CENTRE, 1e-4),
        width=dist.LogNormal(float(np.log(FWHM)), 1e-5),
        amplitude=dist.Normal(*HEIGHT_PRIOR),
        **changes,
    )


def _exact_log_evidence(spectrum: deconv.Spectrum, smoothness: float) -> float:
    x, y = spectrum.x, spectrum.y
    u = (x - x[0]) / (x[-1] - x[0])
    ys = float(np.max(np.abs(y)))
    peak = np.exp(-4.0 * np.log(2.0) * (x - CENTRE) ** 2 / FWHM**2)
    line = np.stack([np.ones_like(u), 2.0 * u - 1.0], axis=1)
    covariance = (
        SIGMA**2 * np.eye(x.size)
        + HEIGHT_PRIOR[1] ** 2 * np.outer(peak, peak)
        + ys**2 * line @ line.T
        + _wiggle_covariance(u, SEGMENTS, smoothness)
    )
    return float(stats.multivariate_normal(HEIGHT_PRIOR[0] * peak, covariance).logpdf(y))


def _free_energy(spectrum, baseline, priors, key):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, MisfitWarning))
        return deconv.free_energy(
            spectrum, 1, shape="gaussian", baseline=baseline, priors=priors, sigma=SIGMA,
            key=key, n_starts=8, compute_wbic=False, sampler=SAMPLER,
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the basis and the prior


def test_basis_matches_scipy_and_reproduces_lines():
    u = np.linspace(0.0, 1.0, 301)
    basis = np.asarray(baselines.bspline_basis(jnp.asarray(u), SEGMENTS))
    np.testing.assert_allclose(basis.T, _design(u, SEGMENTS), atol=1e-13)
    np.testing.assert_allclose(basis.sum(axis=0), 1.0, atol=1e-13)
    to_line, to_wiggle = baselines.spline_prior_factors(SEGMENTS)
    np.testing.assert_allclose(to_line.T @ basis, [np.ones_like(u), 2.0 * u - 1.0], atol=1e-13)
    # w ~ N(0, s^2 I) has the P-spline prior of smoothness s: the oracle's covariance
    grid = np.linspace(0.0, 1.0, 2001)
    covariance = _wiggle_covariance(grid, SEGMENTS, 0.3)
    spline_grid = _design(grid, SEGMENTS) @ to_wiggle
    np.testing.assert_allclose(0.09 * spline_grid @ spline_grid.T, covariance, atol=1e-12)
    assert np.sqrt(np.mean(np.diag(covariance))) == pytest.approx(0.3, rel=1e-12)
    np.testing.assert_allclose(to_line.T @ to_wiggle, 0.0, atol=1e-10)
    curve = baselines.spline_baseline(
        jnp.asarray(u), jnp.array([0.2, 0.1]), jnp.zeros(SEGMENTS + 1), SEGMENTS
    )
    np.testing.assert_allclose(curve, 0.2 + 0.1 * (2.0 * u - 1.0), atol=1e-13)


def test_spline_is_the_linear_model_at_zero_smoothness():
    """At s -> 0 the spline's joint density equals the linear baseline's (same line prior)."""
    spectrum = _spectrum()
    linear = make_problem(spectrum, 1, shape="gaussian", baseline="linear", sigma=SIGMA)
    spline = make_problem(
        spectrum, 1, shape="gaussian", sigma=SIGMA,
        baseline=baselines.SplineBaseline(SEGMENTS, smoothness=1e-12),
    )  # fmt: skip
    point = {"centre": jnp.array([0.5]), "fwhm": jnp.array([0.1]), "height": jnp.array([0.8])}
    point["baseline"] = jnp.array([0.2, 0.05])
    wiggle = {"baseline_wiggle": jnp.zeros(SEGMENTS + 1)}
    ys = spline.scaling.ys
    wiggle_density = (SEGMENTS + 1) * stats.norm.logpdf(0.0, scale=1e-12 / ys)
    assert float(spline.log_joint({**point, **wiggle})) == pytest.approx(
        float(linear.log_joint(point)) + wiggle_density, abs=1e-9
    )


def test_structured_densities_equal_the_model_densities():
    """The structured path (one compiled program per structure) and the model's own closure
    give the same log prior and log likelihood at random points."""
    spectrum = _spectrum()
    problem = make_problem(spectrum, 2, shape="gaussian", baseline="spline", sigma=SIGMA)
    assert _structured.supports(problem.model)
    structure, data = problem.structured
    log_prior, log_likelihood = _structured.evidence_densities(structure)
    reference_prior, reference_likelihood = evidence_densities(problem)
    keys = jax.random.split(jax.random.key(0), 3)
    for key in keys:
        sites = {"centre": 2, "fwhm": 2, "height": 2, "baseline": 2}
        sites["baseline_wiggle"] = baselines.SPLINE_SEGMENTS + 1
        parts = jax.random.split(key, len(sites))
        z = {
            name: 0.5 * jax.random.normal(k, (n,))
            for k, (name, n) in zip(parts, sites.items(), strict=True)
        }
        assert float(log_prior(z, data)) == pytest.approx(float(reference_prior(z)), abs=1e-9)
        assert float(log_likelihood(z, data)) == pytest.approx(
            float(reference_likelihood(z)), abs=1e-8
        )


# ---------------------------------------------------------------------------------------------
# free energies against the closed form


def test_free_energy_with_fixed_smoothness_matches_the_closed_form():
    spectrum = _spectrum()
    spline = baselines.SplineBaseline(SEGMENTS, smoothness=0.1)
    result = _free_energy(spectrum, spline, _fixed_peak_priors(), key=0)
    exact = -_exact_log_evidence(spectrum, 0.1)
    assert abs(result.free_energy - exact) < 0.1, (result.free_energy, exact)
    assert result.free_energy_se < 0.1
    assert result.fit.model.label == "K=1 gaussian + spline6_s0.1"


def test_free_energy_with_inferred_smoothness_matches_quadrature():
    spectrum = _spectrum()
    prior = stats.invgamma(1.5, scale=0.02)  # of s**2
    result = _free_energy(
        spectrum,
        baselines.SplineBaseline(SEGMENTS),
        _fixed_peak_priors(smoothness=dist.InverseGamma(1.5, 0.02)),
        key=1,
    )

    def log_integrand(log_s: float) -> float:  # over log s: s**2 prior, Jacobian 2 s**2
        s = np.exp(log_s)
        return prior.logpdf(s**2) + np.log(2.0 * s**2) + _exact_log_evidence(spectrum, s)

    grid = np.linspace(-7.0, 1.0, 33)
    peak = max(log_integrand(t) for t in grid)
    value, error = integrate.quad(
        lambda t: np.exp(log_integrand(t) - peak), -12.0, 3.0, limit=200, epsabs=0.0,
        points=grid[[np.argmax([log_integrand(t) for t in grid])]],
    )  # fmt: skip
    assert error < 1e-6 * value
    exact = -(peak + np.log(value))
    assert abs(result.free_energy - exact) < 0.1, (result.free_energy, exact)
    assert result.free_energy_se < 0.1
    posterior = result.fit.idata.posterior
    assert posterior["baseline_wiggle"].dims[-1] == "baseline_wiggle_term"
    assert "smoothness" not in posterior  # integrated out


# ---------------------------------------------------------------------------------------------
# recovery on a background that no polynomial follows


@pytest.mark.parametrize("seed", [1, pytest.param(3, marks=pytest.mark.slow)])
def test_peaks_on_a_spline_baseline_recover_their_centres(seed):
    """NUTS with the spline on a step plus a hump: every centre within 2 posterior sd of the
    truth. Measured with these settings over seeds 0-5: all 18 centres within 1.8 sd, 11
    within 1 sd; the baseline's posterior mean within 0.12-0.43 noise sd of the truth (rms)."""
    case = datasets.smooth_background(seed, n_points=150)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, MisfitWarning))
        result = deconv.fit(
            case.spectrum, 3, shape="gaussian", baseline="spline", key=seed, n_starts=16,
            num_warmup=150, num_samples=150, num_chains=2,
        )  # fmt: skip
    peaks = result.peak_table
    z = (peaks["centre"].to_numpy() - case.truth.peaks["centre"].to_numpy()) / peaks["centre_sd"]
    assert np.all(np.abs(z) < 2.0), z
    band = result.predict(n_draws=200)["baseline"]
    rms = np.sqrt(np.mean((band.mean(axis=0) - case.truth.background) ** 2))
    assert rms < 3.0 * case.truth.noise_sd, rms
    top, _ = result.plot()
    assert len(top.collections) == 2  # the curve's band and the baseline's


# ---------------------------------------------------------------------------------------------
# validation and labels


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"segments": 1}, ValueError, r"segments must be >= 2; got 1"),
        ({"segments": 2.5}, TypeError, r"segments must be"),
        ({"smoothness": -0.1}, ValueError, r"smoothness must be"),
    ],
)
def test_bad_spline_settings_are_refused(arguments, error, message):
    with pytest.raises(error, match=message):
        baselines.SplineBaseline(**arguments)


def test_labels_and_parameter_counts():
    assert baselines.baseline_label("spline") == "spline"
    assert baselines.check_baseline("spline") == baselines.SplineBaseline()
    assert baselines.SplineBaseline(16).label == "spline16"
    assert baselines.SplineBaseline(smoothness=0.02).label == "spline10_s0.02"
    model = deconv.PeakModel(2, shape="gaussian", baseline="spline")
    assert model.baseline == baselines.SplineBaseline()
    assert model.n_parameters == 2 * 3 + 2 + 11 + 1  # peaks, line, wiggle, sigma
    fixed = deconv.PeakModel(2, shape="gaussian", baseline=baselines.SplineBaseline(8, 0.1))
    assert fixed.n_parameters == 2 * 3 + 11 + 1
    assert not _structured.supports(fixed)
    with pytest.raises(TypeError, match=r"smoothness must be an InverseGamma"):
        Priors(smoothness=dist.HalfNormal(1.0))


@pytest.mark.slow  # ~1 min, compile-bound; the free-energy tests above cover the spline's F
def test_select_compares_a_spline_with_a_line():
    """On a step plus a hump, the spline beats the line by tens of nats at the true K (one
    short run each: the gap, ~100 nat at seed 0, dwarfs its standard error)."""
    case = datasets.smooth_background(0, n_points=120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, MisfitWarning, EvidenceWarning))
        selection = deconv.select(
            case.spectrum, n_peaks=[3], shapes=["gaussian"], baselines=("linear", "spline"),
            key=0, n_starts=16, compute_wbic=False,
            sampler={"n_warmup": 150, "n_samples": 300, "n_independent": 2},
        )  # fmt: skip
    table = selection.table.set_index("baseline")
    assert set(table.index) == {"linear", "spline"}
    assert selection.best.fit.model.baseline == baselines.SplineBaseline()
    assert table.loc["linear", "F"] - table.loc["spline", "F"] > 20.0


@pytest.mark.slow  # ~70 s: free energies of 3 spectra under two candidates
def test_select_series_takes_the_spline_as_a_candidate():
    """A series of three spectra on steps plus humps, the property a peak height: the spectra
    prefer the spline to the line by tens of nats in sum F, and the table names it."""
    from gp_property import Candidate, select_series

    cases = [datasets.smooth_background(seed, n_points=120) for seed in range(3)]
    ids = [f"s{i}" for i in range(3)]
    properties = pd.DataFrame({"h": [0.3, 0.5, 0.7]}, index=ids)
    series = deconv.SpectrumSeries(
        cases[0].spectrum.x, np.array([case.spectrum.y for case in cases]), sample_ids=ids,
        properties=properties,
    )  # fmt: skip
    candidates = [Candidate(3, "gaussian", "linear"), Candidate(3, "gaussian", "spline")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, MisfitWarning, EvidenceWarning))
        selection = select_series(
            series, "h", candidates, key=0, n_starts=16, progress=False,
            sampler={"n_warmup": 150, "n_samples": 300, "n_independent": 2},
        )  # fmt: skip
    table = selection.table.set_index("model")
    line, spline = (candidate.label for candidate in candidates)
    assert spline == "K=3 gaussian + spline"
    assert table.loc[line, "sum_F"] - table.loc[spline, "sum_F"] > 50.0


def test_smooth_background_generator_keeps_its_truth():
    case = datasets.smooth_background(4, kind="both", noise=0.02, n_points=120)
    x = case.spectrum.x
    peaks = sum(
        row.height * np.exp(-4.0 * np.log(2.0) * (x - row.centre) ** 2 / row.fwhm**2)
        for row in case.truth.peaks.itertuples()
    )
    np.testing.assert_allclose(case.truth.clean, peaks + case.truth.background, atol=1e-12)
    residual = case.spectrum.y - case.truth.clean
    assert case.truth.noise_sd == pytest.approx(0.02)
    assert np.std(residual) == pytest.approx(0.02, rel=0.2)
    np.testing.assert_array_equal(datasets.smooth_background(4, n_points=120).spectrum.x, x)
    step = datasets.smooth_background(4, kind="sigmoid", n_points=120).truth.background
    # no cubic follows the step plus hump: its least-squares residual exceeds the noise
    cubic = np.polynomial.Chebyshev.fit(x, case.truth.background, 3)
    assert np.std(case.truth.background - cubic(x)) > 0.02
    assert np.all(np.diff(step - step[0] + 0.05 * x) > 0)  # a rising step on a gentle slope
    with pytest.raises(ValueError, match=r"kind must be one of"):
        datasets.smooth_background(kind="wave")


def test_batch_map_and_the_store_round_trip_a_spline(tmp_path):
    """The vectorised MAP of a series with a spline baseline writes results that load back
    as the same fit: peaks and the baseline curve reproduced from the stored posterior."""
    from deconv import batch
    from deconv.spectrum import SpectrumSeries
    from deconv.store import ResultStore, store_labels

    cases = [datasets.smooth_background(seed, n_points=120) for seed in (1, 2)]
    series = SpectrumSeries(
        cases[0].spectrum.x, np.stack([c.spectrum.y for c in cases]), sample_ids=["a", "b"]
    )
    spline = baselines.SplineBaseline(8)
    result = batch.fit_series(
        series, 3, shape="gaussian", baseline=spline, out=tmp_path, progress=False, n_starts=16
    )
    summary = result.summary.set_index("sample_id")
    assert list(summary["status"]) == ["done", "done"]
    (label,) = store_labels(tmp_path)
    assert label == "K3_gaussian_spline8_normal_map"
    store = ResultStore(tmp_path, label)
    for sample_id, case in zip(("a", "b"), cases, strict=True):
        fit = store.load_fit(sample_id)
        assert fit.model.baseline == spline
        centres = case.truth.peaks["centre"].to_numpy()
        np.testing.assert_allclose(fit.peak_table["centre"], centres, atol=0.02)
        stored = store.load(sample_id).posterior["baseline_wiggle"].to_numpy()
        assert stored.shape == (1, 1, 9)
        curve = fit.predict(n_draws=None)["baseline"][0]
        assert np.sqrt(np.mean((curve - case.truth.background) ** 2)) < 2 * case.truth.noise_sd
