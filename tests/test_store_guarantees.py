"""The result store's guarantees: a rerun trusts a stored result only when it provably belongs
to the request (settings and data fingerprints); failed refits drop old results; one writer at
a time; unreadable, stale and stray files are named and redone; durable writes; results that do
not depend on chunking. Each numbered defect of the reliability issue has a test here, and the
crash-and-race suite kills and races real processes."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import datasets
from deconv import SpectrumSeries, batch
from deconv._arviz import az
from deconv.batch import chunks
from deconv.batch import settings as batch_settings
from deconv.io import write_series
from deconv.store import (
    DATA_FINGERPRINT,
    MAX_NAME_BYTES,
    RESULTS,
    SETTINGS,
    SETTINGS_FINGERPRINT,
    SUMMARY,
    ResultStore,
)

N_SPECTRA, CHUNK = 8, 4
MODEL = {"shape": "gaussian", "baseline": "linear"}
LABEL = "K2_gaussian_linear_normal_map"
X = np.linspace(20.0, 80.0, 120)
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}


def _spectra(shift: float = 0.0) -> np.ndarray:
    rows = []
    for i in range(N_SPECTRA):
        truth = {
            "centre": [40.0, 55.0 + shift],
            "fwhm": [8.0, 6.0],
            "height": [1.0, 0.3 + 0.05 * i],
        }
        rows.append(
            datasets.synthetic_spectrum(
                X, truth, shape="gaussian", baseline=(0.2, 0.004), noise_sd=0.01, seed=i
            ).spectrum.y
        )
    return np.stack(rows)


IDS = [f"s{i:02d}" for i in range(N_SPECTRA)]


@pytest.fixture(scope="module")
def series():
    return SpectrumSeries(X, _spectra(), sample_ids=IDS)


@pytest.fixture(scope="module")
def reference(series, tmp_path_factory):
    """An uninterrupted run: (result, folder)."""
    out = tmp_path_factory.mktemp("reference")
    result = batch.fit_series(series, 2, **MODEL, chunk_size=CHUNK, out=out, progress=False)
    assert result.counts == {"done": N_SPECTRA, "failed": 0, "skipped": 0}
    return result, out


def _run(series, out, **options):
    options = {**MODEL, "chunk_size": CHUNK, "out": out, "progress": False, **options}
    return batch.fit_series(series, 2, **options)


def _copy(folder: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(folder, to)
    return to


def _groups(path: Path) -> dict:
    """A result file's groups, without the spectrum's metadata (a series read from a file
    carries its path, the in-memory reference none)."""
    idata = az.from_netcdf(path)
    groups = {group: getattr(idata, group).load() for group in idata.groups()}
    groups["observed_data"].attrs.pop("specbayes_spectrum_metadata", None)
    return groups


def _same_files(folder: Path, other: Path) -> None:
    names = sorted(p.name for p in (other / RESULTS).glob("*.nc"))
    assert names == sorted(p.name for p in (folder / RESULTS).glob("*.nc"))
    for name in names:
        ours, theirs = _groups(folder / RESULTS / name), _groups(other / RESULTS / name)
        assert ours.keys() == theirs.keys()
        for group, data in ours.items():
            assert data.identical(theirs[group]), f"{name}: {group}"


def _fingerprints(folder: Path) -> set[str]:
    store = ResultStore(folder, LABEL)
    return {store.load_row(i)[SETTINGS_FINGERPRINT] for i in IDS if store.has(i)}


class _Interrupt(BaseException):
    """Stands in for Ctrl-C / a kill inside a run (tests that need a real kill use SIGKILL)."""


def _interrupt_after(monkeypatch, n_saves: int) -> None:
    save, count = ResultStore.save, {"n": 0}

    def saving(self, sample_id, idata, row, metadata=None):
        if count["n"] == n_saves:
            raise _Interrupt
        count["n"] += 1
        return save(self, sample_id, idata, row, metadata)

    monkeypatch.setattr(ResultStore, "save", saving)


# ---------------------------------------------------------------------------------------------
# the numbered defects


def test_1_an_interrupted_force_run_is_never_labelled_as_the_new_settings(
    reference, series, tmp_path, monkeypatch
):
    _, folder = reference
    out = _copy(folder, tmp_path / "store")
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 3)
        with pytest.raises(_Interrupt):
            _run(series, out, sigma=0.05, force=True)
    assert len(_fingerprints(out)) == 2  # three new results beside five old ones
    resumed = _run(series, out, sigma=0.05)
    assert resumed.counts == {"done": 5, "failed": 0, "skipped": 3}
    assert set(resumed.recomputed.values()) == {"stored result was computed with other settings"}
    assert len(_fingerprints(out)) == 1
    store = ResultStore(out, LABEL)
    assert "sigma" in ResultStore(folder, LABEL).load("s07").posterior  # inferred before
    assert not any("sigma" in store.load(i).posterior for i in IDS)  # known sigma: none left
    with pytest.raises(ValueError, match=r"these differ: sigma"):
        _run(series, out)  # the old settings are no longer what the folder holds


def test_2_a_refit_that_fails_removes_the_old_result(reference, series, tmp_path, monkeypatch):
    _, folder = reference
    out = _copy(folder, tmp_path / "store")
    solve = chunks._solve_lanes

    def fragile(lanes, width):
        if any(lane.spectrum.name == "s05" for lane in lanes):
            raise FloatingPointError("injected")
        return solve(lanes, width)

    with monkeypatch.context() as patch:
        patch.setattr(chunks, "_solve_lanes", fragile)
        forced = _run(series, out, force=True)
    assert forced.counts == {"done": 7, "failed": 1, "skipped": 0}
    store = ResultStore(out, LABEL)
    assert not store.has("s05")
    assert list(pd.read_csv(out / "failures.csv")["sample_id"]) == ["s05"]
    assert "s05" not in store.finished_ids()
    rerun = _run(series, out)  # the plain rerun recomputes it instead of reporting old numbers
    assert rerun.counts == {"done": 1, "failed": 0, "skipped": 7}
    assert pd.read_csv(out / "failures.csv").empty
    _same_files(out, folder)


def test_4_edited_data_are_noticed_and_refitted(reference, series, tmp_path):
    _, folder = reference
    out = _copy(folder, tmp_path / "store")
    y = series.y.copy()
    y[3] += 0.02 * np.sin(X / 3.0)
    edited = SpectrumSeries(X, y, sample_ids=IDS)
    result = _run(edited, out)
    assert result.counts == {"done": 1, "failed": 0, "skipped": 7}
    assert result.recomputed == {"s03": "stored result was computed on other data"}
    stored = ResultStore(out, LABEL).load("s03").observed_data["y"].to_numpy()
    np.testing.assert_array_equal(stored, y[3])
    assert "recomputed 1 stored results (1 stored result was computed on other data)" in (
        result.message
    )


def test_9_unreadable_results_are_named_and_redone(reference, series, tmp_path):
    _, folder = reference
    out = _copy(folder, tmp_path / "store")
    store = ResultStore(out, LABEL)
    store.path("s01").write_bytes(store.path("s01").read_bytes()[:100])  # truncated
    store.path("s06").write_bytes(b"")  # empty
    assert set(store.unusable()) == {"s01", "s06"}
    assert str(store.path("s01")) in store.unusable()["s01"]
    assert store.finished_ids() == [i for i in IDS if i not in ("s01", "s06")]
    with pytest.raises(ValueError, match=r"result file .*s06__\S+\.nc must be a readable result"):
        store.load_row("s06")
    result = _run(series, out)
    assert result.counts == {"done": 2, "failed": 0, "skipped": 6}
    assert sorted(result.recomputed) == ["s01", "s06"]
    assert all(r.startswith("unreadable stored result") for r in result.recomputed.values())
    _same_files(out, folder)


def test_9_long_sample_ids_get_short_unique_file_names(series, tmp_path):
    long_a, long_b = "a" * 300 + "1", "a" * 300 + "2"
    items = [(long_a, X, series.y[0]), (long_b, X, series.y[1]), ("short", X, series.y[2])]
    result = batch.fit_series(items, 2, **MODEL, out=tmp_path, progress=False)
    assert result.counts == {"done": 3, "failed": 0, "skipped": 0}
    store = ResultStore(tmp_path, LABEL)
    names = [store.path(i).name for i in (long_a, long_b)]
    assert names[0] != names[1]
    assert all(len(name.encode()) <= MAX_NAME_BYTES for name in names)
    assert store.path("short").name == f"short__{LABEL}.nc"  # short names as before
    again = batch.fit_series(items, 2, **MODEL, out=tmp_path, progress=False)
    assert again.counts == {"done": 0, "failed": 0, "skipped": 3}


def test_11_results_do_not_depend_on_chunk_size_or_order(reference, series):
    result, _ = reference
    expected = result.summary.set_index("sample_id")
    columns = [c for c in expected if c.startswith(("centre", "fwhm", "height", "area"))]
    for chunk_size, order in ((1, IDS), (3, IDS[::-1]), (N_SPECTRA, IDS[::-1])):
        reordered = SpectrumSeries(X, np.stack([series[i].y for i in order]), sample_ids=order)
        ours = batch.fit_series(reordered, 2, **MODEL, chunk_size=chunk_size, progress=False)
        table = ours.summary.set_index("sample_id").loc[IDS]
        assert table["converged"].all()
        np.testing.assert_allclose(table["objective"], expected["objective"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(table[columns], expected[columns], rtol=1e-8)


def test_11_chunk_size_is_recorded_where_it_matters():
    fixed = {"n_temperatures": 8, "reference": "prior"}
    warm = batch_settings._settings(2, "gaussian", "linear", "evidence", {"sampler": fixed})
    cold = batch_settings._settings(2, "gaussian", "linear", "evidence", {"warm_start": False})
    cold_fixed = {"warm_start": False, "sampler": fixed}
    independent = batch_settings._settings(2, "gaussian", "linear", "evidence", cold_fixed)
    mapped = batch_settings._settings(2, "gaussian", "linear", "map", {})
    assert warm.describe(0, 16)["chunk_size"] == 16  # warm starts from the spectrum before
    assert cold.describe(0, 16)["chunk_size"] == 16  # the chunk's first run sizes the ladder
    assert "chunk_size" not in independent.describe(0, 16)
    assert "chunk_size" not in mapped.describe(0, 16)


def test_12_stray_temporary_files_are_removed(reference, series, tmp_path):
    _, folder = reference
    out = _copy(folder, tmp_path / "store")
    strays = [out / RESULTS / f".s00__{LABEL}.nc.x1y2z3.tmp", out / f".{SUMMARY}.abcd.tmp"]
    for stray in strays:
        stray.write_bytes(b"half a file")
    keep = out / RESULTS / "notes.tmp"  # not ours: no leading dot
    keep.write_text("mine")
    result = _run(series, out)
    assert result.counts == {"done": 0, "failed": 0, "skipped": N_SPECTRA}
    assert not any(stray.exists() for stray in strays)
    assert keep.read_text() == "mine"


def test_fingerprints_are_in_every_row_and_file(reference, series):
    _, folder = reference
    summary = pd.read_csv(folder / SUMMARY)
    assert summary[SETTINGS_FINGERPRINT].nunique() == 1
    recorded = json.loads((folder / SETTINGS).read_text())[LABEL]
    store = ResultStore(folder, LABEL)
    assert summary[SETTINGS_FINGERPRINT].iloc[0] == store.recorded_fingerprint()
    assert recorded["model"] == LABEL
    from deconv.store import data_fingerprint

    row = store.load_row("s04")
    assert row[DATA_FINGERPRINT] == data_fingerprint(series["s04"])
    assert row[DATA_FINGERPRINT] != data_fingerprint(series["s05"])


def test_writes_are_flushed_before_the_rename(tmp_path, monkeypatch):
    from deconv import _files

    calls = []
    fsync = os.fsync
    monkeypatch.setattr(_files.os, "fsync", lambda fd: calls.append(fd) or fsync(fd))
    renames = []
    replace = os.replace
    monkeypatch.setattr(
        _files.os, "replace", lambda a, b: renames.append(len(calls)) or replace(a, b)
    )
    _files.atomic_write(tmp_path / "a.bin", lambda p: Path(p).write_bytes(b"data"))
    assert renames == [1]  # the file's fsync came before the rename
    assert len(calls) == 2  # and the folder's after it
    assert (tmp_path / "a.bin").read_bytes() == b"data"


def test_a_write_error_of_the_netcdf_library_becomes_an_oserror(tmp_path, monkeypatch):
    from deconv import store as store_module

    def full(path, write):
        raise RuntimeError("NetCDF: HDF error: No space left on device")

    monkeypatch.setattr(store_module, "atomic_write", full)
    store = ResultStore(tmp_path, LABEL)
    with pytest.raises(OSError, match="could not write a result file") as raised:
        store.save("s00", az.from_dict(posterior={"a": np.zeros((1, 2))}), {"a": 1})
    assert raised.value.errno == errno.ENOSPC


# ---------------------------------------------------------------------------------------------
# crash and race: real processes


KILLABLE = """
import sys, time
import deconv.store
from deconv import batch
from deconv.io import read_series

