"""Delimited text files as tables of text cells: decoding, sniffing, header, cell parsing.

Used by the text and series readers of :mod:`deconv.io`. Every failure is a
:class:`~deconv.exceptions.ReadError` naming the file and, where there is one, the line.
"""

from __future__ import annotations

import codecs
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from deconv import _validation as v
from deconv.exceptions import ReadError

Column = int | str

WHITESPACE = " "  # internal separator code: any run of spaces and tabs
_SEPARATORS = ("\t", ";", ",", WHITESPACE)  # sniffing order (earlier wins ties)
_SNIFF_LINES = 20
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")
_GENERIC_LABELS = frozenset({"x", "y", "sigma"})
_QUOTED = re.compile(r'^"(.*)"$', re.DOTALL)
# byte-order marks, longest first: the UTF-32 LE mark begins with the UTF-16 LE one
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_INTEGER = re.compile(r"^[+-]?\d+$")
_FRACTION = re.compile(r"^\d+(?:[eE][+-]?\d+)?$")

# ---------------------------------------------------------------------------------------------
# files and lines
# ---------------------------------------------------------------------------------------------


def _utf16_without_bom(raw: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the bytes look like ASCII text in UTF-16 without a BOM."""
    sample = raw[:512]
    if len(raw) % 2 or len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if not odd.strip(b"\0") and b"\0" not in even:
        return "utf-16-le"
    if not even.strip(b"\0") and b"\0" not in odd:
        return "utf-16-be"
    return None


def decode(path: Path, raw: bytes) -> str:
    """The text of a file's bytes.

    UTF-32, UTF-16 and UTF-8 with a byte-order mark are decoded as such; UTF-16 without a mark
    is recognised by its NUL bytes when the text is ASCII; anything else is UTF-8, or Latin-1
    when it is not valid UTF-8. Raises ReadError for invalid UTF-16/32 after a mark and for
    text holding NUL characters (a binary file or an unsupported encoding), naming the line.
    """
    candidates = [name for bom, name in _BOMS if raw.startswith(bom)]
    if not candidates and b"\0" in raw:
        guess = _utf16_without_bom(raw)
        candidates = [guess] if guess else []
    text, error = None, None
    for codec in candidates:
        try:
            text = raw.decode(codec)
            break
        except UnicodeDecodeError as err:
            error = err
    if text is None and candidates and candidates[-1] != "utf-8-sig":
        raise ReadError(
            f"{path}: not valid {candidates[-1].upper()} text "
            f"({error.reason} at byte {error.start})"
        )
    if text is None:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise ReadError(
            f"{path}, line {line}: NUL character: not a text file, or text in an encoding "
            "other than UTF-8, UTF-16, UTF-32 or Latin-1"
        )
    return text


def read_lines(path: Path) -> list[str]:
    """The file's lines (see :func:`decode` for the encodings), line ends removed."""
    return decode(path, path.read_bytes()).splitlines()


def content_lines(
    lines: list[str], comment: str | None, first_number: int = 1
) -> list[tuple[int, str]]:
    """(1-based line number, text) of every line that is neither blank nor a comment.

    Trailing comments (``1.0,2.0 # note``) are cut off. ``first_number`` is the file line
    number of ``lines[0]`` (``skiprows + 1`` when lines were skipped).
    """
    kept = []
    for number, line in enumerate(lines, start=first_number):
        if comment:
            line = line.split(comment, 1)[0]
        if line.strip():
            kept.append((number, line))
    return kept


# ---------------------------------------------------------------------------------------------
# cells and sniffing
# ---------------------------------------------------------------------------------------------


def split(line: str, sep: str) -> list[str]:
    return line.split() if sep == WHITESPACE else line.split(sep)


def unquote(cell: str) -> str:
    """The stripped cell without one pair of enclosing double quotes (``"1.5"`` -> ``1.5``)."""
    text = cell.strip()
    return text[1:-1].strip() if len(text) >= 2 and text[0] == text[-1] == '"' else text


def to_dot(cell: str, decimal: str | None) -> str:
    text = unquote(cell)
    return text if decimal == "." else text.replace(",", ".")


def is_number(cell: str, decimal: str | None) -> bool:
    """Whether ``cell`` reads as a float (NaN and inf included, quotes allowed)."""
    text = to_dot(cell, decimal)
    if "_" in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sniff_separator(lines: list[str], decimal: str | None) -> str:
    """Pick the separator that splits ``lines`` into the most all-numeric rows of >= 2 fields."""
    best, best_score = WHITESPACE, None
    for rank, sep in enumerate(_SEPARATORS):
        if sep == "," and decimal == ",":
            continue
        rows = [split(line, sep) for line in lines]
        width, hits = Counter(len(row) for row in rows).most_common(1)[0]
        if width < 2:
            continue
        numeric = sum(all(is_number(cell, decimal) for cell in row) for row in rows)
        score = (numeric, hits, -rank)
        if best_score is None or score > best_score:
            best, best_score = sep, score
    return best


def _sniff_decimal(lines: list[str], sep: str) -> str:
    """``","`` when cells such as ``1,5`` occur (never with a comma separator), else ``"."``."""
    if sep == ",":
        return "."
    cells = (unquote(cell) for line in lines for cell in split(line, sep))
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


def _check_line_options(skiprows: int, comment: str | None, sep: str | None) -> int:
    """Validate ``skiprows`` (an int >= 0) and ``comment`` (None, or a marker that is not blank,
    holds no line break and is not the separator); return ``skiprows`` as an int."""
    skiprows = v.check_positive_int("skiprows", skiprows, minimum=0)
    if comment is not None and not isinstance(comment, str):
        v.fail("comment", "be None or a non-empty string", comment, error=TypeError)
    if comment is None:
        return skiprows
    if not comment.strip() or "\n" in comment or "\r" in comment:
        v.fail("comment", "be None (no comments) or visible characters on one line", comment)
    if comment == sep:
        v.fail("comment", "differ from the separator", comment)
    return skiprows


# ---------------------------------------------------------------------------------------------
# the table of text cells
# ---------------------------------------------------------------------------------------------


@dataclass
class Table:
    """Text cells of a delimited file, with the file line of every row."""

    path: Path
    header: list[str] | None
    header_line: int | None
    header_text: str | None
    cells: pd.DataFrame
    line_numbers: list[int]
    sep: str
    decimal: str
    sniffed: bool = False  # separator and decimal mark both guessed
    skiprows: int = 0
    preamble: str = ""  # the lines skipped with ``skiprows``, joined by newlines

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

    def parse(self, columns: Sequence[int], first_row: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(text cells, floats) of ``columns`` from ``first_row``; bad cells become NaN."""
        raw = self.cells.iloc[first_row:, list(columns)].to_numpy(dtype=object)
        text = pd.Series(raw.ravel(), dtype=object).str.strip()
        text = text.str.replace(_QUOTED, r"\1", regex=True)
        if self.decimal == ",":
            text = text.str.replace(",", ".", regex=False)
        values = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        return raw, values.reshape(raw.shape)

    def floats(self, columns: Sequence[int], first_row: int = 0) -> np.ndarray:
        """Cells of ``columns`` (rows from ``first_row``) as floats, shape (n_rows, n_columns).

        Raises ReadError naming the line and column of the first empty, non-numeric or
        non-finite cell.
        """
        raw, values = self.parse(columns, first_row)
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = divmod(int(np.argmax(bad)), len(columns))
            raise ReadError(self.cell_error(first_row + row, columns[col], str(raw[row, col])))
        return values

    def cell_error(self, row: int, column: int, cell: str) -> str:
        """The message for a bad cell at table ``row`` (0-based) and ``column``."""
        cell = cell.strip()
        where = f"{self.path}, line {self.line_numbers[row]}"
        label = f"(column {self.describe(column)})"
        if not cell:
            return f"{where}: empty cell {label}; missing values are not allowed"
        if is_number(cell, self.decimal):
            return (
                f"{where}: {cell!r} is not a finite number {label}; missing values are not allowed"
            )
        return f"{where}: could not parse {cell!r} as a number {label}"


def _pandas_sep(sep: str) -> str:
    return r"\s+" if sep == WHITESPACE else sep


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
    width = len(split(first, sep))
    for number, line in rows:
        count = len(split(line, sep))
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
    if sep == WHITESPACE:
        return None  # names with spaces in a whitespace-separated file: keep only the text
    raise ReadError(f"{path}, line {number}: header has {len(fields)} fields, data lines {width}")


def load_table(
    path: Path,
    *,
    sep: str | None,
    decimal: str | None,
    comment: str | None,
    header: bool | None,
    skiprows: int = 0,
) -> Table:
    """Read a delimited file into text cells, sniffing separator, decimal mark and header.

    The first ``skiprows`` lines are set aside (``Table.preamble``) before anything else;
    line numbers in messages stay those of the file.
    """
    skiprows = _check_line_options(skiprows, comment, sep)
    sep = _check_format_options(sep, decimal)
    sniffed = sep is None and decimal is None
    lines = read_lines(path)
    rows = content_lines(lines[skiprows:], comment, first_number=skiprows + 1)
    if not rows and skiprows:
        raise ReadError(
            f"{path}: no data lines after skipping the first {skiprows} lines "
            f"(skiprows={skiprows}); the file has {len(lines)} lines"
        )
    if not rows:
        raise ReadError(f"{path}: file is empty (no data lines)")
    sample = [line for _, line in rows[1 : 1 + _SNIFF_LINES]] or [rows[0][1]]
    sep = sep or _sniff_separator(sample, decimal)
    decimal = decimal or _sniff_decimal(sample, sep)
    if header is None:
        header = not any(is_number(cell, decimal) for cell in split(rows[0][1], sep))
    head, data = (rows[0], rows[1:]) if header else (None, rows)
    if not data:
        raise ReadError(f"{path}: no data lines after the header (line {rows[0][0]})")
    width = _check_widths(path, data, sep)
    cells = _parse_cells(path, [line for _, line in data], sep)
    if cells.shape != (len(data), width):  # pragma: no cover - quoting oddities
        raise ReadError(f"{path}: expected {len(data)} rows of {width} fields, got {cells.shape}")
    return Table(
        path=path,
        header=None if head is None else _header_fields(path, head[0], head[1], sep, width),
        header_line=None if head is None else head[0],
        header_text=None if head is None else head[1].strip(),
        cells=cells,
        line_numbers=[number for number, _ in data],
        sep=sep,
        decimal=decimal,
        sniffed=sniffed,
        skiprows=skiprows,
        preamble="\n".join(lines[:skiprows]),
    )


def check_comma_pairs(table: Table, n_columns: int) -> None:
    """Refuse a comma-separated file that reads as decimal commas split by the separator.

    ``1001,5,0,25`` is either four integer columns or the point (1001.5, 0.25) written with
    decimal commas *and* comma separators, which no reader can tell apart. The rule, chosen so
    that ordinary integer tables with a header, with their own column count or with an explicit
    separator still read: the separator and the decimal mark were both sniffed, the separator
    is a comma, there is no header line (a header with as many names as the data has fields
    settles the column count), every data line has exactly ``2 * n_columns`` fields (twice the
    columns the reader takes), and on every line each pair is an integer followed by unsigned
    digits (optionally with an exponent), as an integer and a fraction would be. Passing
    ``sep=','`` reads such a file as integer columns.
    """
    if not table.sniffed or table.sep != "," or table.header is not None:
        return
    if table.n_columns != 2 * n_columns:
        return
    cells = table.cells.to_numpy(dtype=object)
    whole = all(_INTEGER.match(unquote(str(cell))) for cell in cells[:, 0::2].ravel())
    if not whole or not all(_FRACTION.match(unquote(str(cell))) for cell in cells[:, 1::2].ravel()):
        return
    line = table.line_numbers[0]
    first = ",".join(str(cell).strip() for cell in cells[0])
    raise ReadError(
        f"{table.path}, line {line}: {first!r} is ambiguous: {table.n_columns} comma-separated "
        f"integers, or {n_columns} numbers with decimal commas? Decimal commas need a semicolon "
        "or tab separator (then pass sep=';', decimal=',' or sep='\\t', decimal=','); pass "
        f"sep=',' to read {table.n_columns} integer columns"
    )
