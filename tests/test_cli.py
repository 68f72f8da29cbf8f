"""The ``specbayes`` command, run through its entry point."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from specbayes import cli


def test_demo_writes_figure_table_report_and_posterior(tmp_path, capsys):
    out = tmp_path / "demo"
    code = cli.main(["demo", "--method", "map", "--out", str(out)])
    assert code == 0
    table = pd.read_csv(out / "peaks.csv", index_col="peak")
    np.testing.assert_allclose(table["centre"], [1718.0, 1757.0, 1784.0], atol=0.5)
    assert (out / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "K=3 pseudo_voigt + linear" in (out / "report.txt").read_text()
    assert (out / "posterior.nc").stat().st_size > 0
    assert "wrote" in capsys.readouterr().out


def test_fit_command_on_a_csv_file_with_crop(tmp_path):
    x = np.linspace(0.0, 10.0, 201)
    y = 2.0 * np.exp(-4 * np.log(2) * (x - 4.0) ** 2) + 0.01 * np.cos(7 * x)
    file = tmp_path / "peak.csv"
    pd.DataFrame({"x": x, "y": y}).to_csv(file, index=False)
    out = tmp_path / "result"
    code = cli.main(
        [
            "fit",
            str(file),
            "--peaks",
            "1",
            "--shape",
            "gaussian",
            "--baseline",
            "constant",
            "--method",
            "map",
            "--xmin",
            "1",
            "--xmax",
            "8",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_csv(out / "peaks.csv")
    assert table["centre"].iloc[0] == pytest.approx(4.0, abs=0.01)
    assert table["fwhm"].iloc[0] == pytest.approx(1.0, rel=0.02)


def test_user_mistakes_give_one_line_and_exit_code_2(tmp_path, capsys):
    assert cli.main(["fit", str(tmp_path / "missing.csv")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("specbayes fit: error:") and "missing.csv" in error
    assert "\n" not in error
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\n3,abc\n")
    assert cli.main(["fit", str(bad)]) == 2
    assert "line 2" in capsys.readouterr().err


def test_invalid_option_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["fit", "x.csv", "--shape", "triangle"])
    assert info.value.code == 2
    assert "invalid choice: 'triangle'" in capsys.readouterr().err


def test_console_script_help_runs_through_the_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "specbayes.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "demo" in result.stdout and "fit" in result.stdout


# ---------------------------------------------------------------------------------------------
# select, property, report


def _nagata_csv(folder):
    import datasets
    from deconv.io import write_spectrum

    return write_spectrum(datasets.nagata2012(0).spectrum, folder / "nagata.csv")


@pytest.mark.slow  # compile-bound; two lighter select tests below run by default
def test_select_on_nagata_picks_three_peaks_and_report_shows_the_table(tmp_path, capsys):
    out = tmp_path / "select"
    code = cli.main(
        [
            "select",
            str(_nagata_csv(tmp_path)),
            "--peaks",
            "2-3",
            "--shape",
            "gaussian",
            "--baseline",
            "none",
            "--samples",
            "100",
            "--warmup",
            "60",
            "--independent",
            "2",
            "--starts",
            "6",
            "--no-wbic",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_csv(out / "selection.csv")
    assert list(table.columns[:6]) == ["model", "n_peaks", "shape", "baseline", "F", "F_se"]
    assert {"delta_F", "probability", "WBIC", "swap_rate_min", "round_trips"} <= set(table)
    assert table["n_peaks"].tolist() == [3, 2]
    assert np.all(np.diff(table["F"]) > 0) and table["delta_F"].iloc[0] == 0.0
    assert table["delta_F"].iloc[1] > 20.0  # K=3 wins clearly on the benchmark
    peaks = pd.read_csv(out / "best_peaks.csv", index_col="peak")
    np.testing.assert_allclose(peaks["centre"], [1.210, 1.455, 1.703], atol=0.03)
    for figure in ("selection.png", "best_fit.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.txt").read_text()
    assert "chosen model: K=3 gaussian + none" in report
    printed = capsys.readouterr().out
    assert "chosen model: K=3 gaussian + none" in printed

    assert cli.main(["report", str(out)]) == 0
    markdown = (out / "report.md").read_text()
    assert "Chosen model: K=3 gaussian + none" in markdown
    assert f"{table['F'].iloc[0]:.6g}" in markdown and f"{table['F'].iloc[1]:.6g}" in markdown
    assert "![selection.png](selection.png)" in markdown
    assert "<table" in (out / "report.html").read_text()


def test_parse_peaks_accepts_counts_ranges_and_lists():
    assert cli.parse_peaks("3") == [3]
    assert cli.parse_peaks("1-5") == [1, 2, 3, 4, 5]
    assert cli.parse_peaks("1,2,4") == [1, 2, 4]
    assert cli.parse_peaks(" 4, 1-2 ") == [1, 2, 4]
    for bad in ("0", "3-1", "a", "1-", "", "1,,2", "2.5"):
        with pytest.raises(ValueError, match="--peaks must be a peak count"):
            cli.parse_peaks(bad)


def test_select_user_mistakes_give_one_line_and_exit_code_2(tmp_path, capsys):
    file = _nagata_csv(tmp_path)
    cases = [
        (["--peaks", "1-x"], "--peaks must be a peak count"),
        (["--peaks", "0"], "got '0'"),
        (["--shape", "gaussian,triangle"], "--shape must name only choices among"),
        (["--baseline", "wavy"], "got 'wavy'"),
        (["--samples", "0"], "--samples must be"),
        (["--reference", "posterior"], "--reference must be one of"),
    ]
    for extra, message in cases:
        assert cli.main(["select", str(file), *extra]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("specbayes select: error:") and message in error
        assert "\n" not in error
    assert cli.main(["select", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err


@pytest.fixture(scope="module")
def batch_store(tmp_path_factory):
    """A 6-sample weak-band series fitted by ``specbayes batch`` under K=1 and K=2 (MAP)."""
    import datasets
    from deconv.io import write_series

    folder = tmp_path_factory.mktemp("property")
    scenario = datasets.weak_band(0, n_samples=6, n_points=100)
    series_file = write_series(scenario.series, folder / "series.csv")
    table = scenario.series.properties.rename_axis("sample_id")
    table.to_csv(folder / "property.csv")
    store = folder / "store"
    for k in ("1", "2"):
        argv = ["batch", str(series_file), "--peaks", k, "--shape", "gaussian"]
        assert cli.main([*argv, "--baseline", "constant", "--out", str(store)]) == 0
    return store, folder / "property.csv", table["property"]


def test_property_matches_a_direct_call_of_property_log_likelihood(batch_store, capsys):
    from deconv.store import ResultStore
    from gp_property.likelihood import property_log_likelihood

    store, table_file, prop = batch_store
    argv = ["property", str(store), "--property", str(table_file), "--column", "property"]
    assert cli.main([*argv, "--no-progress"]) == 0
    assert "ranked by neg_log_L_prop" in capsys.readouterr().out
    result = pd.read_csv(store / "property.csv")
    assert sorted(result["model"]) == [
        "K1_gaussian_constant_normal_map",
        "K2_gaussian_constant_normal_map",
    ]
    assert (result["n_samples"] == 6).all() and (result["n_draws"] == 1).all()
    assert result["sum_F"].isna().all() and result["F_total"].isna().all()  # MAP: no F
    for row in result.itertuples():
        results = ResultStore(store, row.model)
        ids = results.finished_ids()
        assert ids == list(prop.index)
        areas = np.stack([results.load(i).posterior["area"].to_numpy() for i in ids], axis=2)
        areas = areas.reshape(1, len(ids), -1)  # S=1 MAP draw, 6 samples, K areas
        direct = property_log_likelihood(areas, prop.loc[ids].to_numpy(), seed=0)
        assert np.isfinite(row.neg_log_L_prop)
        assert row.neg_log_L_prop == pytest.approx(-direct.log_likelihood, rel=1e-8, abs=1e-8)
        assert row.features == " ".join(f"area[{k + 1}]" for k in range(areas.shape[2]))


def test_stored_fits_load_back_as_fits(batch_store):
    from deconv.store import ResultStore, parse_label, store_labels

    store, _, prop = batch_store
    labels = store_labels(store)
    assert labels == ["K1_gaussian_constant_normal_map", "K2_gaussian_constant_normal_map"]
    assert parse_label(labels[1]) == {
        "n_peaks": 2,
        "shape": "gaussian",
        "baseline": "constant",
        "noise": "normal",
        "method": "map",
    }
    assert parse_label("K3_pseudo_voigt_quadratic_student_t_nuts")["shape"] == "pseudo_voigt"
    results = ResultStore(store, labels[1])
    fit = results.load_fit(prop.index[0])
    summary = pd.read_csv(store / "summary.csv", dtype={"sample_id": str})
    row = summary[(summary["model"] == labels[1]) & (summary["sample_id"] == prop.index[0])]
    for quantity in ("centre", "area"):
        expected = row[[f"{quantity}[1]", f"{quantity}[2]"]].to_numpy().ravel()
        np.testing.assert_allclose(fit.peak_table[quantity], expected, rtol=1e-10)
    assert fit.n_draws == 1 and fit.method == "map"
    np.testing.assert_allclose(fit.predict(n_draws=None)["total"].shape, (1, 100))
    with pytest.raises(ValueError, match="label must be a batch model label"):
        parse_label("K2_triangle_linear_normal_map")


def test_property_user_mistakes_give_one_line_and_exit_code_2(batch_store, tmp_path, capsys):
    store, table_file, prop = batch_store
    table = pd.read_csv(table_file, dtype={"sample_id": str})
    short = tmp_path / "short.csv"
    table.iloc[1:].to_csv(short, index=False)
    extra = tmp_path / "extra.csv"
    pd.concat([table, pd.DataFrame({"sample_id": ["ghost"], "property": [1.0]})]).to_csv(
        extra, index=False
    )
    base = ["property", str(store), "--no-progress", "--column", "property", "--property"]
    cases = [
        ([*base, str(short)], "--property must have a value for every sample fitted under"),
        ([*base, str(short)], prop.index[0]),
        ([*base, str(extra)], "results must hold a usable fit of every sample"),
        ([*base, str(extra)], "ghost"),
        (
            [*base, str(tmp_path / "none.csv")],
            f"--property {tmp_path / 'none.csv'} must name an existing CSV file",
        ),
        (
            ["property", str(store), "--property", str(table_file), "--column", "nope"],
            f"--column must name a column of {table_file} (sample_id, property); got 'nope'",
        ),
        (
            ["property", str(tmp_path), "--property", str(table_file), "--column", "property"],
            "results must be a result folder written by specbayes batch",
        ),
        ([*base, str(table_file), "--peaks", "2-3"], "model K1_gaussian_constant_normal_map"),
        ([*base, str(table_file), "--features", "volume"], "--features must name only"),
    ]
    for argv, message in cases:
        assert cli.main(argv) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("specbayes property: error:") and message in error, error
        assert "\n" not in error


def test_report_of_a_batch_store_lists_tables_figures_and_failures(batch_store, capsys):
    store, _, _ = batch_store
    assert cli.main(["report", str(store)]) == 0
    markdown = (store / "report.md").read_text()
    summary = pd.read_csv(store / "summary.csv", dtype={"sample_id": str})
    for value in summary["area[1]"].iloc[:6]:
        assert f"| {value:.6g} |" in markdown
    assert "## Failures\n\nNone: every spectrum was fitted." in markdown
    assert "## Settings" in markdown and '"n_starts": 2' in markdown
    for index in (1, 2):
        figure = store / "report_figures" / f"peaks_{index}.png"
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(report_figures/peaks_{index}.png)" in markdown
    page = (store / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'src="report_figures/peaks_1.png"' in page
    assert "report.md" in capsys.readouterr().out


def test_report_rejects_a_folder_without_results(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("specbayes report: error: folder must hold results of specbayes")
    assert cli.main(["report", str(tmp_path / "missing")]) == 2
    assert "folder must be an existing folder" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["demo", "fit", "select", "batch", "property", "report"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: specbayes {command}" in capsys.readouterr().out


def test_batch_reuses_the_fit_options_with_map_as_default(capsys):
    args = cli.build_parser().parse_args(["batch", "series.csv"])
    assert args.method == "map" and args.peaks == 3 and args.shape == "pseudo_voigt"
    assert cli.build_parser().parse_args(["fit", "x.csv"]).method == "nuts"
    with pytest.raises(SystemExit):
        cli.main(["batch", "--help"])
    assert "(default map)" in " ".join(capsys.readouterr().out.split())


def test_shape_and_baseline_choices_match_the_registries():
    from deconv.baselines import BASELINES
    from deconv.lineshapes import LINESHAPES

    assert tuple(LINESHAPES) == cli.SHAPES
    assert tuple(BASELINES) == cli.BASELINES


def test_select_starts_default_matches_the_library(capsys):
    """The command line keeps its defaults as literals (importing the library would import
    JAX); the number of MAP starts before a free energy must stay the library's."""
    from deconv.selection import EVIDENCE_STARTS

    assert cli.build_parser().parse_args(["select", "x.csv"]).starts == EVIDENCE_STARTS
    with pytest.raises(SystemExit):
        cli.main(["batch", "--help"])
    assert f"{EVIDENCE_STARTS} for evidence" in " ".join(capsys.readouterr().out.split())


