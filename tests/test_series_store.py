"""select_series on the batch machinery: its free energies are the batch's, it keeps every
finished sample in a result store, resumes after SIGKILL without redoing anything, runs on a
Dask LocalCluster with identical results, and survives a sample whose free energy fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import datasets
from deconv import SpectrumSeries, batch
from deconv.batch import chunks, outcomes
from deconv.batch import run as batch_run
from deconv.exceptions import EvidenceWarning
from deconv.io import write_series
from deconv.store import RESULTS
from gp_property import Candidate, select_series
from gp_property import selector as gp_selector

# a ladder and a path fixed in advance: cold runs then do not depend on their chunk, so an
# interrupted and resumed selection equals an uninterrupted one bit for bit
SAMPLER = {"n_warmup": 150, "n_samples": 300, "n_independent": 2, "n_temperatures": 8}
SAMPLER["reference"] = "prior"
SETTINGS = {"sigma": 0.02, "sampler": SAMPLER, "n_starts": 16, "warm_start": False}
CANDIDATES = [Candidate(1, "gaussian", "none"), Candidate(2, "gaussian", "none")]
X = np.linspace(0.0, 10.0, 80)
IDS = ["s0", "s1", "s2", "s3"]


@pytest.fixture(scope="module")
def series():
    heights = np.array([0.4, 0.8, 1.2, 1.6])
    rows = []
    for i, h in enumerate(heights):
        peaks = {"centre": [4.0, 6.5], "fwhm": [1.2, 1.0], "height": [1.0, h]}
        rows.append(
            datasets.synthetic_spectrum(
                X, peaks, shape="gaussian", noise_sd=0.02, seed=i
            ).spectrum.y
        )
    properties = pd.DataFrame({"rate": 0.5 * heights + 0.1}, index=IDS)
    return SpectrumSeries(X, np.array(rows), sample_ids=IDS, properties=properties)


def _select(series, **options):
    with threadpool_limits(1):
        return select_series(
            series, "rate", CANDIDATES, key=0, progress=False, **{**SETTINGS, **options}
        )


@pytest.fixture(scope="module")
def reference(series, tmp_path_factory):
    out = tmp_path_factory.mktemp("selection")
    return _select(series, out=out), out


def test_the_free_energies_are_the_batch_route_s(reference, series):
    selection, _ = reference
    label = "K=2 gaussian + none"
    result = batch.fit_series(
        series, 2, shape="gaussian", baseline="none", method="evidence", key=0,
        chunk_size=len(series), progress=False, **SETTINGS,
    )  # fmt: skip
    routed = [e.free_energy for e in selection.evidences[label]]
    np.testing.assert_array_equal(routed, result.summary["free_energy"].to_numpy())
    row = selection.table.set_index("model").loc[label]
    assert row["sum_F"] == pytest.approx(result.summary["free_energy"].sum(), rel=1e-15)
    assert selection.chosen == label


def test_the_default_number_of_starts_is_the_library_s():
    import inspect

    from deconv.selection import EVIDENCE_STARTS

    default = inspect.signature(select_series).parameters["n_starts"].default
    assert default == gp_selector.EVIDENCE_STARTS == EVIDENCE_STARTS


KILLED = """
import sys, time
import numpy as np, pandas as pd
import deconv.store
from deconv.io import read_series
from gp_property import Candidate, select_series

save = deconv.store.ResultStore.save

def slow_save(self, sample_id, idata, row, metadata=None):
    time.sleep(0.3)  # a wider window for the kill
    return save(self, sample_id, idata, row, metadata)

deconv.store.ResultStore.save = slow_save
series = read_series(sys.argv[1])
sampler = {SAMPLER}
rate = 0.5 * np.array([0.4, 0.8, 1.2, 1.6]) + 0.1
select_series(series, rate, [Candidate(1, "gaussian", "none"), Candidate(2, "gaussian", "none")],
              key=0, progress=False, out=sys.argv[2], sigma=0.02, sampler=sampler,
              n_starts=16, warm_start=False)
"""


def test_sigkill_mid_series_loses_and_redoes_nothing(reference, series, tmp_path):
    selection, _ = reference
    table, out = tmp_path / "series.csv", tmp_path / "killed"
    write_series(series, table)
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(KILLED).replace("{SAMPLER}", repr(SAMPLER)))
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    process = subprocess.Popen(
        [sys.executable, str(script), str(table), str(out)], env=env, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while len(list(out.glob(f"{RESULTS}/*.nc"))) < 3:  # mid-way through the first candidate
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(float(np.random.default_rng(7).uniform(0.0, 0.3)))
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    before = {p.name: p.stat().st_mtime_ns for p in (out / RESULTS).glob("*.nc")}
    assert 3 <= len(before) < len(IDS) * len(CANDIDATES)
    resumed = _select(series, out=out)
    after = {p.name: p.stat().st_mtime_ns for p in (out / RESULTS).glob("*.nc")}
    assert len(after) == len(IDS) * len(CANDIDATES)
    assert {name: after[name] for name in before} == before  # nothing redone
    pd.testing.assert_frame_equal(resumed.table, selection.table)  # nothing lost or changed


def test_a_rerun_on_a_finished_folder_computes_nothing(reference, series, monkeypatch):
    selection, out = reference
    monkeypatch.setattr(batch_run, "_run_chunk", lambda task: pytest.fail("recomputed"))
    again = _select(series, out=out)
    pd.testing.assert_frame_equal(again.table, selection.table)


def test_dask_local_cluster_gives_identical_results(reference, series):
    distributed = pytest.importorskip("distributed")
    selection, _ = reference
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = _select(series, executor=client, chunk_size=2)
    pd.testing.assert_frame_equal(remote.table, selection.table)


def test_a_failing_sample_fails_its_candidate_not_the_selection(reference, series, monkeypatch):
    selection, _ = reference
    one = chunks._evidence_one

    def fragile(settings, spectrum, seed, sampler, state):
        if settings.n_peaks == 1 and spectrum.name == "s2":  # the estimator fails here
            return outcomes._failure(settings, spectrum.name, FloatingPointError("injected")), None
        return one(settings, spectrum, seed, sampler, state)

    monkeypatch.setattr(chunks, "_evidence_one", fragile)
    with pytest.warns(EvidenceWarning, match=r"K=1 gaussian \+ none: .* 1 sample\(s\) failed"):
        damaged = _select(series)
    assert damaged.failures == {"K=1 gaussian + none": {"s2": "FloatingPointError: injected"}}
    table = damaged.table.set_index("model")
    assert np.isnan(table.loc["K=1 gaussian + none", "F_total"])
    assert damaged.chosen == "K=2 gaussian + none"
    expected = selection.table.set_index("model").loc["K=2 gaussian + none", "F_total"]
    assert table.loc["K=2 gaussian + none", "F_total"] == expected