save = deconv.store.ResultStore.save

def slow_save(self, sample_id, idata, row, metadata=None):
    time.sleep(0.15)  # widens the window in which a kill lands mid-run
    return save(self, sample_id, idata, row, metadata)

deconv.store.ResultStore.save = slow_save
batch.fit_series(read_series(sys.argv[1]), 2, shape="gaussian", baseline="linear",
                 chunk_size=int(sys.argv[3]), out=sys.argv[2], key=int(sys.argv[4]),
                 progress=False)
print("finished", flush=True)
"""


def _script(tmp_path: Path) -> Path:
    script = tmp_path / "killable.py"
    script.write_text(textwrap.dedent(KILLABLE))
    return script


def _start(script, table, out, *, chunk=2, key=0):
    command = [sys.executable, str(script), str(table), str(out), str(chunk), str(key)]
    return subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_first_result(out: Path, process, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not list(out.glob(f"{RESULTS}/*.nc")):
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "the batch never wrote a result"
        time.sleep(0.02)


def test_sigkill_at_random_moments_loses_nothing_and_trusts_nothing_stale(
    reference, series, tmp_path
):
    _, folder = reference
    table = tmp_path / "series.csv"
    write_series(series, table)
    script = _script(tmp_path)
    rng = np.random.default_rng(20261203)
    for trial, delay in enumerate(rng.uniform(0.0, 1.0, size=3)):
        out = tmp_path / f"killed{trial}"
        process = _start(script, table, out)
        _wait_for_first_result(out, process)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        finished = {p.name: p.stat().st_mtime_ns for p in (out / RESULTS).glob("*.nc")}
        assert 1 <= len(finished) < N_SPECTRA, f"trial {trial}: the kill missed the run"
        resumed = _run(series, out)
        assert resumed.counts["skipped"] == len(finished)
        assert resumed.counts["done"] == N_SPECTRA - len(finished)
        assert not resumed.recomputed  # nothing stale or half-written was there to trust
        kept = {p.name: p.stat().st_mtime_ns for p in (out / RESULTS).glob("*.nc")}
        assert {name: kept[name] for name in finished} == finished  # not recomputed
        assert (out / SUMMARY).read_text() == (folder / SUMMARY).read_text()
        _same_files(out, folder)
        assert not list(out.rglob(".*.tmp"))


HOLDER = """
import sys, time
from pathlib import Path
from deconv.batch import settings as batch_settings
from deconv.store import ResultStore