def test_importing_the_command_line_does_not_import_jax():
    code = "import sys, specbayes.cli; print('jax' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# numeric options, checked before any work; exit codes


@pytest.fixture
def series_file(tmp_path):
    import datasets
    from deconv.io import write_series

    scenario = datasets.weak_band(0, n_samples=3, n_points=40)
    return write_series(scenario.series, tmp_path / "series.csv")


@pytest.fixture
def no_work(monkeypatch):
    """Every command's work raises AssertionError: a check must come first."""
    import deconv
    from deconv import batch

    def too_late(*args, **kwargs):
        raise AssertionError("too late: the work started before the check")

    for module, name in ((batch, "fit_series"), (batch, "fit_files"), (deconv, "fit")):
        monkeypatch.setattr(module, name, too_late)
    monkeypatch.setattr(deconv, "select", too_late)
    monkeypatch.setattr(cli, "read_one", too_late)
    monkeypatch.setenv("SPECBAYES_COMPILATION_CACHE", "0")


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["batch", "SERIES", "--method", "evidence", "--samples", "0"], "--samples must be >= 10"),
        (["batch", "SERIES", "--method", "evidence", "--warmup", "5"], "--warmup must be >= 10"),
        (["batch", "SERIES", "--method", "nuts", "--samples", "0"], "--samples must be >= 1"),
        (["batch", "SERIES", "--chunk-size", "0"], "--chunk-size must be >= 1; got 0"),
        (["batch", "SERIES", "--starts", "0"], "--starts must be >= 1; got 0"),
        (["batch", "SERIES", "--peaks", "0"], "--peaks must be >= 1; got 0"),
        (["batch", "SERIES", "--seed", str(2**70)], "--seed must be an int seed >= 0 and < 2**63"),
        (["batch", "SERIES", "--seed", "-1"], "--seed must be an int seed >= 0 and < 2**63"),
        (["batch", "SERIES", "--sigma", "-1"], '--sigma must be a positive number or "data"'),
        (["fit", "SERIES", "--seed", str(2**70)], "--seed must be an int seed >= 0 and < 2**63"),
        (["fit", "SERIES", "--chains", "0"], "--chains must be >= 1; got 0"),
        (["fit", "SERIES", "--xmin", "nan"], "--xmin must be a finite number; got nan"),
        (["select", "SERIES", "--seed", str(2**64)], "--seed must be an int seed >= 0 and < 2**63"),
        (["select", "SERIES", "--temperatures", "1"], "--temperatures must be >= 2; got 1"),
        (["select", "SERIES", "--warmup", "9"], "--warmup must be >= 10; got 9"),
        (["property", "SERIES", "--property", "t.csv", "--column", "c", "--draws", "0"], "--draws"),
        (
            ["property", "SERIES", "--property", "t.csv", "--column", "c", "--seed", str(2**32)],
            "--seed must be an int seed >= 0 and < 2**32",
        ),
    ],
)
def test_numeric_options_are_checked_before_any_work(series_file, capsys, argv, message):
    argv = [str(series_file) if item == "SERIES" else item for item in argv]
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"specbayes {argv[0]}: error: {message}"), error
    assert error.count("\n") == 1


