"""Property-informed selection over a small series: the three columns add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import datasets
from deconv import SpectrumSeries
from gp_property import Candidate, select_series

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


@pytest.fixture(scope="module")
def selection(series):
    with threadpool_limits(1):
        return select_series(
            series,
            "rate",
            [Candidate(1, "gaussian", "none"), Candidate(2, "gaussian", "none")],
            sigma=0.02,
            sampler=TINY,
            progress=False,
            key=0,
        )


def test_columns_add_up_and_rank(selection):
    table = selection.table
    np.testing.assert_allclose(
        table["F_total"], table["sum_F"] + table["neg_log_L_prop"], rtol=1e-12
    )
    assert selection.chosen == "K=2 gaussian + none"
    assert selection.spectrum_only_choice == "K=2 gaussian + none"
    assert table["probability"].sum() == pytest.approx(1.0)
    assert "held fixed across draws" in selection.policy
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
    assert "chosen: K=2" in left.get_title()
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
