"""Read and write spectra: delimited text, JCAMP-DX, GRAMS/Galactic SPC and wide series tables.

Every reader returns a validated :class:`~deconv.spectrum.Spectrum` (or
:class:`~deconv.spectrum.SpectrumSeries`). Failures are reported with the file and, where the
format allows it, the 1-based line number and the column:

* a missing file raises ``FileNotFoundError`` naming the path;
* a malformed file (empty, unparsable or missing cell, ragged line, unknown column, corrupt
  binary) raises :class:`~deconv.exceptions.ReadError` (a ``ValueError``);
* values that parse but break the container rules (duplicate or non-monotonic ``x``...) raise
  ``ReadError`` with the container's message prefixed by the file name.

Missing values (empty cells, ``nan``, ``inf``) are never dropped silently: they are errors.

The writers emit CSV with every float written as its shortest round-trip representation, so
``read_text(write_spectrum(s, path))`` returns the same numbers bit for bit; files are replaced
atomically (temporary file in the same folder, then :func:`os.replace`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from deconv import _validation as v
from deconv._files import atomic_write_text
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

PathLike = str | os.PathLike[str]
Column = int | str
_T = TypeVar("_T")

TEXT_EXTENSIONS = (".csv", ".txt", ".tsv", ".dat", ".xy", ".prn")
JCAMP_EXTENSIONS = (".jdx", ".dx", ".jcamp")
SPC_EXTENSIONS = (".spc",)

_WHITESPACE = " "  # internal separator code: any run of spaces and tabs
_SEPARATORS = ("\t", ";", ",", _WHITESPACE)  # sniffing order (earlier wins ties)
_SNIFF_LINES = 20
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")
_GENERIC_LABELS = frozenset({"x", "y", "sigma"})
_ID_COLUMN = "sample_id"

# ---------------------------------------------------------------------------------------------
# files and lines
# ---------------------------------------------------------------------------------------------


def _existing_file(path: PathLike) -> Path:
    """Return ``path`` as a Path, raising ``FileNotFoundError`` naming it when it is missing."""
    if isinstance(path, bytes) or not isinstance(path, str | os.PathLike):
        v.fail("path", "be a str or os.PathLike", path, error=TypeError)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a file")
    return path


def _read_lines(path: Path) -> list[str]:
    """The file's lines (UTF-8, with or without BOM; Latin-1 as fallback), line ends removed."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.splitlines()


def _content_lines(lines: list[str], comment: str | None) -> list[tuple[int, str]]:
    """(1-based line number, text) of every line that is neither blank nor a comment.

    Trailing comments (``1.0,2.0 # note``) are cut off.
    """
    kept = []
    for number, line in enumerate(lines, start=1):
        if comment:
            line = line.split(comment, 1)[0]
        if line.strip():
            kept.append((number, line))
    return kept


# ---------------------------------------------------------------------------------------------
# sniffing
# ---------------------------------------------------------------------------------------------


def _split(line: str, sep: str) -> list[str]:
    return line.split() if sep == _WHITESPACE else line.split(sep)


def _to_dot(cell: str, decimal: str | None) -> str:
    text = cell.strip()
    return text if decimal == "." else text.replace(",", ".")


def _is_number(cell: str, decimal: str | None) -> bool:
    """Whether ``cell`` reads as a float (NaN and inf included) with the given decimal mark."""
    text = _to_dot(cell, decimal)
    if "_" in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sniff_separator(lines: list[str], decimal: str | None) -> str:
    """Pick the separator that splits ``lines`` into the most all-numeric rows of >= 2 fields."""
    best, best_score = _WHITESPACE, None
    for rank, sep in enumerate(_SEPARATORS):
        if sep == "," and decimal == ",":
            continue
        rows = [_split(line, sep) for line in lines]
        width, hits = Counter(len(row) for row in rows).most_common(1)[0]
        if width < 2:
            continue
        numeric = sum(all(_is_number(cell, decimal) for cell in row) for row in rows)
        score = (numeric, hits, -rank)
        if best_score is None or score > best_score:
            best, best_score = sep, score
    return best


def _sniff_decimal(lines: list[str], sep: str) -> str:
    """``","`` when cells such as ``1,5`` occur (never with a comma separator), else ``"."``."""
    if sep == ",":
        return "."
    cells = (cell.strip() for line in lines for cell in _split(line, sep))
    return "," if any(_DECIMAL_COMMA.match(cell) for cell in cells) else "."