def test_evidence_sweep_minimum_matches_the_library():
    from deconv.evidence import MIN_SAMPLES, MIN_WARMUP

    assert cli.MIN_SWEEPS == MIN_SAMPLES == MIN_WARMUP


def _failing_report(monkeypatch, error):
    def command(args):
        raise error

    monkeypatch.setitem(cli.COMMANDS, "report", command)


def test_internal_error_gives_one_line_and_exit_code_3(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("SPECBAYES_DEBUG", raising=False)
    _failing_report(monkeypatch, RuntimeError("boom\n  in the sampler"))
    assert cli.main(["report", str(tmp_path)]) == 3
    error = capsys.readouterr().err
    assert error == (
        "specbayes: internal error (RuntimeError: boom in the sampler); please report it\n"
    )
    monkeypatch.setenv("SPECBAYES_DEBUG", "1")
    _failing_report(monkeypatch, ZeroDivisionError("division by zero"))
    assert cli.main(["report", str(tmp_path)]) == 3
    error = capsys.readouterr().err
    assert error.startswith(
        "specbayes: internal error (ZeroDivisionError: division by zero); please report it\n"
    )
    assert "Traceback (most recent call last)" in error and "in command" in error


@pytest.mark.parametrize(
    ("error", "where", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "OUT/fits/a.nc"), "to OUT/fits/a.nc",
         "No space left on device"),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "OUT/summary.csv"), "to OUT/summary.csv",
         "Disk quota exceeded"),
        (OSError(errno.EROFS, "Read-only file system"), "under OUT", "Read-only file system"),
        (PermissionError(errno.EACCES, "Permission denied", "OUT/report.md"), "to OUT/report.md",
         "Permission denied"),
        (
            RuntimeError(
                "Unable to synchronously create file (unable to open file: name = 'x.nc', "
                "errno = 28, error message = 'No space left on device')"
            ),
            "under OUT",
            os.strerror(errno.ENOSPC),
        ),
        (RuntimeError("NetCDF: HDF error: No space left on device"), "under OUT",
         os.strerror(errno.ENOSPC)),
    ],
)  # fmt: skip
def test_write_failures_give_one_line_and_exit_code_4(
    monkeypatch, tmp_path, capsys, error, where, reason
):
    out = str(tmp_path)
    if isinstance(error, OSError) and error.filename is not None:
        error.filename = error.filename.replace("OUT", out)
    _failing_report(monkeypatch, error)
    assert cli.main(["report", out]) == 4
    expected = f"specbayes report: error: could not write results {where}: {reason}\n"
    assert capsys.readouterr().err == expected.replace("OUT", out)


