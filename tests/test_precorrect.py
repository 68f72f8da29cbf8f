"""Baseline pre-correction through pybaselines (deconv.precorrect)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pybaselines
import pytest

from deconv import Spectrum, SpectrumSeries
from deconv.precorrect import PAPER_ASLS, baseline_methods, subtract_baseline

X = np.linspace(3.0, 7.0, 600)


def _rows(n_rows: int, seed: int = 0) -> np.ndarray:
    """Two Gaussian peaks on a sigmoid background, plus noise of sd 0.01."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_rows):
        peaks = rng.uniform(0.1, 0.2) * np.exp(-((X - rng.uniform(3.5, 4.0)) ** 2) / 0.02)
        peaks += rng.uniform(0.1, 0.2) * np.exp(-((X - rng.uniform(5.5, 6.0)) ** 2) / 0.02)
        sigmoid = rng.uniform(0.15, 0.2) / (1 + np.exp(-rng.uniform(4, 6) * (X - 5.0)))
        rows.append(peaks + sigmoid + rng.normal(0.0, 0.01, X.size))
    return np.array(rows)


def _direct(y: np.ndarray, method: str = "asls", **keywords) -> np.ndarray:
    return getattr(pybaselines.Baseline(x_data=X), method)(y, **keywords)[0]


@pytest.fixture
def spectrum() -> Spectrum:
    return Spectrum(X, _rows(1)[0], sigma=np.full(X.size, 0.01), name="s1", x_unit="eV")


@pytest.fixture
def series() -> SpectrumSeries:
    ids = ["a", "b", "c", "d"]
    return SpectrumSeries(
        X[::-1],
        _rows(4, seed=1)[:, ::-1],
        sample_ids=ids,
        properties=pd.DataFrame({"delta": [1.0, 2.0, 3.0, 4.0]}, index=ids),
        sigma=np.full((4, X.size), 0.01),
        x_unit="cm^-1",
        metadata={"source": "test"},
    )


def test_asls_equals_pybaselines_for_a_spectrum(spectrum):
    corrected = subtract_baseline(spectrum, "asls", **PAPER_ASLS)
    expected = _direct(spectrum.y, lam=1e3, p=1e-4)
    assert np.max(np.abs(corrected.y - (spectrum.y - expected))) <= 1e-12
    recorded = np.asarray(corrected.metadata["baseline_subtracted"])
    assert np.max(np.abs(recorded - expected)) <= 1e-12
    assert np.ptp(expected) > 0.1  # the sigmoid (A >= 0.15) is what was removed
    assert isinstance(corrected, Spectrum)
    assert corrected.name == "s1" and corrected.x_unit == "eV"
    assert np.array_equal(corrected.x, spectrum.x) and np.array_equal(
        corrected.sigma, spectrum.sigma
    )


def test_asls_equals_pybaselines_for_every_row_of_a_series(series):
    corrected = subtract_baseline(series, "asls", **PAPER_ASLS)
    assert isinstance(corrected, SpectrumSeries)
    for index, sample_id in enumerate(series.sample_ids):
        expected = _direct(series.y[index], lam=1e3, p=1e-4)  # a fresh fitter per row
        assert np.max(np.abs(corrected.y[index] - (series.y[index] - expected))) <= 1e-12
        recorded = np.asarray(corrected.metadata["baseline_subtracted"][sample_id])
        assert np.max(np.abs(recorded - expected)) <= 1e-12
    assert corrected.sample_ids == series.sample_ids
    assert corrected.descending and series.descending
    assert corrected.x_unit == "cm^-1"
    pd.testing.assert_frame_equal(corrected.properties, series.properties)
    assert np.array_equal(corrected.sigma, series.sigma)
    assert np.array_equal(corrected.x, series.x)


def test_other_methods_pass_their_keywords_through(spectrum):
    corrected = subtract_baseline(spectrum, "modpoly", poly_order=3)
    expected = _direct(spectrum.y, "modpoly", poly_order=3)
    assert np.max(np.abs(corrected.y - (spectrum.y - expected))) <= 1e-12
    assert corrected.metadata["preprocessing"][-1]["keywords"] == {"poly_order": 3}


def test_metadata_records_method_keywords_and_version(spectrum, series):
    corrected = subtract_baseline(spectrum, "asls", lam=np.float64(1e3), p=1e-4, max_iter=30)
    step = {
        "step": "baseline",
        "library": "pybaselines",
        "version": pybaselines.__version__,
        "method": "asls",
        "keywords": {"lam": 1000.0, "p": 0.0001, "max_iter": 30},
    }
    assert corrected.metadata["preprocessing"] == [step]
    assert json.loads(json.dumps(corrected.metadata["preprocessing"])) == [step]
    assert type(corrected.metadata["preprocessing"][0]["keywords"]["lam"]) is float
    baseline = corrected.metadata["baseline_subtracted"]
    assert json.loads(json.dumps(baseline)) == baseline and len(baseline) == 600

    twice = subtract_baseline(subtract_baseline(series, **PAPER_ASLS), "snip", max_half_window=40)
    assert [s["method"] for s in twice.metadata["preprocessing"]] == ["asls", "snip"]
    assert twice.metadata["source"] == "test"
    total = np.array([twice.metadata["baseline_subtracted"][i] for i in series.sample_ids])
    assert np.max(np.abs(twice.y + total - series.y)) <= 1e-12  # the total is recorded


