"""A Markdown and HTML report of a folder written by ``specbayes fit/select/batch/property``.

:func:`write_report` looks at what the folder holds (a fit, a model selection, a batch result
store, a property table) and writes ``report.md`` and ``report.html`` beside it: the summary
tables, links to the figures, the failures, the recorded settings and the text reports. For a
batch store it also draws the peak centres and areas against the sample index into
``report_figures/``. Both files are built from one list of blocks (heading, paragraph, table,
image, code), so the HTML needs no Markdown parser.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from deconv import _validation as v
from deconv._files import atomic_write, atomic_write_text
from deconv.store import FAILURES, SETTINGS, SUMMARY, is_store

__all__ = ["FIGURES", "MAX_ROWS", "format_value", "write_report"]

FIGURES = "report_figures"
MAX_ROWS = 60  # longer tables are cut (the CSV file is linked)
_SUMMARY_QUANTITIES = ("centre", "area")


@dataclass(frozen=True)
class _Block:
    kind: str  # "h1", "h2", "p", "table", "image", "code"
    content: Any
    note: str = ""


def format_value(value: Any) -> str:
    """How a table cell is written: floats with 6 significant digits, NaN as empty."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"sample_id": str, "model": str}, keep_default_na=True)


# ---------------------------------------------------------------------------------------------
# rendering


