"""Synthetic data sets reproduce their definitions exactly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

import datasets

RATE_A0 = 0.5797425953566121  # weak_band(seed=0): property of sample 0
# unknown_background(seed=0, n_samples=10, background_centres=(10, 90)): uniform centres
BACKGROUND_CENTRES_B0 = [79.054314, 53.316898, 33.976951]


def test_nagata2012_seed0_is_the_reference_data_set():
    data = datasets.nagata2012(seed=0)
    x = np.arange(301) * 0.01
    a = np.array([0.587, 1.522, 1.183])
    mu = np.array([1.210, 1.455, 1.703])
    b = np.array([95.689, 146.837, 164.469])
    clean = (a[:, None] * np.exp(-b[:, None] * (x - mu[:, None]) ** 2 / 2)).sum(axis=0)
    expected = clean + 0.1 * np.random.RandomState(0).randn(301)
    np.testing.assert_allclose(data.spectrum.x, x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(data.spectrum.y, expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(data.truth.peaks["centre"], mu)
    np.testing.assert_allclose(data.truth.peaks["fwhm"], np.sqrt(8 * np.log(2) / b))
    assert data.truth.noise_sd == 0.1


def test_nagata2012_seeds_differ():
    assert not np.allclose(datasets.nagata2012(1).spectrum.y, datasets.nagata2012(0).spectrum.y)


@pytest.mark.parametrize("shape", ["gaussian", "lorentzian", "pseudo_voigt"])
def test_synthetic_areas_match_numerical_integration(shape):
    x = np.linspace(-200.0, 200.0, 400_001)
    peaks = {"centre": [0.0], "fwhm": [2.0], "height": [3.0], "eta": [0.3]}
    data = datasets.synthetic_spectrum(x, peaks, shape=shape)
    area = integrate.trapezoid(data.truth.clean, x)
    # Lorentzian tails beyond +-200 hold 2 * fwhm / (2 pi 200) of the area
    tail = {"gaussian": 0.0, "lorentzian": 1.0, "pseudo_voigt": 0.3}[shape] * 2.0 / (np.pi * 200)
    assert area == pytest.approx(data.truth.peaks["area"][0] * (1 - tail), rel=2e-5)


def test_synthetic_noise_and_baseline():
    x = np.linspace(0.0, 10.0, 2001)
    data = datasets.synthetic_spectrum(
        x,
        {"centre": [5.0], "fwhm": [1.0], "height": [1.0]},
        shape="gaussian",
        baseline=(0.5, 0.1),
        noise_sd=0.02,
        seed=3,
    )
    residual = data.spectrum.y - data.truth.clean
    assert residual.std() == pytest.approx(0.02, rel=0.05)
    assert data.truth.clean[0] == pytest.approx(0.5, abs=1e-12)
    assert data.truth.clean[-1] == pytest.approx(1.5, abs=1e-12)


def test_ir_carbonyl_matches_its_description():
    data = datasets.ir_carbonyl(seed=0)
    spectrum, truth = data.spectrum, data.truth
    assert spectrum.n_points == 1000 and spectrum.descending
    assert spectrum.x[0] == 1650.0 and spectrum.x[-1] == 1850.0
    heights = truth.peaks["height"].to_numpy()
    assert heights.min() / heights.max() == pytest.approx(0.10)
    assert truth.noise_sd == pytest.approx(0.01 * truth.clean.max())
    assert np.std(spectrum.y - truth.clean) == pytest.approx(truth.noise_sd, rel=0.1)


def test_bundled_demo_file_reads_back_as_the_generator_output():
    spectrum = datasets.load("ir_carbonyl_demo")
    generated = datasets.ir_carbonyl(seed=0).spectrum
    np.testing.assert_array_equal(spectrum.x, generated.x)
    np.testing.assert_array_equal(spectrum.y, generated.y)
    assert spectrum.descending
    with pytest.raises(ValueError, match="name must be one of"):
        datasets.load("nope")


@pytest.mark.parametrize(
    ("make", "driving_peak", "n_peaks"),
    [
        (datasets.weak_band, 2, 2),
        (datasets.unknown_background, 2, 2),
        (datasets.pla_carbonyl, 3, 3),
    ],
)
def test_scenarios_property_follows_the_driving_area(make, driving_peak, n_peaks):
    scenario = make(seed=4)
    series = scenario.series
    assert scenario.true_n_peaks == n_peaks
    assert len(series) == scenario.settings["n_samples"]
    driving = scenario.peaks[scenario.peaks["peak"] == driving_peak].set_index("sample_id")
    areas = driving.loc[series.sample_ids, "area"].to_numpy()
    rate = series.property(scenario.property_name)
    order = np.argsort(areas)
    # monotone up to the 2 % measurement noise
    assert np.corrcoef(areas, rate)[0, 1] > 0.97
    assert rate[order[-1]] > rate[order[0]] + 0.7


def test_pla_scenario_is_a_descending_ir_series():
    scenario = datasets.pla_carbonyl(seed=0)
    series = scenario.series
    assert series.descending and series.x[0] == 1650.0 and series.x[-1] == 1850.0
    spectrum = series[0]
    peak_index = np.argmax(spectrum.y)
    assert abs(spectrum.x[peak_index] - 1757.0) < 3.0


def test_weak_band_documented_settings():
    scenario = datasets.weak_band(seed=0)
    assert scenario.settings == {
        "seed": 0,
        "n_samples": 10,
        "noise": 0.15,
        "n_points": 200,
        "weak_heights": (0.05, 0.20),
        "strong_heights": (0.7, 1.3),
        "property_noise": 0.01,
    }
    peaks = scenario.peaks
    weak = np.sort(peaks.loc[peaks["peak"] == 2, "height"].to_numpy())
    np.testing.assert_allclose(weak, np.linspace(0.05, 0.20, 10))
    strong = peaks.loc[peaks["peak"] == 1, "height"].to_numpy()
    assert strong.min() >= 0.7 and strong.max() <= 1.3
    # the strong band does not track the property: a K = 1 area would not predict it
    rate = scenario.series.property("property")
    assert abs(np.corrcoef(strong, rate)[0, 1]) < 0.7
    residual = scenario.series.y - np.array(
        [
            datasets.synthetic_spectrum(
                scenario.series.x,
                peaks[peaks["sample_id"] == sid][["centre", "fwhm", "height"]],
                shape="gaussian",
            ).truth.clean
            for sid in scenario.series.sample_ids
        ]
    )
    assert residual.std() == pytest.approx(0.15, rel=0.05)
    assert rate[0] == pytest.approx(RATE_A0, abs=1e-6)


def test_unknown_background_documented_settings():
    """The settings of the issue-4 study (docs/benchmarks.md): 40 samples, centres in zones."""
    scenario = datasets.unknown_background(seed=0)
    settings = scenario.settings
    assert settings["background_height"] == 0.0147 and settings["background_fwhm"] == 10.0
    assert settings["noise"] == 0.01 and settings["n_samples"] == 40
    assert settings["property_noise"] == 0.003
    assert settings["background_centres"] == ((18.0, 30.0), (62.0, 80.0))
    centres = np.sort(scenario.series.properties["background_centre"].to_numpy())
    np.testing.assert_allclose(
        centres, np.r_[np.linspace(18.0, 30.0, 20), np.linspace(62.0, 80.0, 20)]
    )
    assert scenario.true_n_peaks == 2 and len(scenario.series) == 40
    assert settings["driver_heights"] == (0.1, 1.0)
    driving = scenario.peaks.query("peak == 2")["height"].to_numpy()
    np.testing.assert_allclose(np.sort(driving), np.linspace(0.1, 1.0, 40))
    uniform = datasets.unknown_background(seed=0, n_samples=10, background_centres=(10.0, 90.0))
    centres = uniform.series.properties["background_centre"].to_numpy()
    np.testing.assert_allclose(centres[:3], BACKGROUND_CENTRES_B0, atol=1e-6)
    wide = datasets.unknown_background(seed=0, n_samples=10, driver_heights=(0.1, 1.5)).peaks
    np.testing.assert_allclose(
        np.sort(wide.query("peak == 2")["height"].to_numpy()), np.linspace(0.1, 1.5, 10)
    )


def test_scenarios_repeat_for_a_seed_and_differ_across_seeds():
    first, again = datasets.weak_band(seed=1), datasets.weak_band(seed=1)
    np.testing.assert_array_equal(first.series.y, again.series.y)
    assert not np.allclose(first.series.y, datasets.weak_band(seed=2).series.y)


def test_unknown_background_zones_space_centres_evenly_and_shuffle_them():
    scenario = datasets.unknown_background(
        seed=0, n_samples=10, background_centres=((18, 30), (62, 80))
    )
    centres = scenario.series.properties["background_centre"].to_numpy()
    np.testing.assert_allclose(
        np.sort(centres), [18.0, 21.0, 24.0, 27.0, 30.0, 62.0, 66.5, 71.0, 75.5, 80.0]
    )
    assert not np.all(np.diff(centres) > 0)  # shuffled
    assert scenario.settings["background_centres"] == ((18.0, 30.0), (62.0, 80.0))
    odd = datasets.unknown_background(seed=0, n_samples=5, background_centres=((0, 1), (5, 6)))
    np.testing.assert_allclose(
        np.sort(odd.series.properties["background_centre"]), [0.0, 0.5, 1.0, 5.0, 6.0]
    )


@pytest.mark.parametrize(
    ("centres", "error", "match"),
    [
        (((30, 18),), ValueError, "low < high"),
        ((1.0,), TypeError, r"got \(1.0,\)"),
        ("ab", TypeError, "pair or a sequence of such pairs"),
    ],
)
def test_unknown_background_rejects_bad_centres(centres, error, match):
    with pytest.raises(error, match=match):
        datasets.unknown_background(seed=0, background_centres=centres)
