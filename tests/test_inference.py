"""Fitting: MAP recovers known truth and agrees with SciPy; NUTS recovers the benchmarks."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import distributions as dist
from scipy import optimize

import datasets
from deconv import ConvergenceWarning, Spectrum, fit
from deconv.baselines import CustomBaseline
from deconv.inference import _distinct_optima, make_problem

NOISELESS_PEAKS = {
    "centre": [40.0, 52.0, 61.0],
    "fwhm": [6.0, 5.0, 4.0],
    "height": [1.0, 0.6, 0.3],
    "eta": [0.2, 0.5, 0.7],
}
NOISELESS_BASELINE = (0.2, 0.004)


@pytest.fixture(scope="module")
def noiseless():
    x = np.linspace(20.0, 80.0, 400)
    return datasets.synthetic_spectrum(
        x, NOISELESS_PEAKS, shape="pseudo_voigt", baseline=NOISELESS_BASELINE
    )


@pytest.fixture(scope="module")
def noiseless_map(noiseless):
    return fit(
        noiseless.spectrum,
        3,
        shape="pseudo_voigt",
        baseline="linear",
        sigma=1e-4,
        method="map",
        key=0,
    )


def test_map_recovers_noiseless_truth_to_1e6(noiseless, noiseless_map):
    table, truth = noiseless_map.peak_table, noiseless.truth.peaks
    for name in ("centre", "fwhm", "height", "eta", "area"):
        np.testing.assert_allclose(table[name], truth[name], rtol=1e-6, err_msg=name)
    # the linear baseline a + b (x - 20), written in Chebyshev terms on [20, 80]
    dx = 60.0
    c0 = NOISELESS_BASELINE[0] + NOISELESS_BASELINE[1] * dx / 2
    c1 = NOISELESS_BASELINE[1] * dx / 2
    coefficients = noiseless_map.idata.posterior["baseline"].to_numpy().ravel()
    np.testing.assert_allclose(coefficients, [c0, c1], rtol=1e-6)
    assert np.isnan(table["centre_sd"]).all()  # a point estimate has no spread


def test_map_agrees_with_scipy_least_squares(noiseless, noiseless_map):
    """Same objective (Gaussian likelihood, same parametrisation) minimised by SciPy."""
    spectrum = noiseless.spectrum
    x, y = spectrum.x, spectrum.y

    def model(theta):
        c, w, h, eta = theta[:12].reshape(4, 3)
        # unit-area components with one FWHM, mixed by area, scaled to the height h
        gauss_norm = 2 * np.sqrt(np.log(2) / np.pi) / w
        g = gauss_norm * np.exp(-4 * np.log(2) * (x[:, None] - c) ** 2 / w**2)
        lor = 2 / (np.pi * w) / (1 + 4 * (x[:, None] - c) ** 2 / w**2)
        peak = (1 - eta) * 2 * np.sqrt(np.log(2) / np.pi) / w + eta * 2 / (np.pi * w)
        t = 2 * (x - 20.0) / 60.0 - 1
        return (h * ((1 - eta) * g + eta * lor) / peak).sum(1) + theta[12] + theta[13] * t

    start = np.r_[[39, 53, 60], [5, 5, 5], [0.9, 0.5, 0.3], [0.5] * 3, 0.3, 0.1]
    solution = optimize.least_squares(
        lambda th: (model(th) - y) / 1e-4, start, xtol=1e-15, ftol=1e-15, gtol=1e-15
    ).x
    table = noiseless_map.peak_table
    ours = np.r_[
        table["centre"],
        table["fwhm"],
        table["height"],
        table["eta"],
        noiseless_map.idata.posterior["baseline"].to_numpy().ravel(),
    ]
    np.testing.assert_allclose(ours, solution, rtol=1e-6, atol=1e-9)


def test_map_is_repeatable_for_a_fixed_key(noiseless):
    first = fit(
        noiseless.spectrum,
        1,
        shape="gaussian",
        baseline="constant",
        method="map",
        key=3,
        n_starts=4,
    )
    second = fit(
        noiseless.spectrum,
        1,
        shape="gaussian",
        baseline="constant",
        method="map",
        key=3,
        n_starts=4,
    )
    np.testing.assert_array_equal(first.peak_table.to_numpy(), second.peak_table.to_numpy())


def test_custom_exponential_baseline_is_recovered():
    x = np.linspace(0.0, 10.0, 300)
    background = 2.0 * np.exp(-0.4 * x)
    peak = 1.5 * np.exp(-4 * np.log(2) * (x - 6.0) ** 2 / 0.8**2)
    spectrum = Spectrum(x, background + peak)
    baseline = CustomBaseline(
        lambda x, amplitude, rate: amplitude * jnp.exp(-rate * x),
        {"amplitude": dist.LogNormal(0.0, 1.0), "rate": dist.LogNormal(-1.0, 1.0)},
        name="exponential",
    )
    result = fit(
        spectrum,
        1,
        shape="gaussian",
        baseline=baseline,
        sigma=1e-4,
        method="map",
        key=0,
        n_starts=8,
    )
    posterior = result.idata.posterior
    assert float(posterior["baseline_amplitude"].mean()) == pytest.approx(2.0, rel=1e-5)
    assert float(posterior["baseline_rate"].mean()) == pytest.approx(0.4, rel=1e-5)
    assert result.peak_table["centre"].iloc[0] == pytest.approx(6.0, rel=1e-6)
    assert "exponential" in result.model.label


@pytest.fixture(scope="module")
def nagata_fit():
    data = datasets.nagata2012(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = fit(
            data.spectrum,
            3,
            shape="gaussian",
            baseline="none",
            priors="nagata2012",
            method="nuts",
            key=0,
            num_warmup=500,
            num_samples=1000,
            num_chains=4,
        )
    return data, result


def test_nuts_recovers_nagata2012_centres(nagata_fit):
    data, result = nagata_fit
    table, truth = result.peak_table, data.truth.peaks["centre"].to_numpy()
    np.testing.assert_allclose(table["centre"], truth, atol=0.01)
    assert (table["centre_hdi_low"].to_numpy() < truth).all()
    assert (truth < table["centre_hdi_high"].to_numpy()).all()
    assert result.diagnostics["r_hat_max"] < 1.01
    assert result.diagnostics["divergences"] == 0


def test_fit_result_holds_inference_data_in_user_units(nagata_fit):
    data, result = nagata_fit
    idata = result.idata
    for group in (
        "posterior",
        "log_likelihood",
        "posterior_predictive",
        "observed_data",
        "sample_stats",
    ):
        assert group in idata.groups()
    assert idata.log_likelihood["y"].shape == (4, 1000, 301)
    np.testing.assert_array_equal(idata.observed_data["y"].to_numpy(), data.spectrum.y)
    # precision and FWHM are the same width: b = 8 ln2 / FWHM^2
    posterior = idata.posterior
    np.testing.assert_allclose(
        posterior["precision"], 8 * np.log(2) / posterior["fwhm"] ** 2, rtol=1e-12
    )
    # predictive noise has the fixed sigma = 0.1
    residual = idata.posterior_predictive["y"] - idata.posterior_predictive["y"].mean("draw")
    assert float(residual.std()) == pytest.approx(0.1, rel=0.05)
    assert "converged: yes" in result.report()


def test_fit_plot_draws_data_band_and_components(nagata_fit):
    _, result = nagata_fit
    top, bottom = result.plot()
    assert len(top.lines) == 1 + 1 + 1 + 3  # data, mean, baseline, three peaks
    assert len(top.collections) == 1  # credible band
    assert bottom.get_ylabel() == "residual"


@pytest.mark.slow  # test_docs runs the same NUTS fit of ir_carbonyl (the quickstart)
def test_nuts_recovers_ir_like_spectrum():
    data = datasets.ir_carbonyl(seed=0, noise=0.01)
    result = fit(
        data.spectrum,
        3,
        shape="pseudo_voigt",
        baseline="linear",
        method="nuts",
        key=1,
        num_warmup=400,
        num_samples=400,
        num_chains=4,
        dense_mass=True,
    )
    table, truth = result.peak_table, data.truth.peaks
    z = np.abs(table["centre"].to_numpy() - truth["centre"].to_numpy()) / table["centre_sd"]
    assert (z < 3).all(), z
    np.testing.assert_allclose(table["area"], truth["area"].to_numpy(), rtol=0.10)
    assert result.diagnostics["r_hat_max"] < 1.01


def test_short_chains_raise_a_convergence_warning():
    data = datasets.nagata2012(seed=0)
    with pytest.warns(ConvergenceWarning, match="min bulk ESS") as record:
        fit(
            data.spectrum,
            2,
            shape="gaussian",
            baseline="none",
            priors="nagata2012",
            method="nuts",
            key=0,
            num_warmup=20,
            num_samples=20,
            num_chains=2,
            n_starts=4,
        )
    assert record[0].filename == __file__


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"method": "mcmc"}, ValueError, "method must be one of ('map', 'nuts'); got 'mcmc'"),
        ({"n_peaks": 0}, ValueError, "n_peaks must be >= 1; got 0"),
        ({"key": "seed"}, TypeError, "key must be an int seed or a jax PRNG key"),
        ({"sigma": -1.0}, ValueError, "sigma must be finite and > 0; got -1.0"),
        ({"sigma": "data"}, ValueError, "sigma must be present in the spectrum"),
        (
            {"n_peaks": 40},
            ValueError,
            "spectrum must have more points than the model has parameters (163); got '30 points'",
        ),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, error, message):
    spectrum = Spectrum(np.linspace(0, 1, 30), np.exp(-((np.linspace(0, 1, 30) - 0.5) ** 2)))
    arguments = {"n_peaks": 1, "method": "map", **kwargs}
    with pytest.raises(error) as info:
        fit(spectrum, **arguments)
    assert message in str(info.value)


def test_fit_rejects_non_spectrum():
    with pytest.raises(TypeError, match=r"spectrum must be a deconv\.Spectrum; got 'ndarray'"):
        fit(np.ones(10), 1)


@pytest.mark.parametrize("shape", ["voigt", "lorentzian"])
def test_map_with_area_amplitudes_recovers_noiseless_areas(shape):
    from deconv.priors import Priors

    x = np.linspace(0.0, 100.0, 500)
    peaks = {
        "centre": [45.0, 60.0],
        "fwhm": [5.0, 4.0],
        "height": [1.0, 0.5],
        "fwhm_lorentz": [3.0, 2.0],
    }
    data = datasets.synthetic_spectrum(x, peaks, shape=shape, baseline=(0.1,))
    result = fit(
        data.spectrum,
        2,
        shape=shape,
        baseline="constant",
        sigma=1e-4,
        priors=Priors(amplitude_kind="area"),
        method="map",
        key=0,
        n_starts=8,
    )
    np.testing.assert_allclose(
        result.peak_table["area"], data.truth.peaks["area"].to_numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(result.peak_table["centre"], [45.0, 60.0], rtol=1e-8)


def test_a_diverged_start_is_listed_without_a_warning():
    """A BFGS run can diverge (Nagata K = 5 with 192 starts: centres ~1e92 and beyond, 3800 nat
    above the best); rounding its centres for the optima table must not overflow into a
    RuntimeWarning the user cannot act on."""
    nagata = datasets.nagata2012(seed=0).spectrum
    problem = make_problem(nagata, 2, shape="gaussian", baseline="none", priors="nagata2012")
    params = {
        "centre": jnp.array([[0.4, 0.5], [0.2, 1e305]]),
        "height": jnp.ones((2, 2)),
        "precision": jnp.ones((2, 2)),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        optima, table = _distinct_optima(params, np.array([1.0, 4000.0]), problem)
    assert len(optima) == 2
    assert table["centres"][0] == pytest.approx([1.2, 1.5])
    assert table["centres"][1][1] == np.inf
