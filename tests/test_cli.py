"""The ``specbayes`` command, run through its entry point."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from deconv import cli


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
        [sys.executable, "-m", "deconv.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "demo" in result.stdout and "fit" in result.stdout
