"""The property-informed scenario example runs with --quick on (a) and (b) and reports its
choices."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "property_scenario.py"


@pytest.mark.parametrize(
    ("scenario", "candidates"),
    [("a", [1, 2]), pytest.param("b", [2, 3], marks=pytest.mark.slow)],  # b: the same route
)
def test_property_scenario_example_quick(scenario, candidates, tmp_path, capsys, monkeypatch):
    figure = tmp_path / "scenario.png"
    argv = [str(EXAMPLE), "--scenario", scenario, "--quick", "--out", str(figure)]
    monkeypatch.setattr(sys, "argv", argv)
    module = runpy.run_path(str(EXAMPLE), run_name="example")
    selection = module["main"]()
    printed = capsys.readouterr().out
    assert figure.stat().st_size > 10_000
    assert "truth: K=2" in printed
    assert f"combined choice: {selection.chosen}" in printed
    assert f"spectrum-only choice: {selection.spectrum_only_choice}" in printed
    table = selection.table
    assert sorted(table["n_peaks"]) == candidates
    assert table["F_total"].to_numpy() == pytest.approx(
        (table["sum_F"] + table["neg_log_L_prop"]).to_numpy()
    )
    # the chosen model is the one with the lowest F_total, the spectrum-only one the lowest sum_F
    assert selection.chosen == table.loc[table["F_total"].idxmin(), "model"]
    assert selection.spectrum_only_choice == table.loc[table["sum_F"].idxmin(), "model"]