def test_write_failure_raised_from_another_error_is_found(monkeypatch, tmp_path, capsys):
    try:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "a.nc"))
    except OSError as cause:
        wrapped = ValueError("could not save a")
        wrapped.__cause__ = cause
    _failing_report(monkeypatch, wrapped)
    assert cli.main(["report", str(tmp_path)]) == 4
    assert "could not write results to" in capsys.readouterr().err


def test_permission_error_outside_the_output_folder_is_a_usage_error(monkeypatch, tmp_path, capsys):
    elsewhere = tmp_path / "input" / "x.csv"
    _failing_report(monkeypatch, PermissionError(errno.EACCES, "Permission denied", str(elsewhere)))
    assert cli.main(["report", str(tmp_path / "results")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("specbayes report: error: [Errno 13] Permission denied")


def test_help_and_module_document_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "exit codes:" in text
    for code, meaning in cli.EXIT_CODES.items():
        assert f"  {code}  {meaning}" in text
        assert f"* {code}: " in cli.__doc__
    assert sorted(cli.EXIT_CODES) == [0, 1, 2, 3, 4]


def test_property_takes_a_row_aligned_table_and_says_so(batch_store, tmp_path, capsys):
    store, table_file, _ = batch_store
    keyed = ["property", str(store), "--no-progress", "--column", "property", "--property"]
    assert cli.main([*keyed, str(table_file), "--out", str(tmp_path / "keyed")]) == 0
    assert "ids from sample_id" in capsys.readouterr().out
    table = pd.read_csv(table_file, dtype={"sample_id": str})
    summary = pd.read_csv(store / "summary.csv", dtype={"sample_id": str})
    order = list(dict.fromkeys(summary["sample_id"]))
    aligned = tmp_path / "aligned.csv"
    table.set_index("sample_id").loc[order, ["property"]].to_csv(aligned, index=False)
    assert cli.main([*keyed, str(aligned), "--out", str(tmp_path / "aligned")]) == 0
    assert "rows in the order of the samples (no id column)" in capsys.readouterr().out
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "aligned" / "property.csv"),
        pd.read_csv(tmp_path / "keyed" / "property.csv"),
    )
    long = tmp_path / ("p" * 120) / "short.csv"
    long.parent.mkdir()
    table.iloc[2:, 1:].to_csv(long, index=False)  # no id column, too few rows
    assert cli.main([*keyed, str(long)]) == 2
    assert str(long) in capsys.readouterr().err  # the whole path, never cut