def test_unknown_method_raises_before_any_work(monkeypatch, spectrum):
    class NoWork(pybaselines.Baseline):
        def __init__(self, *args, **kwargs):
            raise AssertionError("a baseline was computed")

    monkeypatch.setattr(pybaselines, "Baseline", NoWork)
    with pytest.raises(ValueError, match=r"method must name a 1-D pybaselines.*asls.*'alss'"):
        subtract_baseline(spectrum, "alss")
    with pytest.raises(ValueError, match="method must"):
        subtract_baseline(spectrum, "collab_pls")  # 2-D only
    with pytest.raises(TypeError, match=r"keywords must be parameters of .*asls.*\['lamb'\]"):
        subtract_baseline(spectrum, "asls", lamb=1e3)
    with pytest.raises(TypeError, match="x_data must not be passed"):
        subtract_baseline(spectrum, "asls", x_data=X)
    with pytest.raises(TypeError, match=r"keywords.*be recordable as JSON"):
        subtract_baseline(spectrum, "asls", weights=object())
    with pytest.raises(TypeError, match="method must"):
        subtract_baseline(spectrum, 3)
    with pytest.raises(TypeError, match="data must be a Spectrum or a SpectrumSeries"):
        subtract_baseline(spectrum.y, "asls")


def test_inputs_are_unchanged(spectrum, series):
    before_y, before_meta = spectrum.y.copy(), copy.deepcopy(spectrum.metadata)
    series_y, series_meta = series.y.copy(), copy.deepcopy(series.metadata)
    keywords = dict(PAPER_ASLS)
    out = subtract_baseline(spectrum, **keywords)
    out_series = subtract_baseline(series, **keywords)
    assert out is not spectrum and out_series is not series
    assert np.array_equal(spectrum.y, before_y) and spectrum.metadata == before_meta
    assert np.array_equal(series.y, series_y) and series.metadata == series_meta
    assert "preprocessing" not in spectrum.metadata and "preprocessing" not in series.metadata
    assert keywords == {"lam": 1e3, "p": 1e-4} == dict(PAPER_ASLS)


def test_method_list():
    names = baseline_methods()
    assert "asls" in names and "snip" in names and "collab_pls" not in names
    assert "banded_solver" not in names  # a property, not a method
    assert names == tuple(sorted(names))


def test_the_step_survives_a_write_and_a_read_of_the_result_store(series, tmp_path):
    from deconv import batch
    from deconv.store import ResultStore

    corrected = subtract_baseline(series, "asls", **PAPER_ASLS)
    assert (
        corrected["b"].metadata["baseline_subtracted"]
        == (corrected.metadata["baseline_subtracted"]["b"])
    )  # each sample's Spectrum carries its own baseline
    result = batch.fit_series(
        corrected, 2, shape="gaussian", baseline="none", out=tmp_path, progress=False
    )
    assert result.counts["done"] == 4
    store = ResultStore(tmp_path, result.label)
    for sample_id in ("a", "d"):
        stored = store.load_fit(sample_id).spectrum.metadata
        assert stored["preprocessing"] == corrected.metadata["preprocessing"]
        np.testing.assert_array_equal(
            stored["baseline_subtracted"], corrected.metadata["baseline_subtracted"][sample_id]
        )
        assert stored["source"] == "test"
    assert store.load_fit("a").spectrum.metadata["preprocessing"][0]["method"] == "asls"


def test_the_batch_crops_and_corrects_every_spectrum_as_declared(series, tmp_path):
    import json as json_module

    from deconv import batch

    declared = batch.fit_series(
        series, 2, shape="gaussian", baseline="none", out=tmp_path, progress=False,
        crop=(3.2, None), precorrect=("asls", PAPER_ASLS),
    )  # fmt: skip
    by_hand = SpectrumSeries(
        series.x[series.x >= 3.2], series.y[:, series.x >= 3.2], sample_ids=series.sample_ids
    )
    by_hand = subtract_baseline(by_hand, "asls", **PAPER_ASLS)
    expected = batch.fit_series(by_hand, 2, shape="gaussian", baseline="none", progress=False)
    np.testing.assert_array_equal(declared.summary["objective"], expected.summary["objective"])
    recorded = json_module.loads((tmp_path / "settings.json").read_text())[declared.label]
    assert recorded["crop"] == [3.2, None]
    assert recorded["precorrect"] == {"method": "asls", "keywords": {"lam": 1000.0, "p": 0.0001}}
    with pytest.raises(ValueError, match="method must name a 1-D pybaselines"):
        batch.fit_series(series, 2, precorrect="no_such_method", progress=False)
    with pytest.raises(ValueError, match="crop must have lower < upper"):
        batch.fit_series(series, 2, crop=(5.0, 4.0), progress=False)
