"""The seed paper's experiments (datasets.paper) and its prior presets (deconv.priors)."""

from __future__ import annotations

import numpy as np
import pytest

from datasets import paper_background_series, paper_noise_series
from deconv.priors import Priors

FWHM_PER_SD = 2.0 * np.sqrt(2.0 * np.log(2.0))
SEEDS = (0, 1, 2)


def _inside(values, bounds) -> bool:
    low, high = bounds
    return bool(np.all((values >= low) & (values <= high)))


def _peak(table, k: int, column: str) -> np.ndarray:
    return table.loc[table["peak"] == k, column].to_numpy()


@pytest.mark.parametrize("make", [paper_noise_series, paper_background_series])
@pytest.mark.parametrize("seed", SEEDS)
def test_published_layout(make, seed):
    data = make(seed)
    series = data.series
    assert len(series) == 6 and series.n_points == 600
    np.testing.assert_allclose(series.x, np.linspace(3.0, 7.0, 600), rtol=0, atol=1e-15)
    assert series.x[0] == 3.0 and series.x[-1] == 7.0
    assert data.property_name == "delta" and data.true_n_peaks == 2 and data.shape == "gaussian"
    mu1, mu2 = _peak(data.peaks, 1, "centre"), _peak(data.peaks, 2, "centre")
    np.testing.assert_allclose(series.property("delta"), 10 * np.abs(mu1 - mu2), rtol=1e-15)
    np.testing.assert_allclose(data.peaks["fwhm"], FWHM_PER_SD * data.peaks["a"], rtol=1e-15)
    area = data.peaks["height"] * data.peaks["a"] * np.sqrt(2 * np.pi)
    np.testing.assert_allclose(data.peaks["area"], area, rtol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_case_ranges_and_noise(seed):
    data = paper_noise_series(seed)
    peaks = data.peaks
    assert _inside(_peak(peaks, 1, "centre"), (3.5, 4.75))
    assert _inside(_peak(peaks, 2, "centre"), (5.25, 6.5))
    assert _inside(_peak(peaks, 2, "height"), (1.0, 5.0))
    assert np.all(_peak(peaks, 1, "height") == 0.2)  # = sigma, our reading of "comparable"
    assert np.all(peaks["a"] == 0.03) and _inside(peaks["a"].to_numpy(), (0.005, 0.05))
    assert data.background is None and data.noise_sd == 0.2
    residual = data.series.y - data.clean
    assert abs(residual.std() / 0.2 - 1) < 0.05
    assert abs(residual.mean()) < 3 * 0.2 / np.sqrt(residual.size)


def test_noise_case_seed_0_numbers():
    data = paper_noise_series(0)
    assert data.series.sample_ids[0] == "noise-00"
    np.testing.assert_allclose(_peak(data.peaks, 1, "centre")[0], 4.296202, atol=1e-6)
    np.testing.assert_allclose(_peak(data.peaks, 2, "height")[0], 4.429617, atol=1e-6)
    np.testing.assert_allclose((data.series.y - data.clean).std(), 0.199809, atol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_background_case_ranges_and_noise(seed):
    data = paper_background_series(seed)
    peaks = data.peaks
    assert _inside(_peak(peaks, 1, "centre"), (3.5, 4.0))
    assert _inside(_peak(peaks, 1, "height"), (0.1, 0.2))
    assert _inside(_peak(peaks, 2, "centre"), (5.5, 6.0))
    assert _inside(_peak(peaks, 2, "height"), (0.1, 0.2))
    assert np.all(peaks["a"] == 0.1) and _inside(peaks["a"].to_numpy(), (0.005, 0.18))
    bg = data.background
    assert list(bg.index) == data.series.sample_ids
    assert _inside(bg["amplitude"].to_numpy(), (0.15, 0.20))
    assert _inside(bg["steepness"].to_numpy(), (4.0, 6.0))
    assert _inside(bg["midpoint"].to_numpy(), (4.8, 5.2))
    x = data.series.x
    sigmoid = bg["amplitude"].to_numpy()[:, None] / (
        1 + np.exp(-bg["steepness"].to_numpy()[:, None] * (x - bg["midpoint"].to_numpy()[:, None]))
    )
    mu = np.column_stack([_peak(peaks, k, "centre") for k in (1, 2)])
    w = np.column_stack([_peak(peaks, k, "height") for k in (1, 2)])
    gauss = w[:, :, None] * np.exp(-((x - mu[:, :, None]) ** 2) / (2 * 0.1**2))
    np.testing.assert_allclose(data.clean, gauss.sum(axis=1) + sigmoid, rtol=0, atol=1e-14)
    residual = data.series.y - data.clean
    assert data.noise_sd == 0.01 and abs(residual.std() / 0.01 - 1) < 0.05


@pytest.mark.parametrize("make", [paper_noise_series, paper_background_series])
def test_reproducible(make):
    first, again, other = make(3), make(3), make(4)
    assert np.array_equal(first.series.y, again.series.y)
    assert np.array_equal(first.clean, again.clean)
    assert first.peaks.equals(again.peaks)
    assert not np.array_equal(first.series.y, other.series.y)
    with pytest.raises(ValueError, match="seed must be an int seed"):
        make(-1)


@pytest.mark.parametrize(
    ("name", "centre", "sd", "height"),
    [
        ("okubo2026_noise", (3.25, 6.5), (0.005, 0.05), (0.2, 5.0)),
        ("okubo2026_background", (3.5, 6.5), (0.005, 0.18), (0.001, 0.5)),
    ],
)
def test_presets_match_the_published_priors(name, centre, sd, height):
    priors = Priors.preset(name)
    assert priors.width_kind == "fwhm" and priors.amplitude_kind == "height"
    assert priors.sigma is None and priors.baseline is None
    assert (float(priors.centre.low), float(priors.centre.high)) == centre
    assert (float(priors.amplitude.low), float(priors.amplitude.high)) == height
    fwhm = np.array([float(priors.width.low), float(priors.width.high)])
    np.testing.assert_allclose(fwhm / FWHM_PER_SD, sd, rtol=1e-15)
    np.testing.assert_allclose(fwhm[0], sd[0] * 2.3548200450309493, rtol=1e-15)