def test_property_names_an_unreadable_stored_result(batch_store, tmp_path, capsys):
    import shutil

    from deconv.store import ResultStore, store_labels

    store, table_file, _ = batch_store
    copy = shutil.copytree(store, tmp_path / "copy")
    label = store_labels(copy)[0]
    results = ResultStore(copy, label)
    victim = results.finished_ids()[1]
    results.path(victim).write_bytes(b"")
    argv = ["property", str(copy), "--no-progress", "--column", "property"]
    assert cli.main([*argv, "--property", str(table_file)]) == 2
    error = capsys.readouterr().err
    assert f"{victim}: unreadable stored result" in error and str(results.path(victim)) in error


def _headed_file(path, seed: int, centre: float = 50.0) -> None:
    """Ten lines of prose, then ``y x sigma`` rows: a peak at ``centre`` on 0..100."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 100.0, 201)
    sigma = np.full(x.size, 0.02)
    y = np.exp(-0.5 * ((x - centre) / 4.0) ** 2) + 0.3 + sigma * rng.standard_normal(x.size)
    y[x > 90] += 5.0  # a detector edge the crop removes
    prose = [f"instrument note {i}: free text, 1,2,3 numbers too" for i in range(10)]
    rows = [f"{a:.8f} {b:.8f} {c:.8f}" for a, b, c in zip(y, x, sigma, strict=True)]
    path.write_text("\n".join(prose + rows) + "\n")


READING = ["--skiprows", "10", "--x-column", "1", "--y-column", "0", "--sigma-column", "2"]
READING += ["--sigma", "data", "--xmin", "20", "--xmax", "85"]


def test_fit_reads_a_headed_y_before_x_file_with_sigma_and_a_crop(tmp_path, capsys):
    spectrum_file, out = tmp_path / "headed.txt", tmp_path / "fit"
    _headed_file(spectrum_file, seed=0)
    argv = ["fit", str(spectrum_file), "--peaks", "1", "--shape", "gaussian"]
    argv += ["--baseline", "constant", "--method", "map", "--out", str(out), *READING]
    assert cli.main(argv) == 0
    report = (out / "report.txt").read_text()
    assert report.startswith("data     : crop x in [20.0, 85.0]; per-point sigma from the file")
    peaks = pd.read_csv(out / "peaks.csv")
    assert peaks.filter(like="centre").iloc[0, 0] == pytest.approx(50.0, abs=0.2)
    assert "sigma" not in xr_posterior(out / "posterior.nc")  # per-point sigma: not sampled


def xr_posterior(path):
    import xarray as xr

    with xr.open_dataset(path, group="posterior") as posterior:
        return set(posterior.data_vars)


def test_batch_reads_a_folder_of_headed_files_with_sigma_and_a_crop(tmp_path, capsys):
    folder, out = tmp_path / "spectra", tmp_path / "out"
    folder.mkdir()
    for i, centre in enumerate((45.0, 55.0)):
        _headed_file(folder / f"s{i}.txt", seed=i, centre=centre)
    argv = ["batch", str(folder), "--peaks", "1", "--shape", "gaussian", "--baseline"]
    argv += ["constant", "--out", str(out), *READING]
    assert cli.main(argv) == 0
    assert "done 2, failed 0, skipped 0" in capsys.readouterr().out
    summary = pd.read_csv(out / "summary.csv").set_index("sample_id")
    np.testing.assert_allclose(summary["centre[1]"], [45.0, 55.0], atol=0.2)
    settings = json.loads((out / "settings.json").read_text())
    (recorded,) = settings.values()
    assert recorded["crop"] == [20.0, 85.0] and recorded["sigma"] == "data"


def test_select_reads_a_headed_file_with_sigma_and_a_crop(tmp_path, capsys):
    spectrum_file, out = tmp_path / "headed.txt", tmp_path / "select"
    _headed_file(spectrum_file, seed=3)
    argv = ["select", str(spectrum_file), "--peaks", "1", "--shape", "gaussian", "--baseline"]
    argv += ["constant", "--samples", "200", "--warmup", "100", "--independent", "2"]
    argv += ["--starts", "8", "--no-wbic", "--no-progress", "--out", str(out), *READING]
    assert cli.main(argv) == 0
    report = (out / "report.txt").read_text()
    assert "data       : crop x in [20.0, 85.0]; per-point sigma from the file" in report
    table = pd.read_csv(out / "selection.csv")
    assert np.isfinite(table["F"]).all() and (table["F_se"] < 1.0).all()
    assert json.loads((out / "settings.json").read_text())["select"]["xmin"] == 20.0


def test_reading_options_are_checked_before_any_work(tmp_path, capsys):
    table = tmp_path / "series.csv"
    table.write_text("sample_id,1.0,2.0,3.0\na,1,2,3\n")
    assert cli.main(["batch", str(table), "--x-column", "1"]) == 2
    assert "--x-column must apply to spectrum files" in capsys.readouterr().err
    assert cli.main(["fit", str(table), "--sigma", "data"]) == 2
    assert "--sigma data must come with --sigma-column" in capsys.readouterr().err
    assert cli.main(["fit", str(table), "--precorrect", "asls:lam"]) == 2
    assert "--precorrect must read METHOD:KEY=VALUE" in capsys.readouterr().err


def test_property_takes_the_seed_paper_s_configuration(batch_store, tmp_path, capsys):
    from gp_property import features, regressor, selector
    from specbayes import _property_command as _cli_property

    assert set(_cli_property.FEATURES) == set(features.FEATURES)
    assert tuple(selector.CRITERIA) == _cli_property.CRITERIA
    assert _cli_property.KERNELS == regressor.KERNELS == selector.KERNELS
    assert _cli_property.POLICIES == selector.POLICY_NAMES
    store, table_file, _ = batch_store
    argv = ["property", str(store), "--property", str(table_file), "--column", "property"]
    argv += ["--no-progress", "--features", "predictive_spectrum", "--kernel"]
    argv += ["rational_quadratic", "--policy", "per_draw", "--criterion", "property"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "ranked by neg_log_L_prop (criterion property)" in printed
    assert "refit" in printed.lower()  # the per-draw policy says what it does
    table = pd.read_csv(tmp_path / "property.csv")
    assert (table["gp_input"] == "predictive_spectrum").all()
    assert (table["gp_kernel"] == "rational_quadratic").all()
    assert (table["gp_policy"] == "per_draw").all() and (table["criterion"] == "property").all()
    assert table["neg_log_L_prop"].is_monotonic_increasing
    assert table["probability_property"].sum() == pytest.approx(1.0)


def test_select_keeps_candidates_and_a_rerun_reads_them_back(tmp_path, capsys, monkeypatch):
    from deconv import selection

    spectrum_file, out = tmp_path / "headed.txt", tmp_path / "select"
    _headed_file(spectrum_file, seed=5)
    argv = ["select", str(spectrum_file), "--peaks", "1", "--shape", "gaussian", "--baseline"]
    argv += ["constant", "--samples", "100", "--warmup", "50", "--independent", "2"]
    argv += ["--starts", "8", "--no-wbic", "--no-progress", "--out", str(out), *READING]
    assert cli.main(argv) == 0
    first = pd.read_csv(out / "selection.csv")
    assert len(list((out / "candidates" / "fits").glob("*.nc"))) == 1
    monkeypatch.setattr(selection, "_begin_free_energy", lambda *a, **k: pytest.fail("redone"))
    assert cli.main(argv) == 0
    again = pd.read_csv(out / "selection.csv")
    pd.testing.assert_series_equal(again["F"], first["F"])
