"""Read and write spectra: delimited text, JCAMP-DX, GRAMS/Galactic SPC and wide series tables.

Every reader returns a validated :class:`~deconv.spectrum.Spectrum` (or
:class:`~deconv.spectrum.SpectrumSeries`). Failures are reported with the file and, where the
format allows it, the 1-based line number and the column:

* a missing file raises ``FileNotFoundError`` naming the path (``IsADirectoryError`` for a
  folder);
* a malformed file (empty, unparsable or missing cell, ragged line, unknown column, corrupt
  binary, undecodable text) raises :class:`~deconv.exceptions.ReadError` (a ``ValueError``);
* values that parse but break the container rules (duplicate or non-monotonic ``x``, an axis
  beyond ``1e300``, a constant spectrum...) raise ``ReadError`` with the container's message
  prefixed by the file name;
* invalid arguments raise ``TypeError`` or ``ValueError``.

Nothing else escapes a reader. Missing values (empty cells, ``nan``, ``inf``) are never dropped
silently: they are errors, or, in a series read with ``invalid='record'``, the reason recorded
for leaving that sample out.

Files as instruments and data archives write them read with a few keywords: ``skiprows``
skips a free-text preamble, ``comment`` sets (or, with None, switches off) the comment marker,
and ``x_column``, ``y_column`` and ``sigma_column`` pick columns by 0-based index or header
name. A NIST StRD-style file, 60 lines of prose then data lines ``y x``::

    from deconv.io import read_spectrum

    spectrum = read_spectrum("Misra1a.dat", skiprows=60, x_column=1, y_column=0)
    spectrum.metadata["preamble"]  # the 60 skipped lines

    # an export with a 20-line instrument header, then 'shift;counts;err' and the data
    raman = read_spectrum(
        "raman_export.csv", skiprows=20, x_column="shift", y_column="counts", sigma_column="err"
    )

Every error about a file names its full path, never shortened; a ``ReadError`` starts with it.

The writers emit CSV with every float written as its shortest round-trip representation, so
``read_text(write_spectrum(s, path))`` returns the same numbers bit for bit; files are replaced
atomically (temporary file in the same folder, then :func:`os.replace`).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deconv import _validation as v
from deconv._files import atomic_write_text
from deconv._instrument_formats import (
    JCAMP_EXTENSIONS,
    SPC_EXTENSIONS,
    PathLike,
    _build,
    _existing_file,
    read_jcamp,
    read_spc,
)
from deconv._text_tables import (
    WHITESPACE,
    Column,
    Table,
    check_comma_pairs,
    is_number,
    load_table,
    to_dot,
)
from deconv.exceptions import ReadError
from deconv.spectrum import Spectrum, SpectrumSeries

__all__ = [
    "JCAMP_EXTENSIONS",
    "SPC_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "read_jcamp",
    "read_series",
    "read_spc",
    "read_spectrum",
    "read_text",
    "write_series",
    "write_spectrum",
]


TEXT_EXTENSIONS = (".csv", ".txt", ".tsv", ".dat", ".xy", ".prn")


_ID_COLUMN = "sample_id"


def _table_metadata(table: Table) -> dict[str, Any]:
    return {
        "source": str(table.path),
        "format": "text",
        "header": table.header_text,
        "columns": table.header,
        "separator": "whitespace" if table.sep == WHITESPACE else table.sep,
        "decimal": table.decimal,
        "skiprows": table.skiprows,
        "preamble": table.preamble,
    }


def read_text(
    path: PathLike,
    *,
    skiprows: int = 0,
    x_column: Column = 0,
    y_column: Column = 1,
    sigma_column: Column | None = None,
    sep: str | None = None,
    decimal: str | None = None,
    comment: str | None = "#",
    header: bool | None = None,
    x_unit: str = "",
    y_unit: str = "",
    name: str | None = None,
) -> Spectrum:
    """Read one spectrum from a delimited text file (CSV, TSV, whitespace columns...).

    Parameters
    ----------
    path : str or os.PathLike
        The file: UTF-8 (with or without BOM), UTF-16 or UTF-32 with a BOM, ASCII-only UTF-16
        without one, else Latin-1.
    skiprows : int
        Number of lines at the top of the file to skip before anything is parsed (a free-text
        instrument or data-set header, e.g. ``skiprows=60`` for a NIST StRD data file). Skipped
        lines are never read as comments, header or data; their text is kept in
        ``metadata['preamble']``. Line numbers in error messages still count every line of the
        file. Default 0.
    x_column, y_column : int or str
        Columns holding the axis and the intensities: 0-based index (negative counts from the
        last column) or, when the file has a header line, its name. Default 0 and 1; a file
        holding ``y x`` reads with ``x_column=1, y_column=0``.
    sigma_column : int or str, optional
        Column of per-point uncertainties (index or header name, as above); it becomes
        ``Spectrum.sigma``. Default: none.
    sep : str, optional
        Field separator, one character (``' '`` = any run of whitespace). Sniffed from the data
        lines when None: tab, semicolon, comma or whitespace.
    decimal : {'.', ','}, optional
        Decimal mark; sniffed when None (``','`` is detected only with a non-comma separator,
        e.g. ``1,5;2,3``). With both ``sep`` and ``decimal`` sniffed, a headerless
        comma-separated file whose lines hold twice the columns read, in pairs that look like
        integer and fraction (``1001,5,0,25``), is refused as ambiguous; ``sep=','`` reads it
        as integer columns.
    comment : str or None
        Comment marker (default ``'#'``): text from it to the end of the line is ignored and
        lines holding only a comment are skipped. None: no comments (every line after
        ``skiprows`` is header or data).
    header : bool, optional
        Whether the first non-comment line (after ``skiprows``) is a header; when None it is
        one if none of its fields is a number, quoted or not (so ``1,abc`` on the first line is
        reported as a bad cell and ``"1.0","2.0"`` is data).
    x_unit, y_unit : str
        Axis labels; when empty, the header names of the columns are used (generic names
        ``x``, ``y`` and ``sigma`` give an empty label).
    name : str, optional
        Spectrum name; defaults to the file stem.

    Returns
    -------
    Spectrum
        With ``metadata`` holding ``source``, ``header``, ``columns``, ``separator``,
        ``decimal``, ``skiprows`` and ``preamble`` (the skipped lines, ``''`` when none).

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        The file does not exist, or is a folder.
    ReadError
        Empty file, no data line after the ``skiprows`` skipped, a NUL character or invalid
        UTF-16/32, a line with a different number of fields, a column name not in the header or
        an index out of range (the message lists the file's columns), an empty, non-numeric or
        non-finite cell (message: file, line, column), ambiguous decimal commas, or data
        breaking the :class:`Spectrum` rules (message: file and the rule). Every message starts
        with the full path of the file.
    TypeError, ValueError
        Invalid arguments (a column key that is no index or name, ``skiprows`` not an integer
        >= 0, ``comment`` blank or equal to ``sep``, ``sep``, ``decimal``, the same column
        twice; the last names the file).
    """
    path = _existing_file(path)
    table = load_table(
        path, sep=sep, decimal=decimal, comment=comment, header=header, skiprows=skiprows
    )
    keys = {"x": x_column, "y": y_column}
    if sigma_column is not None:
        keys["sigma"] = sigma_column
    indices = [table.column_index(key, role) for role, key in keys.items()]
    if len(set(indices)) != len(indices):
        # the path goes in the rule: fail() shortens the value, never the rule
        v.fail(
            "columns (x, y, sigma)",
            f"be distinct columns of {path}",
            [table.describe(j) for j in indices],
        )
    if indices == list(range(len(indices))):  # the leading columns: what a plain x,y file holds
        check_comma_pairs(table, len(indices))
    values = table.floats(indices)
    return _build(
        path,
        lambda: Spectrum(
            values[:, 0],
            values[:, 1],
            values[:, 2] if sigma_column is not None else None,
            x_unit=x_unit or table.label(indices[0]),
            y_unit=y_unit or table.label(indices[1]),
            name=path.stem if name is None else name,
            metadata=_table_metadata(table),
        ),
    )


def read_spectrum(path: PathLike, **kwargs: Any) -> Spectrum:
    """Read one spectrum, choosing the reader from the file extension (case-insensitive).

    ``.csv .txt .tsv .dat .xy .prn`` -> :func:`deconv.io.read_text`; ``.jdx .dx .jcamp`` ->
    :func:`deconv.io.read_jcamp`; ``.spc`` -> :func:`deconv.io.read_spc`.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    **kwargs
        Keyword arguments of that reader, e.g. ``skiprows``, ``x_column``, ``y_column``,
        ``sigma_column``, ``comment`` for a text file (see :func:`deconv.io.read_text`).

    Returns
    -------
    Spectrum
        What the reader returns.

    Raises
    ------
    ValueError
        Unknown extension (the message names the path and the supported extensions).
    TypeError
        A keyword the chosen reader does not take (e.g. ``skiprows`` for a ``.jdx`` file); the
        message names the reader and the file.
    FileNotFoundError, IsADirectoryError, ReadError, TypeError, ValueError
        As raised by the reader.
    """
    readers: dict[str, Callable[..., Spectrum]] = {
        **dict.fromkeys(TEXT_EXTENSIONS, read_text),
        **dict.fromkeys(JCAMP_EXTENSIONS, read_jcamp),
        **dict.fromkeys(SPC_EXTENSIONS, read_spc),
    }
    suffix = Path(path).suffix.lower()
    if suffix not in readers:
        supported = " ".join(TEXT_EXTENSIONS + JCAMP_EXTENSIONS + SPC_EXTENSIONS)
        found = f"extension {suffix!r}" if suffix else "no extension"
        raise ValueError(f"{path}: unsupported file type ({found}); supported: {supported}")
    reader = readers[suffix]
    accepted = set(inspect.signature(reader).parameters) - {"path"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        v.fail(
            "read_spectrum keyword arguments",
            f"be ones {reader.__name__} takes for {path} ({', '.join(sorted(accepted))})",
            unknown,
            error=TypeError,
        )
    return reader(path, **kwargs)


def _property_values(cells: pd.Series, decimal: str) -> pd.Series:
    """Numbers when every non-empty cell is one (empty -> NaN), else the stripped text."""
    text = cells.astype(str).str.strip()
    numbers = pd.to_numeric(
        text.str.replace(",", ".", regex=False) if decimal == "," else text, errors="coerce"
    )
    return numbers if bool((numbers.notna() | (text == "")).all()) else text


def _pick_label(table: Table, labels: list[str], key: Column, role: str) -> int:
    """Index of an id/property column (or row) named ``key`` among ``labels``."""
    if isinstance(key, str) and key in labels:
        return labels.index(key)
    if isinstance(key, int | np.integer) and not isinstance(key, bool) and 0 <= key < len(labels):
        return int(key)
    raise ReadError(f"{table.path}: {role} {key!r} not found; available: {labels}")


def _guess_orientation(table: Table) -> str:
    """'rows' when at least half of the header cells after the first are numbers."""
    cells = table.header[1:]
    numeric = sum(is_number(cell, table.decimal) for cell in cells)
    return "rows" if numeric and 2 * numeric >= len(cells) else "columns"


def _row_ids(table: Table, column: int | None) -> list[str] | None:
    if column is None:
        return None
    ids = [str(cell).strip() for cell in table.cells.iloc[:, column]]
    for line, sample_id in zip(table.line_numbers, ids, strict=True):
        if not sample_id:
            raise ReadError(
                f"{table.path}, line {line}: empty sample id (column {table.describe(column)})"
            )
    return ids


def _leading_labels(table: Table) -> int:
    """Number of leading non-numeric header cells; the rest must all be numbers (the x axis)."""
    header, decimal = table.header, table.decimal
    n_labels = next((j for j, cell in enumerate(header) if is_number(cell, decimal)), None)
    if n_labels is None:
        raise ReadError(f"{table.path}, line {table.header_line}: no numeric x values in header")
    for j in range(n_labels, len(header)):
        if not is_number(header[j], decimal):
            raise ReadError(
                f"{table.path}, line {table.header_line}: header cell {header[j]!r} (column {j}) "
                "is not a number; x values must follow the id and property columns"
            )
    return n_labels


_Samples = tuple[np.ndarray, np.ndarray, list[str], pd.DataFrame | None, str, dict[int, str]]


def _bad_samples(
    table: Table,
    raw: np.ndarray,
    values: np.ndarray,
    first_row: int,
    columns: Sequence[int],
    by_column: bool,
    record: bool,
) -> dict[int, str]:
    """Sample index -> message of its first bad cell (``values`` rows are table rows).

    With ``record`` False the first bad cell of the table (line order) raises ReadError; with
    it True every sample (a row, or a column when ``by_column``) holding one is reported.
    """
    bad = ~np.isfinite(values)
    if not bad.any():
        return {}
    if not record:
        row, col = divmod(int(np.argmax(bad)), bad.shape[1])
        raise ReadError(table.cell_error(first_row + row, columns[col], str(raw[row, col])))
    found = {}
    for sample in np.flatnonzero(bad.any(axis=0 if by_column else 1)):
        if by_column:
            row, col = int(np.argmax(bad[:, sample])), int(sample)
        else:
            row, col = int(sample), int(np.argmax(bad[sample]))
        found[int(sample)] = table.cell_error(first_row + row, columns[col], str(raw[row, col]))
    return found


def _series_rows(
    table: Table,
    id_column: Column | None,
    property_columns: Sequence[Column] | None,
    record: bool,
) -> _Samples:
    n_labels = _leading_labels(table)
    labels = table.header[:n_labels]
    x = np.array([float(to_dot(cell, table.decimal)) for cell in table.header[n_labels:]])
    columns = range(n_labels, table.n_columns)
    raw, y = table.parse(columns)
    bad = _bad_samples(table, raw, y, 0, columns, by_column=False, record=record)
    if id_column is not None:
        id_index = _pick_label(table, labels, id_column, "id_column")
    else:
        id_index = labels.index(_ID_COLUMN) if _ID_COLUMN in labels else None
    ids = _row_ids(table, id_index)
    if property_columns is None:
        chosen = [j for j in range(n_labels) if j != id_index]
    else:
        chosen = [_pick_label(table, labels, key, "property column") for key in property_columns]
    index = ids if ids is not None else [str(i) for i in range(len(y))]
    properties = None
    if chosen:
        cells = table.cells
        columns = {labels[j]: _property_values(cells.iloc[:, j], table.decimal) for j in chosen}
        properties = pd.DataFrame({k: col.to_numpy() for k, col in columns.items()}, index=index)
    return x, y, index, properties, "", bad


def _series_columns(
    table: Table,
    id_column: Column | None,
    property_columns: Sequence[Column] | None,
    record: bool,
) -> _Samples:
    if id_column is not None:
        v.fail(
            "id_column",
            f"be None with orientation='columns' (the header of {table.path} holds the ids)",
            id_column,
        )
    ids = table.header[1:]
    first = [str(cell).strip() for cell in table.cells.iloc[:, 0]]
    n_props = next((i for i, cell in enumerate(first) if is_number(cell, table.decimal)), None)
    if n_props is None:
        raise ReadError(f"{table.path}: no data rows (first column holds no number)")
    # raise: the first bad cell in line order; record: only a bad x cell (it spoils every sample)
    table.floats([0] if record else range(table.n_columns), first_row=n_props)
    raw, values = table.parse(range(table.n_columns), first_row=n_props)
    columns = range(1, table.n_columns)
    bad = _bad_samples(table, raw[:, 1:], values[:, 1:], n_props, columns, True, record)
    names = first[:n_props]
    if property_columns is None:
        chosen = list(range(n_props))
    else:
        chosen = [_pick_label(table, names, key, "property row") for key in property_columns]
    properties = None
    if chosen:
        rows = {names[i]: _property_values(table.cells.iloc[i, 1:], table.decimal) for i in chosen}
        properties = pd.DataFrame({k: row.to_numpy() for k, row in rows.items()}, index=ids)
    return values[:, 0], values[:, 1:].T, ids, properties, table.label(0), bad


def read_series(
    path: PathLike,
    *,
    orientation: str = "auto",
    skiprows: int = 0,
    id_column: Column | None = None,
    property_columns: Sequence[Column] | None = None,
    x_unit: str = "",
    y_unit: str = "",
    sep: str | None = None,
    decimal: str | None = None,
    comment: str | None = "#",
    invalid: str = "raise",
) -> SpectrumSeries:
    """Read many spectra on one axis from a wide table with a header line.

    Parameters
    ----------
    path : str or os.PathLike
        The file (separator and decimal mark sniffed as in :func:`deconv.io.read_text`).
    skiprows : int
        Number of lines at the top of the file to skip before the header line (a free-text
        preamble), as in :func:`deconv.io.read_text`; kept in ``metadata['preamble']``.
        Default 0.
    orientation : {'auto', 'rows', 'columns'}
        ``'rows'``: one spectrum per row; the header holds, after any leading non-numeric
        id/property column names, the x values. ``'columns'``: the first column is x, one
        spectrum per further column, the header holds the sample ids; rows at the top whose
        first cell is not a number are property rows (name in the first cell). ``'auto'``:
        ``'rows'`` when at least half of the header cells after the first are numbers (so a
        columns table with numeric sample ids needs ``orientation='columns'``).
    id_column : int or str, optional
        Rows orientation only: the leading column holding the sample ids. Default: the column
        named ``sample_id`` if present, else ids ``'0', '1', ...``.
    property_columns : sequence of int or str, optional
        Leading columns (rows orientation) or property rows (columns orientation) to put in
        ``properties``; default: all of them except the id column. Numeric columns become
        numbers (empty cells NaN), others stay text.
    x_unit, y_unit : str
        Axis labels (columns orientation: ``x_unit`` defaults to the first header cell).
    sep, decimal, comment
        As in :func:`deconv.io.read_text` (``comment`` default ``'#'``, None for no comments).
    invalid : {'raise', 'record'}
        What to do with a sample whose spectrum is unusable: an empty, non-numeric or
        non-finite cell, or values :class:`~deconv.spectrum.SpectrumSeries` refuses in a row
        (constant, range overflowing). ``'raise'``: ``ReadError`` naming the file, line and
        column (or the sample). ``'record'``: the sample is left out, with its properties, and
        ``series.rejected[sample_id]`` holds the message ``'raise'`` would have given (samples
        with bad cells first, then those the container refuses). Problems of the whole file
        (x values, ids, layout) raise either way, and so does a file with no valid sample.

    Returns
    -------
    SpectrumSeries
        With ``properties`` indexed by sample id, ``rejected`` (empty unless
        ``invalid='record'`` left samples out), and ``metadata`` holding ``source``,
        ``orientation``, ``skiprows`` and ``preamble``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        The file does not exist, or is a folder.
    ReadError
        As in :func:`deconv.io.read_text`; also a non-numeric x value in a rows header, an unknown
        id/property column, an empty sample id, duplicate sample ids, or no valid sample.
    TypeError, ValueError
        Invalid arguments (``orientation``, ``invalid``, ``id_column`` with columns orientation
        (the message names the file), ``skiprows``, ``comment``, ``sep``, ``decimal``).
    """
    v.check_choice("orientation", orientation, ("auto", "rows", "columns"))
    v.check_choice("invalid", invalid, ("raise", "record"))
    path = _existing_file(path)
    table = load_table(
        path, sep=sep, decimal=decimal, comment=comment, header=True, skiprows=skiprows
    )
    if table.header is None:
        raise ReadError(f"{path}, line {table.header_line}: header fields do not match the data")
    if orientation == "auto":
        orientation = _guess_orientation(table)
    reader = _series_rows if orientation == "rows" else _series_columns
    x, y, ids, properties, x_label, bad = reader(
        table, id_column, property_columns, invalid == "record"
    )
    _build(path, lambda: v.check_unique_ids("sample_ids", ids))
    if len(bad) == len(ids):
        first = next(iter(bad.values()))
        raise ReadError(f"{path}: no valid sample; all {len(ids)} hold bad cells, first: {first}")
    keep = [i for i in range(len(ids)) if i not in bad]
    metadata = {**_table_metadata(table), "orientation": orientation}
    series = _build(
        path,
        lambda: SpectrumSeries(
            x,
            y[keep],
            sample_ids=[ids[i] for i in keep],
            properties=properties,
            x_unit=x_unit or x_label,
            y_unit=y_unit,
            metadata=metadata,
            invalid=invalid,
            rejected={ids[i]: reason for i, reason in bad.items()},
        ),
    )
    if len(series.rejected) == len(bad):
        return series
    # rows the container left out: the file name in front, as raise would give it; file order
    reasons = {ids[i]: reason for i, reason in bad.items()}
    reasons.update({k: f"{path}: {r}" for k, r in series.rejected.items() if k not in reasons})
    ordered = {sample: reasons[sample] for sample in ids if sample in reasons}
    return dataclasses.replace(series, rejected=ordered)


def _user_order(descending: bool) -> slice:
    """Write arrays the way the user gave them (descending axes stay descending)."""
    return slice(None, None, -1) if descending else slice(None)


def write_spectrum(spectrum: Spectrum, path: PathLike) -> Path:
    """Write a spectrum as CSV: header ``x_unit,y_unit[,sigma]`` then one point per line.

    Empty units are written as ``x``/``y`` (read back as empty labels). A spectrum given with a
    descending axis is written descending. Floats use the shortest round-trip repr, so
    :func:`deconv.io.read_text` (with ``sigma_column='sigma'`` when present) returns identical
    arrays.
    The name and metadata are not written. The file is replaced atomically.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if not isinstance(spectrum, Spectrum):
        v.fail("spectrum", "be a Spectrum", type(spectrum).__name__, error=TypeError)
    order = _user_order(spectrum.descending)
    columns = [spectrum.x[order], spectrum.y[order]]
    names = [spectrum.x_unit or "x", spectrum.y_unit or "y"]
    if spectrum.sigma is not None:
        columns.append(spectrum.sigma[order])
        names.append("sigma")
    frame = pd.DataFrame(np.column_stack(columns), columns=names)
    return atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def _check_property_names(series: SpectrumSeries) -> None:
    for column in series.properties.columns:
        if str(column) == _ID_COLUMN or is_number(str(column), "."):
            v.fail(
                "properties",
                f"have column names that are not numbers and not {_ID_COLUMN!r}",
                column,
            )


def write_series(series: SpectrumSeries, path: PathLike) -> Path:
    """Write a series as a wide CSV table, one spectrum per row.

    Columns: ``sample_id``, the property columns, then one column per x value (header = the x
    value's repr). :func:`deconv.io.read_series` reads it back with identical ids, properties, x
    and y.
    Uncertainties (``sigma``) and metadata are not written. The file is replaced atomically.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if not isinstance(series, SpectrumSeries):
        v.fail("series", "be a SpectrumSeries", type(series).__name__, error=TypeError)
    order = _user_order(series.descending)
    x_names = [repr(float(value)) for value in series.x[order]]
    frame = pd.DataFrame(series.y[:, order], columns=x_names)
    if series.properties is not None:
        _check_property_names(series)
        for position, column in enumerate(series.properties.columns):
            frame.insert(position, str(column), series.properties[column].to_numpy())
    frame.insert(0, _ID_COLUMN, series.sample_ids)
    return atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))
