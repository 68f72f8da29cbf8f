"""Documentation: the API reference builds, snippets match the API, examples give the truth."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import datasets
import deconv
from deconv.selection import Selection
from gp_property.selector import SeriesSelection

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("deconv", "gp_property", "datasets")
# pdoc cannot evaluate postponed annotations in the __init__ Python generates for a NamedTuple
# (e.g. deconv.lineshapes.LineShape); the Makefile's `docs` target silences the same warnings.
NAMEDTUPLE_INIT = r"Error parsing type annotation .+ for [\w.]+\.__init__\b"
ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):`([^`<>]+?)`")


def api_modules() -> list[str]:
    """The packages and their public modules, as ``make docs`` lists them."""
    names = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        names += sorted(
            f"{package}.{info.name}"
            for info in pkgutil.iter_modules(module.__path__)
            if not info.name.startswith("_")
        )
    return names


def _import_everything() -> list[str]:
    """Import every documented module and every lazy export (import-time warnings are not ours)."""
    names = api_modules()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            module = importlib.import_module(name)
            for export in getattr(module, "__all__", []) if name in PACKAGES else []:
                getattr(module, export)
    return names


# -- API reference ------------------------------------------------------------------------------


def test_api_reference_builds_without_warnings(tmp_path):
    import pdoc
    import pdoc.render

    modules = _import_everything()
    pdoc.render.configure(docformat="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=NAMEDTUPLE_INIT)
        pdoc.pdoc(*modules, output_directory=tmp_path)
    for package in PACKAGES:
        page = tmp_path / f"{package}.html"
        assert page.stat().st_size > 1000, page
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "deconv" / "batch.html").is_file()
    assert (tmp_path / "gp_property" / "selector.html").is_file()
    # lazily exported names are documented on the package pages
    assert 'id="select"' in (tmp_path / "deconv.html").read_text()
    assert 'id="select_series"' in (tmp_path / "gp_property.html").read_text()


def _resolves(path: str) -> bool:
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for j, part in enumerate(parts[i:], start=i):
            if not hasattr(obj, part):
                # a dataclass or NamedTuple field is documented without being an attribute
                return j == len(parts) - 1 and part in getattr(obj, "__annotations__", {})
            obj = getattr(obj, part)
        return True
    return False


def _walk(doc):
    import pdoc.doc

    yield doc
    if isinstance(doc, pdoc.doc.Module | pdoc.doc.Class):
        for member in doc.own_members:
            if not isinstance(member, pdoc.doc.Module):
                yield from _walk(member)


def test_docstring_cross_references_resolve():
    """Every :func:/:class:/... role in a documented docstring names an existing object.

    A name is looked up as given, then relative to the module (and class) that defines the
    docstring. (pdoc links ``~a.b.C`` but shows the ``~``; that is cosmetic, not broken.)
    """
    import pdoc.doc

    broken = []
    for name in _import_everything():
        for doc in _walk(pdoc.doc.Module.from_name(name)):
            module, qualname = doc.taken_from
            scope = qualname.split(".")[:-1] if qualname else []
            for target in ROLE.findall(doc.docstring or ""):
                target = target.strip().lstrip("~").removesuffix("()")
                candidates = [target] + [
                    ".".join([module, *scope[:k], target]) for k in range(len(scope), -1, -1)
                ]
                if not any(_resolves(c) for c in candidates):
                    broken.append(f"{doc.fullname}: {target}")
    assert not broken, "unresolved docstring references:\n" + "\n".join(sorted(set(broken)))


# -- the user guide and the README --------------------------------------------------------------


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


@pytest.mark.parametrize("document", ["README.md", "docs/user_guide.md"])
def test_snippets_use_the_real_api(document):
    """Names under deconv/gp_property/datasets exist and their keyword arguments are accepted."""
    _import_everything()
    problems = []
    for block in _python_blocks(REPO / document):
        tree = ast.parse(block)  # every snippet is valid Python
        aliases = {
            alias.asname or alias.name: alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module.split(".")[0] in PACKAGES:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute | ast.Name | ast.Call):
                continue
            target = node.func if isinstance(node, ast.Call) else node
            dotted = _dotted(target)
            if dotted is None or dotted.split(".")[0] not in aliases:
                continue
            head, _, rest = dotted.partition(".")
            full = aliases[head] + (f".{rest}" if rest else "")
            if full.split(".")[0] not in PACKAGES:
                continue
            if not _resolves(full):
                problems.append(f"{document}: {full} does not exist")
                continue
            if isinstance(node, ast.Call) and node.keywords:
                obj = _object(full)
                try:
                    parameters = inspect.signature(obj).parameters
                except (TypeError, ValueError):
                    continue
                if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
                    continue
                for keyword in node.keywords:
                    if keyword.arg is not None and keyword.arg not in parameters:
                        problems.append(f"{document}: {full}() has no argument {keyword.arg!r}")
    assert not problems, "\n".join(problems)


def _object(path: str):
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(path)


@pytest.mark.parametrize("document", ["README.md", "docs/user_guide.md"])
def test_relative_links_exist(document):
    path = REPO / document
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8"))
    local = [link for link in links if "://" not in link]
    assert local, "expected links to other documents"
    missing = [link for link in local if not (path.parent / link).exists()]
    assert not missing, f"{document} links to missing files: {missing}"


def test_readme_shows_the_quickstart_script_verbatim():
    script = (REPO / "examples" / "quickstart.py").read_text(encoding="utf-8")
    code = script.split('"""', 2)[2].strip()  # everything after the module docstring
    assert code in (REPO / "README.md").read_text(encoding="utf-8")
    user_lines = [line for line in code.splitlines() if line.strip()]
    assert len(user_lines) <= 20
    assert "docs/figures/quickstart.png" in (REPO / "README.md").read_text(encoding="utf-8")


