"""The notebooks run top to bottom with small settings and pass their closing checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TIMEOUT_S = 600  # per cell; each notebook takes about a minute on an idle 2-core machine


@pytest.mark.parametrize(
    "name",
    [
        # compare_models is the compare_models example's selection (test_selection covers it)
        pytest.param("compare_models.ipynb", marks=pytest.mark.slow),
        "series_to_property.ipynb",
        # one seed of each of the seed paper's experiments (test_examples runs the same script)
        pytest.param("paper_experiments.ipynb", marks=pytest.mark.slow),
    ],
)
def test_notebook_runs_with_small_settings(name, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    monkeypatch.setenv("SPECBAYES_NOTEBOOK_SMALL", "1")  # inherited by the kernel
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError (with the cell and traceback) on failure
    last = notebook.cells[-1]
    assert last.cell_type == "code" and "assert" in last.source
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize(
    "name", ["compare_models.ipynb", "series_to_property.ipynb", "paper_experiments.ipynb"]
)
def test_notebook_is_stored_without_outputs(name):
    notebook = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