def _check_format_options(sep: str | None, decimal: str | None) -> str | None:
    """Validate ``sep``/``decimal``; return the internal separator code (None = sniff)."""
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1):
        v.fail("sep", "be None or a single character (' ' = any whitespace)", sep)
    if decimal is not None:
        v.check_choice("decimal", decimal, (".", ","))
    if sep == "," and decimal == ",":
        v.fail("decimal", "differ from the separator", decimal)
    return sep


# ---------------------------------------------------------------------------------------------
# the table of text cells
# ---------------------------------------------------------------------------------------------


@dataclass
class _Table:
    """Text cells of a delimited file, with the file line of every row."""

    path: Path
    header: list[str] | None
    header_line: int | None
    header_text: str | None
    cells: pd.DataFrame
    line_numbers: list[int]
    sep: str
    decimal: str

    @property
    def n_columns(self) -> int:
        return int(self.cells.shape[1])

    def describe(self, index: int) -> str:
        """``"1 ('absorbance')"`` with a header, ``"1"`` without."""
        return f"{index} ({self.header[index]!r})" if self.header else str(index)

    def available(self) -> str:
        names = ", ".join(self.describe(j) for j in range(self.n_columns))
        return names if self.header else f"{names} (no header line)"

    def column_index(self, key: Column, role: str) -> int:
        """Resolve a column given by index (negative allowed) or header name."""
        if isinstance(key, bool) or not isinstance(key, int | str | np.integer):
            v.fail(f"{role}_column", "be a column index or a header name", key, error=TypeError)
        if isinstance(key, str):
            if self.header and key in self.header:
                return self.header.index(key)
        elif -self.n_columns <= key < self.n_columns:
            return int(key) % self.n_columns
        raise ReadError(
            f"{self.path}: {role} column {key!r} not found; available columns: {self.available()}"
        )

    def label(self, index: int) -> str:
        """The header name of a column as an axis label ('' without header or if generic)."""
        if not self.header:
            return ""
        name = self.header[index].strip()
        return "" if name.lower() in _GENERIC_LABELS else name

    def floats(self, columns: Sequence[int], first_row: int = 0) -> np.ndarray:
        """Cells of ``columns`` (rows from ``first_row``) as floats, shape (n_rows, n_columns).

        Raises ReadError naming the line and column of the first empty, non-numeric or
        non-finite cell.
        """
        raw = self.cells.iloc[first_row:, list(columns)].to_numpy(dtype=object)
        text = pd.Series(raw.ravel(), dtype=object).str.strip()
        if self.decimal == ",":
            text = text.str.replace(",", ".", regex=False)
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = divmod(int(np.argmax(bad)), len(columns))
            line = self.line_numbers[first_row + row]
            self._cell_error(line, columns[col], str(raw[row, col]).strip())
        return values.reshape(raw.shape)

    def _cell_error(self, line: int, column: int, cell: str) -> None:
        where = f"{self.path}, line {line}"
        label = f"(column {self.describe(column)})"
        if not cell:
            raise ReadError(f"{where}: empty cell {label}; missing values are not allowed")
        if _is_number(cell, self.decimal):
            raise ReadError(
                f"{where}: {cell!r} is not a finite number {label}; missing values are not allowed"
            )
        raise ReadError(f"{where}: could not parse {cell!r} as a number {label}")


def _pandas_sep(sep: str) -> str:
    return r"\s+" if sep == _WHITESPACE else sep


def _parse_cells(path: Path, lines: list[str], sep: str) -> pd.DataFrame:
    """Parse lines with pandas into a frame of stripped text cells."""
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)),
            sep=_pandas_sep(sep),
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    except (ValueError, pd.errors.ParserError) as err:  # pragma: no cover - guarded by checks
        raise ReadError(f"{path}: {err}") from err
    return frame


def _check_widths(path: Path, rows: list[tuple[int, str]], sep: str) -> int:
    """Every data line must have as many fields as the first; return that number."""
    first_line, first = rows[0]
    width = len(_split(first, sep))
    for number, line in rows:
        count = len(_split(line, sep))
        if count != width:
            raise ReadError(
                f"{path}, line {number}: expected {width} fields (as on line {first_line}), "
                f"found {count}"
            )
    return width