# -- rich HTML in notebooks (a Fit's is checked with the quickstart) ----------------------------


def test_selection_html_lists_models_and_free_energies():
    table = pd.DataFrame(
        {
            "model": ["K=2 gaussian + none", "K=1 gaussian + none"],
            "n_peaks": [2, 1],
            "F": [-412.3456, -250.125],
            "F_se": [0.05, 0.04],
            "delta_F": [0.0, 162.2206],
            "probability": [1.0, 0.0],
            "WBIC": [-400.0, -240.0],
        }
    )
    spectrum = deconv.Spectrum(np.arange(5.0), np.arange(5.0))
    selection = Selection(table=table, results={}, spectrum=spectrum)
    page = selection._repr_html_()
    for row in table.itertuples():
        assert row.model in page
        assert f"{row.F:.4g}" in page
        assert f"{row.delta_F:.4g}" in page
    assert "<table" in page


def test_series_selection_html_lists_models_and_three_columns():
    table = pd.DataFrame(
        {
            "model": ["K=2 gaussian + none", "K=1 gaussian + none"],
            "sum_F": [-801.25, -803.5],
            "neg_log_L_prop": [-3.125, 6.5],
            "F_total": [-798.125, -797.0],
            "probability": [0.75, 0.25],
        }
    )
    selection = SeriesSelection(
        table=table,
        chosen="K=2 gaussian + none",
        spectrum_only_choice="K=1 gaussian + none",
        evidences={},
        property_likelihoods={},
        features={},
        properties=np.zeros(3),
        policy="test",
    )
    page = selection._repr_html_()
    assert "chosen K=2 gaussian + none" in page
    for column in ("sum_F", "neg_log_L_prop", "F_total"):
        assert column in page
        for value in table[column]:
            assert f"{value:.4g}" in page


# -- examples -------------------------------------------------------------------------------------


def test_quickstart_fits_the_bundled_spectrum(tmp_path, monkeypatch):
    figure = tmp_path / "quickstart.png"
    monkeypatch.setattr(sys, "argv", ["quickstart.py", str(figure)])
    # the README's script with short chains (the figure in docs/ comes from the full run)
    fast = "key=0, num_warmup=200, num_samples=150, num_chains=2)"
    source = (REPO / "examples" / "quickstart.py").read_text(encoding="utf-8")
    assert source.count("key=0)") == 1
    namespace = {"__name__": "__main__"}
    exec(compile(source.replace("key=0)", fast), "quickstart.py", "exec"), namespace)
    truth = datasets.ir_carbonyl(seed=0).truth.peaks  # the bundled spectrum's generator
    np.testing.assert_allclose(namespace["fit"].peak_table["centre"], truth["centre"], atol=0.5)
    np.testing.assert_allclose(namespace["fit"].peak_table["area"], truth["area"], rtol=0.1)
    page = namespace["fit"]._repr_html_()  # what Jupyter shows for a Fit
    assert namespace["fit"].model.label in page and "converged" in page and "<table" in page
    for centre in namespace["fit"].peak_table["centre"]:
        assert f"{centre:.5g}" in page
    assert figure.stat().st_size > 10_000
    stored = REPO / "docs" / "figures" / "quickstart.png"
    assert 10_000 < stored.stat().st_size < 300_000


def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_batch_series_example_fits_every_spectrum_and_resumes(tmp_path, capsys):
    example = _load_example("batch_series")
    out = tmp_path / "results"
    result, scenario = example.main(["--quick", "--out", str(out)])
    n = len(scenario.series)
    assert result.counts == {"done": n, "failed": 0, "skipped": 0}
    truth = scenario.peaks.pivot(index="sample_id", columns="peak", values="centre")
    summary = result.summary.set_index("sample_id")
    fitted = summary[[f"centre[{k}]" for k in truth.columns]].to_numpy()
    np.testing.assert_allclose(fitted, truth.loc[summary.index].to_numpy(), atol=1.0)
    assert (out / "summary.csv").is_file() and (out / "failures.csv").is_file()
    assert len(list((out / "fits").glob("*.nc"))) == n
    printed = capsys.readouterr().out
    assert f"done {n}, failed 0, skipped 0" in printed

    again, _ = example.main(["--quick", "--out", str(out)])
    assert again.counts == {"done": 0, "failed": 0, "skipped": n}
    np.testing.assert_allclose(again.summary["objective"], result.summary["objective"])


def test_model_probability_figure_draws_one_bar_per_candidate():
    table = pd.DataFrame(
        {"model": ["K=3 gaussian + none", "K=4 gaussian + none", "K=2 gaussian + none"]}
    )
    table["probability"] = [0.7, 0.3, 0.0]
    selection = Selection(
        table=table, results={}, spectrum=deconv.Spectrum(np.arange(5.0), np.arange(5.0))
    )
    ax = selection.plot_probabilities()
    widths = {
        t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)
    }
    assert widths == {
        "K=2 gaussian + none": 0.0,
        "K=4 gaussian + none": 0.3,
        "K=3 gaussian + none": 0.7,
    }
    assert ax.get_yticklabels()[-1].get_text() == "K=3 gaussian + none"  # most probable on top
    with pytest.raises(ValueError, match="column must name a column of the table; got 'p'"):
        deconv.plotting.plot_probabilities(table, column="p")
