"""Every example runs with small settings and gives the expected answer."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from deconv import EvidenceWarning

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fit_ir_spectrum_example(tmp_path):
    fit = _load("fit_ir_spectrum").main(["--quick", "--out", str(tmp_path / "fit.png")])
    np.testing.assert_allclose(fit.peak_table["centre"], [1718.0, 1757.0, 1784.0], atol=0.5)
    assert (tmp_path / "fit.png").stat().st_size > 10_000


@pytest.mark.slow  # long; test_selection and test_cli select Nagata K = 2-3 in the default suite
def test_compare_models_example_prefers_three_peaks(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvidenceWarning)  # short runs: se may exceed 0.3
        selection = _load("compare_models").main(["--quick", "--out", str(tmp_path / "c.png")])
    assert int(selection.table["n_peaks"].iloc[0]) == 3
    assert selection.table["delta_F"].iloc[1] > 10
    assert (tmp_path / "c.png").stat().st_size > 10_000


@pytest.mark.slow  # two minutes; test_io reads this series and test_selector runs the workflow
def test_co_adsorption_example_on_the_real_series(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("SPECBAYES_SHARED_DATA", str(shared_data))
    example = _load("co_adsorption")
    series, log_pressure = example.load_series(step=4, samples=[4, 5, 6], source_pressures=False)
    np.testing.assert_allclose(10**log_pressure, [0.021, 0.026, 0.036])  # the typo corrected
    assert series.x.min() >= 2040 and series.x.max() <= 2240 and series.descending
    selection = example.main(["--quick", "--out", str(tmp_path)])
    table = selection.table.set_index("n_peaks")
    # the three CO bands: K = 3 explains the spectra better than K = 2 by ~36 nat over these
    # four coarse spectra (per spectrum 4.6-13.5; hundreds of nats at full resolution)
    assert table.loc[2, "sum_F"] - table.loc[3, "sum_F"] > 20
    assert np.isfinite(table["F_total"]).all() and selection.chosen.startswith("K=3")
    assert (tmp_path / "co_selection.csv").is_file()
    assert (tmp_path / "co_selection.png").stat().st_size > 10_000


def test_xps_counts_example_reads_whole_counts_in_its_window(shared_data, monkeypatch):
    monkeypatch.setenv("SPECBAYES_SHARED_DATA", str(shared_data))
    spectrum = _load("xps_counts").load_counts()
    assert spectrum.n_points == 131 and spectrum.descending  # 292 -> 279 eV, 0.1 eV steps
    assert spectrum.x.min() == pytest.approx(279.0) and spectrum.x.max() == pytest.approx(292.0)
    np.testing.assert_array_equal(spectrum.y, np.round(spectrum.y))  # counts, as Poisson needs
    assert (spectrum.y.min(), spectrum.y.max()) == (435, 9359)


@pytest.mark.slow  # six MAP fits with a custom baseline: several minutes
def test_xps_counts_example_quick_prefers_a_step_background(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("SPECBAYES_SHARED_DATA", str(shared_data))
    fits = _load("xps_counts").main(["--quick", "--out", str(tmp_path / "x.png")])
    # a straight line cannot follow the step: two peaks on it misfit, on the step they do not
    assert fits["K=2 pseudo_voigt + linear"].misfit.misfit
    assert not fits["K=2 pseudo_voigt + step"].misfit.misfit
    centres = fits["K=2 pseudo_voigt + step"].peak_table["centre"]
    np.testing.assert_allclose(sorted(centres), [284.44, 285.42], atol=0.2)
    assert (tmp_path / "x.png").stat().st_size > 10_000


@pytest.mark.slow  # NUTS with a spline plus a MAP, about two minutes
def test_spline_background_example_recovers_the_peaks(tmp_path):
    outcome = _load("spline_background").main(["--out", str(tmp_path / "s.png"), "--draws", "200"])
    table, truth = outcome["spline"].peak_table, outcome["truth"].peaks
    z = (table["centre"].to_numpy() - truth["centre"].to_numpy()) / table["centre_sd"]
    assert np.all(np.abs(z) < 3.0), z
    assert (tmp_path / "s.png").is_file()


@pytest.mark.slow  # ~4 min: both of the seed paper's series, short runs
def test_paper_experiments_example_shows_the_pseudo_peak(tmp_path):
    results = _load("paper_experiments").main(["--quick", "--out", str(tmp_path / "p.png")])
    table = results["background"]["ours"].table.set_index("n_peaks")
    # after AsLS the spectra take the pseudo-peak K = 3 by hundreds of nats (370-570 over the
    # study's 10 seeds), whatever the property term says
    assert table.loc[2, "sum_F"] - table.loc[3, "sum_F"] > 100
    paper = results["noise"]["paper"].table
    assert np.isfinite(paper[["neg_log_L_prop", "neg_log_L_prop_se"]].to_numpy()).all()
    assert (tmp_path / "p.png").stat().st_size > 10_000