def _markdown_table(table: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        return format_value(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    rows = ["| " + " | ".join(cell(x) for x in row) + " |" for row in table.itertuples(False)]
    return "\n".join([header, rule, *rows])


def _markdown(blocks: list[_Block]) -> str:
    parts = []
    for block in blocks:
        if block.kind == "h1":
            parts.append(f"# {block.content}")
        elif block.kind == "h2":
            parts.append(f"## {block.content}")
        elif block.kind == "p":
            parts.append(str(block.content))
        elif block.kind == "table":
            parts.append(
                _markdown_table(block.content) + (f"\n\n{block.note}" if block.note else "")
            )
        elif block.kind == "image":
            parts.append(f"![{block.note}]({block.content})")
        elif block.kind == "code":
            parts.append(f"```\n{str(block.content).rstrip()}\n```")
    return "\n\n".join(parts) + "\n"


def _html(blocks: list[_Block], title: str) -> str:
    body = []
    for block in blocks:
        if block.kind in ("h1", "h2"):
            body.append(f"<{block.kind}>{html.escape(str(block.content))}</{block.kind}>")
        elif block.kind == "p":
            body.append(f"<p>{html.escape(str(block.content))}</p>")
        elif block.kind == "table":
            table = block.content.map(format_value) if len(block.content) else block.content
            body.append(table.to_html(index=False, border=0, escape=True))
            if block.note:
                body.append(f"<p>{html.escape(block.note)}</p>")
        elif block.kind == "image":
            source, alt = html.escape(str(block.content)), html.escape(block.note)
            body.append(
                f'<p><a href="{source}"><img src="{source}" alt="{alt}" width="800"></a></p>'
            )
        elif block.kind == "code":
            body.append(f"<pre>{html.escape(str(block.content).rstrip())}</pre>")
    style = (
        "body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "table{border-collapse:collapse;font-size:90%}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "pre{background:#f6f6f6;padding:0.5em;overflow:auto}"
    )
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------------
# sections


def _table_block(folder: Path, name: str, columns: list[str] | None = None) -> list[_Block]:
    table = _read_csv(folder / name)
    if columns is not None:
        table = table[[c for c in columns if c in table.columns]]
    note = f"Source: [{name}]({name})"
    if len(table) > MAX_ROWS:
        note = f"First {MAX_ROWS} of {len(table)} rows; all in [{name}]({name})"
        table = table.head(MAX_ROWS)
    return [_Block("table", table, note)]


def _text_block(folder: Path, name: str) -> list[_Block]:
    path = folder / name
    return [_Block("code", path.read_text(encoding="utf-8"))] if path.is_file() else []


def _image_block(folder: Path, name: str) -> list[_Block]:
    return [_Block("image", name, name)] if (folder / name).is_file() else []


def _fit_section(folder: Path) -> list[_Block]:
    blocks = [_Block("h2", "Fit"), *_image_block(folder, "fit.png")]
    blocks += _table_block(folder, "peaks.csv")
    blocks += _text_block(folder, "report.txt")
    return blocks


def _selection_section(folder: Path) -> list[_Block]:
    table = _read_csv(folder / "selection.csv")
    blocks = [_Block("h2", "Model selection")]
    if len(table) and "model" in table:
        best = table.iloc[0]
        text = f"Chosen model: {best['model']}"
        if "F" in table:
            text += f" (F = {format_value(float(best['F']))}"
            if "F_se" in table:
                text += f" +- {format_value(float(best['F_se']))}"
            text += " nats)"
        blocks.append(_Block("p", text))
    blocks += _table_block(folder, "selection.csv")
    blocks += _image_block(folder, "selection.png") + _image_block(folder, "best_fit.png")
    if (folder / "best_peaks.csv").is_file():
        blocks += [
            _Block("p", "Peaks of the chosen model:"),
            *_table_block(folder, "best_peaks.csv"),
        ]
    blocks += _text_block(folder, "report.txt")
    return blocks


def _peak_columns(summary: pd.DataFrame, quantity: str) -> list[str]:
    return [c for c in summary.columns if c.startswith(f"{quantity}[")]


def _batch_figure(folder: Path, summary: pd.DataFrame, label: str, index: int) -> str | None:
    """Peak centres and areas against the sample index of one model; the relative path."""
    rows = summary[summary["model"].astype(str) == label].reset_index(drop=True)
    present = {q: _peak_columns(rows, q) for q in _SUMMARY_QUANTITIES}
    present = {q: [c for c in cs if rows[c].notna().any()] for q, cs in present.items()}
    if rows.empty or not any(present.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained")
    for ax, quantity in zip(axes, _SUMMARY_QUANTITIES, strict=True):
        for column in present[quantity]:
            ax.plot(rows.index, pd.to_numeric(rows[column], errors="coerce"), "o-", label=column)
        ax.set_xlabel("sample index")
        ax.set_ylabel(quantity)
        if present[quantity]:
            ax.legend(fontsize="small")
    figure.suptitle(label)
    name = f"{FIGURES}/peaks_{index + 1}.png"
    atomic_write(folder / name, lambda p: figure.savefig(p, dpi=110, format="png"))
    plt.close(figure)
    return name


def _batch_section(folder: Path) -> list[_Block]:
    summary = _read_csv(folder / SUMMARY)
    blocks = [_Block("h2", "Batch")]
    if summary.empty or "model" not in summary:
        return [*blocks, _Block("p", "summary.csv holds no rows.")]
    counts = (
        summary.assign(status=summary["status"].astype(str))
        .groupby(["model", "status"], sort=False)
        .size()
        .unstack(fill_value=0)
        .reset_index()
    )
    blocks += [_Block("p", "Spectra per model and status:"), _Block("table", counts)]
    for index, label in enumerate(dict.fromkeys(summary["model"].astype(str))):
        figure = _batch_figure(folder, summary, label, index)
        if figure is not None:
            blocks.append(_Block("image", figure, f"{label}: peak centres and areas"))
    columns = ["sample_id", "model", "status", "objective"]
    for quantity in _SUMMARY_QUANTITIES:
        columns += _peak_columns(summary, quantity)
    blocks += [_Block("p", "Summary (posterior means; the MAP for MAP fits):")]
    blocks += _table_block(folder, SUMMARY, [*columns, "sigma"])
    return blocks


def _failures_section(folder: Path) -> list[_Block]:
    if not (folder / FAILURES).is_file():
        return []
    failures = _read_csv(folder / FAILURES)
    blocks = [_Block("h2", "Failures")]
    if failures.empty:
        return [*blocks, _Block("p", "None: every spectrum was fitted.")]
    return blocks + _table_block(folder, FAILURES)


def _settings_section(folder: Path) -> list[_Block]:
    path = folder / SETTINGS
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    with contextlib.suppress(json.JSONDecodeError):
        text = json.dumps(json.loads(text), indent=2, sort_keys=True)
    return [_Block("h2", "Settings"), _Block("code", text)]


_SHOWN = {
    "peaks.csv",
    "selection.csv",
    "best_peaks.csv",
    "property.csv",
    SUMMARY,
    FAILURES,
    "fit.png",
    "selection.png",
    "best_fit.png",
}


def write_report(folder: str | Path) -> dict[str, Path]:
    """Write ``report.md`` and ``report.html`` summarising a specbayes result folder.

    Parameters
    ----------
    folder : str or os.PathLike
        A folder written by ``specbayes fit``, ``select``, ``batch`` (a result store) or
        ``property``.

    Returns
    -------
    dict
        ``{"report.md": path, "report.html": path, ...}`` plus every figure drawn.

    Raises
    ------
    ValueError
        ``folder`` does not exist, is not a folder, or holds none of the files those commands
        write.
    """
    folder = Path(folder)
    if not folder.is_dir():
        v.fail("folder", "be an existing folder", str(folder))
    kinds = []
    blocks: list[_Block] = []
    if (folder / "selection.csv").is_file():
        kinds.append("model selection")
        blocks += _selection_section(folder)
    elif (folder / "peaks.csv").is_file():
        kinds.append("fit")
        blocks += _fit_section(folder)
    if is_store(folder):
        kinds.append("batch result store")
        blocks += _batch_section(folder)
    if (folder / "property.csv").is_file():
        kinds.append("property likelihood")
        blocks += [_Block("h2", "Property likelihood"), *_table_block(folder, "property.csv")]
    if not kinds:
        v.fail(
            "folder",
            "hold results of specbayes fit, select, batch or property "
            "(peaks.csv, selection.csv, summary.csv with fits/, or property.csv)",
            str(folder),
        )
    blocks += _failures_section(folder) + _settings_section(folder)
    others = sorted(p.name for p in folder.glob("*.csv") if p.name not in _SHOWN)
    others += sorted(p.name for p in folder.glob("*.png") if p.name not in _SHOWN)
    if others:
        blocks.append(_Block("h2", "Other files"))
        for name in others:
            blocks += (
                _table_block(folder, name)
                if name.endswith(".csv")
                else [_Block("image", name, name)]
            )
    title = f"specbayes report: {folder.resolve().name}"
    blocks = [_Block("h1", title), _Block("p", "Contents: " + ", ".join(kinds) + "."), *blocks]
    paths = {"report.md": folder / "report.md", "report.html": folder / "report.html"}
    atomic_write_text(paths["report.md"], _markdown(blocks))
    atomic_write_text(paths["report.html"], _html(blocks, title))
    for block in blocks:
        if block.kind == "image" and str(block.content).startswith(f"{FIGURES}/"):
            paths[str(block.content)] = folder / str(block.content)
    return paths