def _header_fields(path: Path, number: int, line: str, sep: str, width: int) -> list[str] | None:
    """Names in the header line, or None when a whitespace header does not match the data."""
    fields = [str(cell).strip() for cell in _parse_cells(path, [line], sep).iloc[0]]
    if len(fields) == width:
        return fields
    if sep == _WHITESPACE:
        return None  # names with spaces in a whitespace-separated file: keep only the text
    raise ReadError(f"{path}, line {number}: header has {len(fields)} fields, data lines {width}")


def _load_table(
    path: Path,
    *,
    sep: str | None,
    decimal: str | None,
    comment: str | None,
    header: bool | None,
) -> _Table:
    """Read a delimited file into text cells, sniffing separator, decimal mark and header."""
    sep = _check_format_options(sep, decimal)
    rows = _content_lines(_read_lines(path), comment)
    if not rows:
        raise ReadError(f"{path}: file is empty (no data lines)")
    sample = [line for _, line in rows[1 : 1 + _SNIFF_LINES]] or [rows[0][1]]
    sep = sep or _sniff_separator(sample, decimal)
    decimal = decimal or _sniff_decimal(sample, sep)
    if header is None:
        header = not any(_is_number(cell, decimal) for cell in _split(rows[0][1], sep))
    head, data = (rows[0], rows[1:]) if header else (None, rows)
    if not data:
        raise ReadError(f"{path}: no data lines after the header (line {rows[0][0]})")
    width = _check_widths(path, data, sep)
    cells = _parse_cells(path, [line for _, line in data], sep)
    if cells.shape != (len(data), width):  # pragma: no cover - quoting oddities
        raise ReadError(f"{path}: expected {len(data)} rows of {width} fields, got {cells.shape}")
    return _Table(
        path=path,
        header=None if head is None else _header_fields(path, head[0], head[1], sep, width),
        header_line=None if head is None else head[0],
        header_text=None if head is None else head[1].strip(),
        cells=cells,
        line_numbers=[number for number, _ in data],
        sep=sep,
        decimal=decimal,
    )


def _build(path: Path, factory: Callable[[], _T]) -> _T:
    """Run a container constructor, re-raising its ValueError/TypeError as ReadError(path)."""
    try:
        return factory()
    except (ValueError, TypeError) as err:
        raise ReadError(f"{path}: {err}") from err


def _table_metadata(table: _Table) -> dict[str, Any]:
    return {
        "source": str(table.path),
        "format": "text",
        "header": table.header_text,
        "columns": table.header,
        "separator": "whitespace" if table.sep == _WHITESPACE else table.sep,
        "decimal": table.decimal,
    }


# ---------------------------------------------------------------------------------------------
# single spectra from text
# ---------------------------------------------------------------------------------------------


