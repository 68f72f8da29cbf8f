"""Every example runs with small settings and gives the expected answer."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np

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


def test_compare_models_example_prefers_three_peaks(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvidenceWarning)  # short runs: se may exceed 0.3
        selection = _load("compare_models").main(["--quick", "--out", str(tmp_path / "c.png")])
    assert int(selection.table["n_peaks"].iloc[0]) == 3
    assert selection.table["delta_F"].iloc[1] > 10
    assert (tmp_path / "c.png").stat().st_size > 10_000
