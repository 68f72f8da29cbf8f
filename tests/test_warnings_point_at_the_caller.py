"""Every warning the package raises from its public entry points points at the caller's line,
never into the package's own source."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import datasets
import deconv
from deconv.batch import chunks, outcomes
from deconv.exceptions import SpecbayesWarning

HERE = __file__


def _ours(caught) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, SpecbayesWarning)]


def _assert_at_this_file(caught, expected: type[Warning]) -> None:
    ours = _ours(caught)
    assert any(issubclass(w.category, expected) for w in ours), [str(w.message) for w in ours]
    assert {w.filename for w in ours} == {HERE}, [(w.filename, w.lineno) for w in ours]


@pytest.fixture(scope="module")
def lorentzian():
    x = np.linspace(0.0, 100.0, 300)
    truth = {"centre": [50.0], "fwhm": [8.0], "height": [1.0]}
    return datasets.synthetic_spectrum(
        x, truth, shape="lorentzian", baseline=(0.1, 0.0), noise_sd=0.005, seed=0
    ).spectrum


def test_fit_warnings_point_at_the_caller(lorentzian):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deconv.fit(lorentzian, 1, shape="gaussian", baseline="constant", method="map", key=0)
    _assert_at_this_file(caught, deconv.MisfitWarning)


def test_free_energy_warnings_point_at_the_caller(lorentzian):
    sampler = {"n_warmup": 10, "n_samples": 10, "n_independent": 2, "n_temperatures": 2}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deconv.free_energy(
            lorentzian, 1, shape="gaussian", baseline="constant", key=0, n_starts=4,
            compute_wbic=False, sampler=sampler,
        )  # fmt: skip
    _assert_at_this_file(caught, deconv.EvidenceWarning)


def test_property_warnings_point_at_the_caller():
    from gp_property.likelihood import property_log_likelihood

    rng = np.random.default_rng(0)
    features = rng.normal(size=(5, 6, 1))  # 5 draws, 6 samples, 1 feature: unrelated to t
    t = np.arange(6.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        property_log_likelihood(features, t, seed=0)
        property_log_likelihood(features, t, seed=0, policy="per_draw")
    ours = _ours(caught)
    assert {w.filename for w in ours} <= {HERE}, [(w.filename, w.lineno) for w in ours]


def test_select_series_warnings_point_at_the_caller(monkeypatch):
    from deconv import SpectrumSeries
    from gp_property import Candidate, select_series

    x = np.linspace(0.0, 10.0, 60)
    rows = [np.exp(-((x - 5.0) ** 2)) * (1.0 + 0.1 * i) + 0.01 * np.sin(3 * x) for i in range(3)]
    ids = ["a", "b", "c"]
    series = SpectrumSeries(
        x, np.array(rows), sample_ids=ids, properties=pd.DataFrame({"p": [1.0, 2, 3]}, ids)
    )

    def failing(settings, spectrum, seed, sampler, state):
        return outcomes._failure(settings, spectrum.name, "injected"), None

    monkeypatch.setattr(chunks, "_evidence_one", failing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        select_series(series, "p", [Candidate(1, "gaussian", "none")], progress=False)
    _assert_at_this_file(caught, deconv.EvidenceWarning)