settings = batch_settings._settings(2, "gaussian", "linear", "map", {})
with ResultStore(sys.argv[1], settings.label).writing(settings.describe(0), force=False):
    print("locked", flush=True)
    while not Path(sys.argv[2]).exists():
        time.sleep(0.02)
"""


def test_a_second_writer_is_refused_and_told_who_holds_the_folder(series, tmp_path):
    script = tmp_path / "holder.py"
    script.write_text(textwrap.dedent(HOLDER))
    out, release = tmp_path / "store", tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, str(script), str(out), str(release)], env=ENV, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().decode().strip() == "locked"
        pid = f"pid {holder.pid}, model {LABEL}"
        with pytest.raises(ValueError, match=rf"in use by another specbayes run \({pid}, other"):
            _run(series, out, key=1)
        with pytest.raises(ValueError, match=rf"\({pid}, the same settings\)"):
            _run(series, out)
        assert not (out / RESULTS).exists()  # nothing was fitted or written
    finally:
        release.touch()
        holder.wait(timeout=60)
    assert _run(series, out).counts["done"] == N_SPECTRA  # the lock went with its holder


def test_two_concurrent_runs_with_different_seeds_never_mix(series, tmp_path):
    table, out = tmp_path / "series.csv", tmp_path / "store"
    write_series(series, table)
    script = _script(tmp_path)
    runs = [_start(script, table, out, chunk=N_SPECTRA, key=key) for key in (0, 1)]
    outputs = [run.communicate(timeout=300) for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes[0] == 0 and codes[1] != 0, [o[1].decode()[-500:] for o in outputs]
    refused = next(o[1].decode() for o, r in zip(outputs, runs, strict=True) if r.returncode)
    # refused by the lock while the other runs, or by the recorded settings if it came after
    assert "in use by another specbayes run" in refused or "these differ: key" in refused
    assert len(_fingerprints(out)) == 1
    assert ResultStore(out, LABEL).finished_ids() == IDS


@pytest.fixture
def small_disk(tmp_path):
    """A 192 KiB tmpfs (root only); skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_with_an_oserror_and_leaves_only_whole_files(series, small_disk):
    out = small_disk / "store"
    with pytest.raises(OSError) as raised:
        _run(series, out)
    assert raised.value.errno == errno.ENOSPC
    assert not list(out.rglob(".*.tmp"))
    store = ResultStore(out, LABEL)
    written = [i for i in IDS if store.has(i)]
    assert written and len(written) < N_SPECTRA
    for sample_id in written:  # every file under a final name is whole
        assert store.load_row(sample_id)[SETTINGS_FINGERPRINT]