def read_text(
    path: PathLike,
    *,
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
        The file.
    x_column, y_column : int or str
        Columns holding the axis and the intensities: index (0-based, negative allowed) or
        header name.
    sigma_column : int or str, optional
        Column of per-point uncertainties.
    sep : str, optional
        Field separator, one character (``' '`` = any run of whitespace). Sniffed from the data
        lines when None: tab, semicolon, comma or whitespace.
    decimal : {'.', ','}, optional
        Decimal mark; sniffed when None (``','`` is detected only with a non-comma separator,
        e.g. ``1,5;2,3``).
    comment : str or None
        Text after this marker is ignored; lines holding only a comment are skipped.
    header : bool, optional
        Whether the first non-comment line is a header; when None it is one if none of its
        fields is a number (so ``1,abc`` on the first line is reported as a bad cell).
    x_unit, y_unit : str
        Axis labels; when empty, the header names of the columns are used (generic names
        ``x``, ``y`` and ``sigma`` give an empty label).
    name : str, optional
        Spectrum name; defaults to the file stem.

    Returns
    -------
    Spectrum
        With ``metadata`` holding ``source``, ``header``, ``columns``, ``separator`` and
        ``decimal``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ReadError
        Empty file, a line with a different number of fields, an unknown column, an empty,
        non-numeric or non-finite cell (message: file, line, column), or data breaking the
        :class:`Spectrum` rules (message: file and the rule).
    """
    path = _existing_file(path)
    table = _load_table(path, sep=sep, decimal=decimal, comment=comment, header=header)
    keys = {"x": x_column, "y": y_column}
    if sigma_column is not None:
        keys["sigma"] = sigma_column
    indices = [table.column_index(key, role) for role, key in keys.items()]
    if len(set(indices)) != len(indices):
        v.fail("columns (x, y, sigma)", "be distinct", [table.describe(j) for j in indices])
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


# ---------------------------------------------------------------------------------------------
# JCAMP-DX
# ---------------------------------------------------------------------------------------------


def _run_jcamp(path: Path) -> dict[str, Any]:
    """Parse with the ``jcamp`` package; its printed data-check failures become ReadError."""
    import jcamp

    reader = getattr(jcamp, "jcamp_readfile", None) or jcamp.readfile
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            data = reader(str(path))
    except Exception as err:
        raise ReadError(
            f"{path}: not a readable JCAMP-DX file ({type(err).__name__}: {err})"
        ) from err
    problems = [line.strip() for line in printed.getvalue().splitlines() if line.strip()]
    if problems:
        raise ReadError(f"{path}: JCAMP-DX data check failed: {problems[0]}")
    return data


def _jcamp_arrays(path: Path, data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    if data.get("children"):
        raise ReadError(
            f"{path}: compound JCAMP-DX file (DATA TYPE=LINK, {len(data['children'])} blocks) "
            "is not supported; split it into one file per block"
        )
    x = np.asarray(data.get("x", []), dtype=np.float64)
    y = np.asarray(data.get("y", []), dtype=np.float64)
    if y.size == 0:
        raise ReadError(f"{path}: no XYDATA, XYPOINTS or PEAK TABLE block with data found")
    if x.size != y.size:
        raise ReadError(f"{path}, field XYDATA: {x.size} x values but {y.size} y values")
    npoints = data.get("npoints")
    if isinstance(npoints, int | float) and int(npoints) != y.size:
        raise ReadError(f"{path}, field NPOINTS: header says {int(npoints)}, data hold {y.size}")
    return x, y


def read_jcamp(
    path: PathLike, *, x_unit: str = "", y_unit: str = "", name: str | None = None
) -> Spectrum:
    """Read one spectrum from a JCAMP-DX file with the ``jcamp`` package.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.jdx``/``.dx`` file with an ``XYDATA=(X++(Y..Y))`` (AFFN or compressed ASDF),
        ``XYPOINTS`` or ``PEAK TABLE`` block. ``XFACTOR``/``YFACTOR`` are applied.
    x_unit, y_unit : str
        Axis labels; when empty, ``##XUNITS`` and ``##YUNITS`` are used.
    name : str, optional
        Spectrum name; defaults to ``##TITLE``, else the file stem.

    Returns
    -------
    Spectrum
        ``metadata`` holds every header field (lower-case keys, as ``jcamp`` gives them) plus
        ``source``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ReadError
        Unparsable file, no data block, x/y count mismatch, ``NPOINTS`` disagreeing with the
        data, a failed X/Y check of compressed data, a compound (LINK) file, or data breaking
        the :class:`Spectrum` rules.
    """
    path = _existing_file(path)
    if path.stat().st_size == 0:
        raise ReadError(f"{path}: file is empty")
    data = _run_jcamp(path)
    x, y = _jcamp_arrays(path, data)
    header = {key: value for key, value in data.items() if key not in {"x", "y", "children"}}
    header["source"] = str(path)
    title = str(data.get("title", "")).strip()
    return _build(
        path,
        lambda: Spectrum(
            x,
            y,
            x_unit=x_unit or str(data.get("xunits", "")).strip(),
            y_unit=y_unit or str(data.get("yunits", "")).strip(),
            name=name if name is not None else (title or path.stem),
            metadata=header,
        ),
    )


# ---------------------------------------------------------------------------------------------
# SPC
# ---------------------------------------------------------------------------------------------

_SPC_X_UNITS = {
    "XARB": "", "XWAVEN": "cm-1", "XUMETR": "um", "XNMETR": "nm", "XSECS": "s",
    "XMINUTS": "min", "XHERTZ": "Hz", "XKHERTZ": "kHz", "XMHERTZ": "MHz", "XMUNITS": "m/z",
    "XPPM": "ppm", "XDAYS": "days", "XYEARS": "years", "XRAMANS": "Raman shift (cm-1)",
    "XEV": "eV", "XDIODE": "diode number", "XCHANL": "channel", "XDEGRS": "degrees",
    "XDEGRF": "degF", "XDEGRC": "degC", "XDEGRK": "K", "XPOINT": "data points", "XMSEC": "ms",
    "XUSEC": "us", "XNSEC": "ns", "XGHERTZ": "GHz", "XCM": "cm", "XMETERS": "m", "XMMETR": "mm",
    "XHOURS": "h",
}  # fmt: skip
_SPC_Y_UNITS = {
    "YARB": "", "YIGRAM": "interferogram", "YABSRB": "absorbance", "YKMONK": "Kubelka-Munk",
    "YCOUNT": "counts", "YVOLTS": "V", "YDEGRS": "degrees", "YAMPS": "mA", "YMETERS": "mm",
    "YMVOLTS": "mV", "YLOGDR": "log(1/R)", "YPERCNT": "%", "YINTENS": "intensity",
    "YRELINT": "relative intensity", "YENERGY": "energy", "YDECBL": "dB", "YDEGRF": "degF",
    "YDEGRC": "degC", "YDEGRK": "K", "YINDRF": "refractive index",
    "YEXTCF": "extinction coefficient", "YREAL": "real", "YIMAG": "imaginary",
    "YCMPLX": "complex", "YTRANS": "transmittance", "YREFLEC": "reflectance",
    "YVALLEY": "arbitrary (valley peaks)", "YEMISN": "emission",
}  # fmt: skip


class _ListHandler(logging.Handler):
    def __init__(self, records: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


@contextlib.contextmanager
def _captured_warnings(logger_name: str) -> Iterator[list[str]]:
    """Collect a library's logged warnings instead of letting them reach the root logger."""
    logger = logging.getLogger(logger_name)
    records: list[str] = []
    handler = _ListHandler(records)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _c_text(value: Any) -> str:
    """Decode a fixed-size C char field (bytes up to the first NUL)."""
    raw = bytes(value) if not isinstance(value, str) else value.encode("latin-1")
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def _load_spc(path: Path) -> tuple[Any, Any, list[str]]:
    from spc_io import SPC, SpcRaw

    if path.stat().st_size == 0:
        raise ReadError(f"{path}: file is empty")
    with _captured_warnings("spc_io") as warnings, path.open("rb") as handle:
        try:
            raw = SpcRaw.from_bytes_io(handle)
            spc = SPC.from_spc_raw(raw)
        except Exception as err:
            raise ReadError(
                f"{path}: not a readable SPC file ({type(err).__name__}: {err})"
            ) from err
    return raw, spc, warnings


def _spc_labels(raw: Any, spc: Any) -> tuple[str, str]:
    """Axis labels from the SPC type codes, or from the custom labels (TALABS) when set."""
    x_unit = _SPC_X_UNITS.get(str(spc.xtype), str(spc.xtype))
    y_unit = _SPC_Y_UNITS.get(str(spc.ytype), str(spc.ytype))
    header = raw.main_header
    if header.ftflgs.TALABS:
        labels = bytes(header.fcatxt).split(b"\0")
        custom = [label.decode("latin-1").strip() for label in labels]
        x_unit = custom[0] if custom and custom[0] else x_unit
        y_unit = custom[1] if len(custom) > 1 and custom[1] else y_unit
    return x_unit, y_unit


def _spc_metadata(path: Path, raw: Any, spc: Any, warnings: list[str]) -> dict[str, Any]:
    header = raw.main_header
    date = None if spc.date == datetime.fromtimestamp(0) else spc.date.isoformat()
    return {
        "source": str(path),
        "format": "spc",
        "memo": _c_text(header.fcmnt),
        "date": date,
        "xtype": str(spc.xtype),
        "ytype": str(spc.ytype),
        "experiment": str(header.fexper),
        "n_subfiles": len(spc),
        "log": dict(spc.log_book.text),
        "reader_warnings": list(warnings),
    }


def read_spc(
    path: PathLike,
    *,
    subfile: int | None = None,
    x_unit: str = "",
    y_unit: str = "",
    name: str | None = None,
) -> Spectrum:
    """Read one spectrum from a Galactic/Thermo GRAMS ``.spc`` file with the ``spc-io`` package.

    Parameters
    ----------
    path : str or os.PathLike
        The file (new-format, little-endian SPC; evenly spaced, global or per-subfile x).
    subfile : int, optional
        Which subfile to return (0-based). When None the file must hold exactly one subfile:
        a multi-subfile file raises ``ReadError`` rather than silently returning the first.
    x_unit, y_unit : str
        Axis labels; when empty, taken from the file's x/y type codes (e.g. ``XWAVEN`` ->
        ``'cm-1'``, ``YABSRB`` -> ``'absorbance'``) or its custom labels.
    name : str, optional
        Spectrum name; defaults to the file stem.

    Returns
    -------
    Spectrum
        ``metadata`` holds ``memo``, ``date`` (ISO text or None), ``xtype``, ``ytype``,
        ``experiment``, ``n_subfiles``, ``log`` (log-book text) and ``source``; with
        ``subfile`` given also the subfile's ``w``/``z`` values.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ReadError
        Empty, truncated or unsupported file, several subfiles without ``subfile``, a
        ``subfile`` out of range, or data breaking the :class:`Spectrum` rules.
    """
    path = _existing_file(path)
    raw, spc, warnings = _load_spc(path)
    count = len(spc)
    if count == 0:
        raise ReadError(f"{path}: SPC file holds no subfile")
    if subfile is None and count > 1:
        raise ReadError(
            f"{path}: SPC file holds {count} subfiles; pass subfile=0..{count - 1} to pick one"
        )
    index = 0 if subfile is None else v.check_positive_int("subfile", subfile, minimum=0)
    if index >= count:
        raise ReadError(f"{path}: subfile {index} out of range; the file holds {count}")
    sub = spc[index]
    metadata = _spc_metadata(path, raw, spc, warnings)
    if subfile is not None:
        metadata.update(subfile=index, w=sub.w, z=sub.z)
    labels = _spc_labels(raw, spc)
    return _build(
        path,
        lambda: Spectrum(
            np.asarray(sub.xarray, dtype=np.float64),
            np.asarray(sub.yarray, dtype=np.float64),
            x_unit=x_unit or labels[0],
            y_unit=y_unit or labels[1],
            name=path.stem if name is None else name,
            metadata=metadata,
        ),
    )


# ---------------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------------


def read_spectrum(path: PathLike, **kwargs: Any) -> Spectrum:
    """Read one spectrum, choosing the reader from the file extension (case-insensitive).

    ``.csv .txt .tsv .dat .xy .prn`` -> :func:`deconv.io.read_text`; ``.jdx .dx .jcamp`` ->
    :func:`deconv.io.read_jcamp`; ``.spc`` -> :func:`deconv.io.read_spc`. Keyword arguments go
    to that reader.

    Raises
    ------
    ValueError
        Unknown extension (the message names the path and the supported extensions).
    FileNotFoundError, ReadError
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
    return readers[suffix](path, **kwargs)


# ---------------------------------------------------------------------------------------------
# series (wide tables)
# ---------------------------------------------------------------------------------------------


def _property_values(cells: pd.Series, decimal: str) -> pd.Series:
    """Numbers when every non-empty cell is one (empty -> NaN), else the stripped text."""
    text = cells.astype(str).str.strip()
    numbers = pd.to_numeric(
        text.str.replace(",", ".", regex=False) if decimal == "," else text, errors="coerce"
    )
    return numbers if bool((numbers.notna() | (text == "")).all()) else text


def _pick_label(table: _Table, labels: list[str], key: Column, role: str) -> int:
    """Index of an id/property column (or row) named ``key`` among ``labels``."""
    if isinstance(key, str) and key in labels:
        return labels.index(key)
    if isinstance(key, int | np.integer) and not isinstance(key, bool) and 0 <= key < len(labels):
        return int(key)
    raise ReadError(f"{table.path}: {role} {key!r} not found; available: {labels}")


def _guess_orientation(table: _Table) -> str:
    """'rows' when at least half of the header cells after the first are numbers."""
    cells = table.header[1:]
    numeric = sum(_is_number(cell, table.decimal) for cell in cells)
    return "rows" if numeric and 2 * numeric >= len(cells) else "columns"


def _row_ids(table: _Table, column: int | None) -> list[str] | None:
    if column is None:
        return None
    ids = [str(cell).strip() for cell in table.cells.iloc[:, column]]
    for line, sample_id in zip(table.line_numbers, ids, strict=True):
        if not sample_id:
            raise ReadError(
                f"{table.path}, line {line}: empty sample id (column {table.describe(column)})"
            )
    return ids


def _leading_labels(table: _Table) -> int:
    """Number of leading non-numeric header cells; the rest must all be numbers (the x axis)."""
    header, decimal = table.header, table.decimal
    n_labels = next((j for j, cell in enumerate(header) if _is_number(cell, decimal)), None)
    if n_labels is None:
        raise ReadError(f"{table.path}, line {table.header_line}: no numeric x values in header")
    for j in range(n_labels, len(header)):
        if not _is_number(header[j], decimal):
            raise ReadError(
                f"{table.path}, line {table.header_line}: header cell {header[j]!r} (column {j}) "
                "is not a number; x values must follow the id and property columns"
            )
    return n_labels


def _series_rows(
    table: _Table, id_column: Column | None, property_columns: Sequence[Column] | None
) -> tuple[np.ndarray, np.ndarray, list[str] | None, pd.DataFrame | None, str]:
    n_labels = _leading_labels(table)
    labels = table.header[:n_labels]
    x = np.array([float(_to_dot(cell, table.decimal)) for cell in table.header[n_labels:]])
    y = table.floats(range(n_labels, table.n_columns))
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
    return x, y, ids, properties, ""


def _series_columns(
    table: _Table, id_column: Column | None, property_columns: Sequence[Column] | None
) -> tuple[np.ndarray, np.ndarray, list[str] | None, pd.DataFrame | None, str]:
    if id_column is not None:
        v.fail(
            "id_column", "be None with orientation='columns' (the header holds the ids)", id_column
        )
    ids = table.header[1:]
    first = [str(cell).strip() for cell in table.cells.iloc[:, 0]]
    n_props = next((i for i, cell in enumerate(first) if _is_number(cell, table.decimal)), None)
    if n_props is None:
        raise ReadError(f"{table.path}: no data rows (first column holds no number)")
    values = table.floats(range(table.n_columns), first_row=n_props)
    names = first[:n_props]
    if property_columns is None:
        chosen = list(range(n_props))
    else:
        chosen = [_pick_label(table, names, key, "property row") for key in property_columns]
    properties = None
    if chosen:
        rows = {names[i]: _property_values(table.cells.iloc[i, 1:], table.decimal) for i in chosen}
        properties = pd.DataFrame({k: row.to_numpy() for k, row in rows.items()}, index=ids)
    return values[:, 0], values[:, 1:].T, ids, properties, table.label(0)


def read_series(
    path: PathLike,
    *,
    orientation: str = "auto",
    id_column: Column | None = None,
    property_columns: Sequence[Column] | None = None,
    x_unit: str = "",
    y_unit: str = "",
    sep: str | None = None,
    decimal: str | None = None,
    comment: str | None = "#",
) -> SpectrumSeries:
    """Read many spectra on one axis from a wide table with a header line.

    Parameters
    ----------
    path : str or os.PathLike
        The file (separator and decimal mark sniffed as in :func:`deconv.io.read_text`).
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
        As in :func:`deconv.io.read_text`.

    Returns
    -------
    SpectrumSeries
        With ``properties`` indexed by sample id, and ``metadata`` holding ``source`` and
        ``orientation``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ReadError
        As in :func:`deconv.io.read_text`; also a non-numeric x value in a rows header, an unknown
        id/property column, an empty sample id, or duplicate sample ids.
    """
    v.check_choice("orientation", orientation, ("auto", "rows", "columns"))
    path = _existing_file(path)
    table = _load_table(path, sep=sep, decimal=decimal, comment=comment, header=True)
    if table.header is None:
        raise ReadError(f"{path}, line {table.header_line}: header fields do not match the data")
    if orientation == "auto":
        orientation = _guess_orientation(table)
    reader = _series_rows if orientation == "rows" else _series_columns
    x, y, ids, properties, x_label = reader(table, id_column, property_columns)
    metadata = {**_table_metadata(table), "orientation": orientation}
    return _build(
        path,
        lambda: SpectrumSeries(
            x,
            y,
            sample_ids=ids,
            properties=properties,
            x_unit=x_unit or x_label,
            y_unit=y_unit,
            metadata=metadata,
        ),
    )


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------


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
        if str(column) == _ID_COLUMN or _is_number(str(column), "."):
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
