"""Property-informed selection over a small series: the three columns add up, every criterion
and GP input (including the seed paper's configuration) ranks the same free energies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import datasets
from deconv import SpectrumSeries
from gp_property import Candidate, rank_table, select_series
from gp_property import selector as gp_selector
from gp_property.likelihood import PER_DRAW_POLICY

TINY = {"n_warmup": 200, "n_samples": 400, "n_independent": 2}


@pytest.fixture(scope="module")
def series():
    x = np.linspace(0.0, 10.0, 120)
    heights = np.array([0.4, 0.8, 1.2, 1.6])
    rows = []
    for i, h in enumerate(heights):
        peaks = {"centre": [4.0, 6.5], "fwhm": [1.2, 1.0], "height": [1.0, h]}
        rows.append(
            datasets.synthetic_spectrum(
                x, peaks, shape="gaussian", noise_sd=0.02, seed=i
            ).spectrum.y
        )
    rate = 0.5 * heights + 0.1
    ids = [f"s{i}" for i in range(heights.size)]
    properties = pd.DataFrame({"rate": rate}, index=ids)
    return SpectrumSeries(x, np.array(rows), sample_ids=ids, properties=properties)


CANDIDATES = [Candidate(1, "gaussian", "none"), Candidate(2, "gaussian", "none")]
K1, K2 = (c.label for c in CANDIDATES)


@pytest.fixture(scope="module")
def batches():
    """The free energies of each candidate, as the first selection computed them."""
    return {}


@pytest.fixture(scope="module")
def selection(series, batches):
    real = gp_selector._series_free_energies

    def recording(series, candidate, *args, **kwargs):
        batches[candidate.label] = real(series, candidate, *args, **kwargs)
        return batches[candidate.label]

    with threadpool_limits(1), pytest.MonkeyPatch.context() as patch:
        patch.setattr(gp_selector, "_series_free_energies", recording)
        return select_series(
            series, "rate", CANDIDATES, sigma=0.02, sampler=TINY, progress=False, key=0,
            n_starts=32,
        )  # fmt: skip


@pytest.fixture
def replay(selection, batches, monkeypatch):
    """select_series on the recorded free energies: only the property term is recomputed."""
    monkeypatch.setattr(
        gp_selector,
        "_series_free_energies",
        lambda series, candidate, *a, **k: batches[candidate.label],
    )

    def run(series, **kwargs):
        with threadpool_limits(1):
            return select_series(
                series, "rate", CANDIDATES, sigma=0.02, sampler=TINY, progress=False, key=0,
                n_starts=32, **kwargs,
            )  # fmt: skip

    return run


def test_columns_add_up_and_rank(selection):
    table = selection.table
    np.testing.assert_allclose(
        table["F_total"], table["sum_F"] + table["neg_log_L_prop"], rtol=1e-12
    )
    assert selection.chosen == "K=2 gaussian + none"
    assert selection.spectrum_only_choice == "K=2 gaussian + none"
    assert table["probability"].sum() == pytest.approx(1.0)
    assert "held fixed across draws" in selection.policy
    assert table.attrs["policy"] == selection.policy
    assert selection.criterion == "joint"
    assert table["criterion"].tolist() == ["joint"] * 2
    assert table["gp_input"].tolist() == ["area"] * 2
    assert table["gp_kernel"].tolist() == ["rbf-ard"] * 2
    assert table["gp_policy"].tolist() == ["fixed"] * 2
    for name, column in gp_selector.CRITERIA.items():
        p = np.exp(-(table[column] - table[column].min()))
        np.testing.assert_allclose(table[f"probability_{name}"], p / p.sum(), rtol=1e-12)
    np.testing.assert_array_equal(table["probability"], table["probability_joint"])
    np.testing.assert_array_equal(table["spectrum_only_probability"], table["probability_spectrum"])
    per_sample = selection.evidences["K=2 gaussian + none"]
    assert table.set_index("n_peaks").loc[2, "sum_F"] == pytest.approx(
        sum(e.free_energy for e in per_sample)
    )


def test_property_term_prefers_the_peak_that_tracks_the_rate(selection):
    property_term = selection.table.set_index("n_peaks")["neg_log_L_prop"]
    # the area of peak 2 tracks the rate: the two-peak model explains it far better
    assert property_term.loc[1] > property_term.loc[2]


def test_plot_has_ranking_and_feature_panels(selection):
    import matplotlib.pyplot as plt

    assert selection.spectrum_only_choice == selection.chosen
    left, right = selection.plot()
    assert left.get_title().startswith("chosen: K=2 gaussian + none by joint")
    assert right.get_title() == "K=2 gaussian + none"
    _, three = plt.subplots(1, 3)
    selection.plot(axes=three)  # the third panel: the spectrum-only choice's feature
    assert [ax.get_title() for ax in three[1:]] == ["K=2 gaussian + none"] * 2
    with pytest.raises(ValueError, match="axes must hold 2 Axes"):
        selection.plot(axes=three[:1])


def test_plot_adds_the_spectrum_only_choice_where_it_differs(selection):
    import dataclasses

    other = dataclasses.replace(selection, spectrum_only_choice="K=1 gaussian + none")
    axes = other.plot()
    assert [ax.get_title() for ax in axes[1:]] == ["K=2 gaussian + none", "K=1 gaussian + none"]


def test_bad_property_column_is_named(series):
    with pytest.raises(KeyError, match="column must be one of"):
        select_series(series, "nope", [Candidate(1, "gaussian", "none")], progress=False)


def test_the_papers_configuration_ranks_by_the_property_term_alone(selection, replay, series):
    """Predictive spectra, rational-quadratic kernel, hyperparameters refitted per draw, FE~."""
    paper = replay(
        series,
        features="predictive_spectrum",
        kernel="rational_quadratic",
        policy="per_draw",
        criterion="property",
        n_pairs=5,
    )
    table = paper.table
    assert paper.criterion == "property"
    assert table["criterion"].tolist() == ["property"] * 2
    assert table["gp_input"].tolist() == ["predictive_spectrum"] * 2
    assert table["gp_kernel"].tolist() == ["rational_quadratic"] * 2
    assert table["gp_policy"].tolist() == ["per_draw"] * 2
    assert paper.policy == PER_DRAW_POLICY == table.attrs["policy"]
    # ranked by -log L_prop, and chosen by it
    assert table["neg_log_L_prop"].is_monotonic_increasing
    assert paper.chosen == table.loc[table["neg_log_L_prop"].idxmin(), "model"]
    assert paper.choices["property"] == paper.chosen
    np.testing.assert_array_equal(table["probability"], table["probability_property"])
    # the spectral column is the first selection's, the property term is the paper's
    by_model = table.set_index("model")
    first = selection.table.set_index("model")
    np.testing.assert_array_equal(by_model.loc[[K1, K2], "sum_F"], first.loc[[K1, K2], "sum_F"])
    np.testing.assert_allclose(
        by_model["F_total"], by_model["sum_F"] + by_model["neg_log_L_prop"], rtol=1e-12
    )
    for label in (K1, K2):
        likelihood = paper.property_likelihoods[label]
        assert likelihood.n_draws == 5 and likelihood.hyperparameters.shape == (5, 4)
        assert paper.features[label].values.shape == (5, 4, 120)
    assert paper.spectrum_only_choice == selection.spectrum_only_choice
    assert paper.chosen == K2  # peak 2's height sets the rate: K = 2 spectra predict it
    assert by_model.loc[K1, "neg_log_L_prop"] - by_model.loc[K2, "neg_log_L_prop"] > 1.0


def test_spectrum_criterion_and_noise_free_spectra_on_a_region(selection, replay, series):
    result = replay(series, features="noise_free_spectrum", region=(5.0, 8.0), criterion="spectrum")
    table = result.table
    assert result.chosen == result.spectrum_only_choice == table["model"].iloc[0]
    assert table["sum_F"].is_monotonic_increasing
    assert table["gp_input"].tolist() == ["noise_free_spectrum on [5, 8]"] * 2
    assert table["gp_kernel"].tolist() == ["rbf"] * 2
    x = series.x[(series.x >= 5.0) & (series.x <= 8.0)]
    np.testing.assert_array_equal(result.features[K2].x, x)
    assert set(result.choices) == {"joint", "property", "spectrum"}


def test_rank_table_orders_by_each_criterion_and_puts_failures_last():
    table = pd.DataFrame(
        {
            "model": ["a", "b", "c"],
            "sum_F": [10.0, 12.0, np.nan],
            "neg_log_L_prop": [5.0, 1.0, np.nan],
            "F_total": [15.0, 13.0, np.nan],
        }
    )
    assert rank_table(table, "joint")["model"].tolist() == ["b", "a", "c"]
    assert rank_table(table, "spectrum")["model"].tolist() == ["a", "b", "c"]
    ranked = rank_table(table, "property")
    assert ranked["model"].tolist() == ["b", "a", "c"]
    np.testing.assert_allclose(
        ranked["probability_property"][:2], [1 / (1 + np.exp(-4)), 1 / (1 + np.exp(4))]
    )
    np.testing.assert_allclose(
        ranked["probability_spectrum"][:2], [1 / (1 + np.exp(2)), 1 / (1 + np.exp(-2))]
    )
    assert np.isnan(ranked["probability"].iloc[2])
    with pytest.raises(ValueError, match="criterion must be one of"):
        rank_table(table, "total")


def _too_late(*args, **kwargs):
    raise AssertionError("too late: the free energies started")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"criterion": "total"}, ValueError, "criterion must be one of ('joint', 'property',"),
        ({"kernel": "matern"}, ValueError, "kernel must be one of ('rbf', 'rational_quadratic')"),
        ({"policy": "refit"}, ValueError, "policy must be one of ('fixed', 'per_draw')"),
        ({"policy": None}, TypeError, "policy must be one of"),
        (
            {"features": ["area", "predictive_spectrum"]},
            ValueError,
            "features must name a spectrum input ('predictive_spectrum', 'noise_free_spectrum') "
            "alone",
        ),
        ({"region": (4.0, 5.0)}, ValueError, "region must be None unless features is"),
        (
            {"features": "predictive_spectrum", "region": (4.0, 4.05)},
            ValueError,
            "region must hold at least 2 points of the axis [0, 10]",
        ),
        ({"features": "noise_free_spectrum", "region": (5.0, 4.0)}, ValueError, "xmin < xmax"),
        ({"features": "noise_free_spectrum", "region": "4-5"}, TypeError, "be a pair"),
    ],
)
def test_new_options_are_checked_before_fitting(monkeypatch, series, kwargs, error, message):
    monkeypatch.setattr(gp_selector, "_series_free_energies", _too_late)
    with pytest.raises(error) as info:
        select_series(series, "rate", CANDIDATES, progress=False, **kwargs)
    assert message in str(info.value)