def test_9_a_nan_row_of_a_series_is_one_failure_not_a_stopped_batch(reference, series, tmp_path):
    result, _ = reference
    y = series.y.copy()
    y[2, 17] = np.nan
    damaged = SpectrumSeries(X, y, sample_ids=IDS, invalid="record")
    assert list(damaged.rejected) == ["s02"]
    ours = _run(damaged, tmp_path / "out")
    assert ours.counts == {"done": N_SPECTRA - 1, "failed": 1, "skipped": 0}
    reason = ours.failures.set_index("sample_id").loc["s02", "reason"]
    assert "must be finite" in reason
    assert ours.summary["sample_id"].tolist()[-1] == "s02"  # recorded, after the valid rows
    expected = result.summary.set_index("sample_id").drop("s02")["objective"]
    done = ours.summary.set_index("sample_id").drop("s02")["objective"]
    np.testing.assert_array_equal(done.loc[expected.index], expected)


def test_9_cli_a_nan_cell_in_a_wide_table_fails_that_sample_only(series, tmp_path, capsys):
    from specbayes import cli

    table, out = tmp_path / "series.csv", tmp_path / "out"
    write_series(series, table)
    lines = table.read_text().splitlines()  # one row per sample: id, then y on the axis
    row = next(i for i, line in enumerate(lines) if line.startswith("s05,"))
    cells = lines[row].split(",")
    cells[10] = "nan"
    lines[row] = ",".join(cells)
    table.write_text("\n".join(lines) + "\n")
    argv = ["batch", str(table), "--peaks", "2", "--shape", "gaussian", "--baseline", "linear"]
    argv += ["--chunk-size", str(CHUNK), "--out", str(out)]
    assert cli.main(argv) == 1  # some spectra failed
    printed = capsys.readouterr().out
    assert "done 7, failed 1, skipped 0" in printed
    assert "failed: s05:" in printed and str(table) in printed
    assert list(pd.read_csv(out / "failures.csv")["sample_id"]) == ["s05"]


def test_cli_a_full_disk_is_one_line_and_exit_4(series, small_disk, tmp_path, capsys):
    from specbayes import cli

    table = tmp_path / "series.csv"
    write_series(series, table)
    argv = ["batch", str(table), "--peaks", "2", "--shape", "gaussian", "--baseline", "linear"]
    assert cli.main([*argv, "--out", str(small_disk / "out")]) == 4
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, error
    assert "could not write results" in error[0] and "No space left on device" in error[0]
