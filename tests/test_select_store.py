"""deconv.select keeps every finished candidate in a result folder: interrupted after two of
four candidates, a rerun computes only the other two, and its table equals an uninterrupted
run's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import datasets
from deconv import selection
from deconv.store import RESULTS, ResultStore

SAMPLER = {"n_warmup": 100, "n_samples": 200, "n_independent": 2}
OPTIONS = {
    "n_peaks": (1, 2), "shapes": ("gaussian", "lorentzian"), "baselines": "none",
    "sigma": 0.02, "key": 3, "n_starts": 8, "compute_wbic": False, "sampler": SAMPLER,
    "progress": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def spectrum():
    x = np.linspace(0.0, 10.0, 90)
    truth = {"centre": [4.0, 6.0], "fwhm": [1.2, 1.0], "height": [1.0, 0.6]}
    return datasets.synthetic_spectrum(x, truth, shape="gaussian", noise_sd=0.02, seed=1).spectrum


@pytest.fixture(scope="module")
def uninterrupted(spectrum):
    return selection.select(spectrum, **OPTIONS)


class _Killed(BaseException):
    pass


def test_an_interrupted_select_resumes_and_computes_only_the_rest(
    spectrum, uninterrupted, tmp_path, monkeypatch
):
    out = tmp_path / "select"
    begun = []
    begin = selection._begin_free_energy

    def counting(problem, **kwargs):
        begun.append(problem.model.label)
        return begin(problem, **kwargs)

    save, saved = ResultStore.save, []

    def dying(self, sample_id, idata, row, metadata=None):
        if len(saved) == 2:
            raise _Killed  # the third candidate finishes, and the process dies writing it
        saved.append(self.label)
        return save(self, sample_id, idata, row, metadata)

    monkeypatch.setattr(selection, "_begin_free_energy", counting)
    with monkeypatch.context() as patch:
        patch.setattr(ResultStore, "save", dying)
        with pytest.raises(_Killed):
            selection.select(spectrum, **OPTIONS, out=out)
    assert len(list((out / RESULTS).glob("*.nc"))) == 2
    begun.clear()
    resumed = selection.select(spectrum, **OPTIONS, out=out)
    assert len(begun) == 2 and set(begun).isdisjoint(
        label.replace("_", " ") for label in saved
    )  # only the two candidates without a stored result
    columns = ["model", "n_peaks", "shape", "F", "F_se", "delta_F", "probability"]
    pd.testing.assert_frame_equal(resumed.table[columns], uninterrupted.table[columns])
    begun.clear()
    again = selection.select(spectrum, **OPTIONS, out=out)
    assert begun == []  # everything read back
    pd.testing.assert_frame_equal(again.table[columns], uninterrupted.table[columns])
    best = again.best_fit.peak_table["centre"].to_numpy()
    np.testing.assert_allclose(best, uninterrupted.best_fit.peak_table["centre"], rtol=1e-10)
    other = selection.select(spectrum, **{**OPTIONS, "key": 4}, out=tmp_path / "other")
    assert not np.array_equal(other.table["F"], again.table["F"])  # another key: recomputed


def test_select_notes_when_f_is_still_falling_at_the_largest_k(uninterrupted):
    table = uninterrupted.table
    best = table.iloc[0]
    assert best["n_peaks"] == 2  # the data hold two peaks: the largest K tried wins
    assert uninterrupted.note.startswith("F is still falling at the largest K tried")
    assert "misfit" in table and not bool(best["misfit"])
