"""Tests of deconv.io: text, JCAMP-DX and SPC readers, wide series tables, writers, errors."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv import io as dio
from deconv.exceptions import ReadError
from deconv.spectrum import Spectrum, SpectrumSeries

DATA = Path(__file__).parent / "data" / "io"


def _write(folder: Path, name: str, text: str, newline: str = "\n") -> Path:
    path = folder / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


# --------------------------------------------------------------------------------------------
# text: separators, header, decimal mark, columns
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        ("1.0,10.0\n2.0,20.5\n3.0,30.25\n", ","),
        ("1.0;10.0\n2.0;20.5\n3.0;30.25\n", ";"),
        ("1.0\t10.0\n2.0\t20.5\n3.0\t30.25\n", "\t"),
        ("  1.0   10.0\n 2.0 20.5\n3.0\t 30.25  \n", "whitespace"),
        ("1.0, 10.0\n2.0,  20.5\n3.0 ,30.25\n", ","),
    ],
)
def test_read_text_separators(tmp_path, text, separator):
    spectrum = dio.read_text(_write(tmp_path, "s.txt", text))
    np.testing.assert_array_equal(spectrum.x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(spectrum.y, [10.0, 20.5, 30.25])
    assert spectrum.metadata["separator"] == separator
    assert spectrum.metadata["decimal"] == "."
    assert spectrum.name == "s"


def test_read_text_explicit_separator(tmp_path):
    path = _write(tmp_path, "s.dat", "1|5\n2|6\n")
    spectrum = dio.read_text(path, sep="|")
    np.testing.assert_array_equal(spectrum.y, [5.0, 6.0])


def test_read_text_header_names_become_units(tmp_path):
    path = _write(tmp_path, "s.csv", "wavenumber_cm-1,absorbance\n1000,0.5\n1001,0.25\n")
    spectrum = dio.read_text(path)
    assert (spectrum.x_unit, spectrum.y_unit) == ("wavenumber_cm-1", "absorbance")
    assert spectrum.metadata["columns"] == ["wavenumber_cm-1", "absorbance"]
    assert spectrum.metadata["header"] == "wavenumber_cm-1,absorbance"
    np.testing.assert_array_equal(spectrum.y, [0.5, 0.25])


def test_read_text_explicit_units_override_header(tmp_path):
    path = _write(tmp_path, "s.csv", "a,b\n1,2\n3,4\n")
    spectrum = dio.read_text(path, x_unit="nm", y_unit="counts", name="sample 7")
    assert (spectrum.x_unit, spectrum.y_unit, spectrum.name) == ("nm", "counts", "sample 7")


def test_read_text_without_header(tmp_path):
    spectrum = dio.read_text(_write(tmp_path, "s.csv", "1,2\n3,4\n"))
    assert spectrum.metadata["header"] is None
    assert (spectrum.x_unit, spectrum.y_unit) == ("", "")
    np.testing.assert_array_equal(spectrum.x, [1.0, 3.0])


def test_read_text_numeric_first_line_forced_as_header(tmp_path):
    spectrum = dio.read_text(_write(tmp_path, "s.csv", "0,0\n1,2\n3,4\n"), header=True)
    np.testing.assert_array_equal(spectrum.x, [1.0, 3.0])


@pytest.mark.parametrize(
    ("text", "kwargs"),
    [
        ("x;y\n1,5;2,25\n2,5;-3,75e1\n", {}),
        ("1,5\t2,25\n2,5\t-3,75e1\n", {}),
        ("1,5 2,25\n2,5 -3,75e1\n", {}),
        ("1,5\t2,25\n2,5\t-3,75e1\n", {"decimal": ","}),
        ("1,5;2,25\n2,5;-3,75e1\n", {"sep": ";", "decimal": ","}),
    ],
)
def test_read_text_decimal_comma(tmp_path, text, kwargs):
    spectrum = dio.read_text(_write(tmp_path, "s.csv", text), **kwargs)
    np.testing.assert_array_equal(spectrum.x, [1.5, 2.5])
    np.testing.assert_array_equal(spectrum.y, [2.25, -37.5])
    assert spectrum.metadata["decimal"] == ","


def test_read_text_column_selection(tmp_path):
    text = "time,shift,counts,err\n0,100,5,0.5\n1,101,6,0.25\n2,102,8,0.125\n"
    path = _write(tmp_path, "s.csv", text)
    by_name = dio.read_text(path, x_column="shift", y_column="counts", sigma_column="err")
    by_index = dio.read_text(path, x_column=1, y_column=-2, sigma_column=3)
    for spectrum in (by_name, by_index):
        np.testing.assert_array_equal(spectrum.x, [100.0, 101.0, 102.0])
        np.testing.assert_array_equal(spectrum.y, [5.0, 6.0, 8.0])
        np.testing.assert_array_equal(spectrum.sigma, [0.5, 0.25, 0.125])
        assert (spectrum.x_unit, spectrum.y_unit) == ("shift", "counts")


def test_read_text_descending_axis(tmp_path):
    spectrum = dio.read_text(_write(tmp_path, "s.csv", "3,30\n2,20\n1,10\n"))
    assert spectrum.descending
    np.testing.assert_array_equal(spectrum.x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(spectrum.y, [10.0, 20.0, 30.0])


def test_read_text_comments_blank_lines_and_crlf(tmp_path):
    text = "# exported by hand\n\nx\ty   # a header\n1\t2 # first point\n\n# gap\n2\t3\n"
    spectrum = dio.read_text(_write(tmp_path, "s.tsv", text, newline="\r\n"))
    np.testing.assert_array_equal(spectrum.x, [1.0, 2.0])
    np.testing.assert_array_equal(spectrum.y, [2.0, 3.0])
    assert (spectrum.x_unit, spectrum.y_unit) == ("", "")  # generic names x, y


def test_read_text_whitespace_header_with_spaces_keeps_text(tmp_path):
    text = "Raman shift (cm-1)   intensity\n100 5\n101 6\n"
    spectrum = dio.read_text(_write(tmp_path, "s.txt", text))
    assert spectrum.metadata["columns"] is None
    assert spectrum.metadata["header"] == "Raman shift (cm-1)   intensity"
    np.testing.assert_array_equal(spectrum.y, [5.0, 6.0])


def test_read_text_real_xps_file(shared_data):
    spectrum = dio.read_text(shared_data / "lg4x-xps" / "PET_C1s.csv")
    assert spectrum.n_points == 401
    assert spectrum.descending
    assert (spectrum.x_unit, spectrum.y_unit) == ("BE/eV", "InPET_C1s")
    assert spectrum.x[0] == pytest.approx(279.300817131996, abs=1e-9)
    assert spectrum.x[-1] == pytest.approx(299.300817131996, abs=1e-9)
    assert spectrum.y[-1] == 324.2826


def test_read_text_real_raman_file_with_commented_header(shared_data):
    spectrum = dio.read_text(shared_data / "rampy-morb-iron-raman" / "spectra" / "r145.txt")
    assert spectrum.n_points == 1015
    assert spectrum.descending
    assert spectrum.metadata["separator"] == "\t"
    assert spectrum.x[-1] == 1346.21875
    assert spectrum.y[-1] == 9544.256836


# --------------------------------------------------------------------------------------------
# text: skipped preambles, comment markers, y before x
# --------------------------------------------------------------------------------------------

NIST_LIKE_Y = [
    12.844, 25.049, 36.493, 47.349, 57.727, 67.498, 76.657, 85.4, 93.746, 101.552,
    108.894, 115.948, 122.644, 128.871, 134.775, 140.47, 145.823, 150.792, 155.558, 160.15,
]  # fmt: skip


def test_read_nist_like_file_with_60_line_header_and_y_before_x():
    path = DATA / "nist_like_y_x.dat"
    spectrum = dio.read_spectrum(path, skiprows=60, x_column=1, y_column=0)
    np.testing.assert_array_equal(spectrum.x, np.arange(10.0, 201.0, 10.0))
    np.testing.assert_array_equal(spectrum.y, NIST_LIKE_Y)
    assert spectrum.sigma is None
    assert spectrum.metadata["skiprows"] == 60
    assert spectrum.metadata["header"] is None
    preamble = spectrum.metadata["preamble"].split("\n")
    assert len(preamble) == 60
    assert preamble[0].startswith("Synthetic test data in the layout of a NIST StRD")
    assert preamble[59] == "Data:   y               x"
    with pytest.raises(ReadError) as info:  # the prose is not data
        dio.read_text(path, x_column=1, y_column=0)
    assert str(info.value) == f"{path}, line 4: expected 10 fields (as on line 2), found 4"


PREAMBLE = (
    "Instrument: LabRAM, grating 600; laser 532 nm\n"
    "# not a comment here: these lines are skipped whole\n"
    "\n"
    "acquired 2024-06-11, 3 x 10 s\n"
)


def test_skiprows_then_header_names_and_sigma_column(tmp_path):
    text = PREAMBLE + "counts;shift;err\n5;100;0,5\n6;101;0,25\n8;102;0,125\n"
    path = _write(tmp_path, "raman.csv", text)
    by_name = dio.read_text(
        path, skiprows=4, x_column="shift", y_column="counts", sigma_column="err"
    )
    by_index = dio.read_text(path, skiprows=4, x_column=1, y_column=0, sigma_column=-1)
    for spectrum in (by_name, by_index):
        np.testing.assert_array_equal(spectrum.x, [100.0, 101.0, 102.0])
        np.testing.assert_array_equal(spectrum.y, [5.0, 6.0, 8.0])
        np.testing.assert_array_equal(spectrum.sigma, [0.5, 0.25, 0.125])
        assert (spectrum.x_unit, spectrum.y_unit) == ("shift", "counts")
        assert spectrum.metadata["columns"] == ["counts", "shift", "err"]
        assert spectrum.metadata["skiprows"] == 4
        assert spectrum.metadata["preamble"] == PREAMBLE.rstrip("\n")
    plain = dio.read_text(_write(tmp_path, "plain.csv", "1,2\n3,4\n"))
    assert (plain.metadata["skiprows"], plain.metadata["preamble"]) == (0, "")


def test_skiprows_error_messages_count_the_skipped_lines(tmp_path):
    path = _write(tmp_path, "late.csv", PREAMBLE + "x,y\n1,2\n2,oops\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path, skiprows=4)
    assert str(info.value) == f"{path}, line 7: could not parse 'oops' as a number (column 1 ('y'))"
    with pytest.raises(ReadError) as info:
        dio.read_text(path, skiprows=5, y_column="intensity")
    assert str(info.value) == (
        f"{path}: y column 'intensity' not found; available columns: 0, 1 (no header line)"
    )


@pytest.mark.parametrize(("skiprows", "n_lines"), [(7, 7), (9, 7)])
def test_skiprows_past_the_data(tmp_path, skiprows, n_lines):
    path = _write(tmp_path, "short.csv", PREAMBLE + "x,y\n1,2\n2,3\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path, skiprows=skiprows)
    assert str(info.value) == (
        f"{path}: no data lines after skipping the first {skiprows} lines "
        f"(skiprows={skiprows}); the file has {n_lines} lines"
    )


def test_comment_marker_and_no_comments(tmp_path):
    text = "% exported\nx y % units: nm, counts\n1 2\n2 3 % last\n"
    spectrum = dio.read_text(_write(tmp_path, "pct.txt", text), comment="%")
    np.testing.assert_array_equal(spectrum.x, [1.0, 2.0])
    np.testing.assert_array_equal(spectrum.y, [2.0, 3.0])
    hashed = _write(tmp_path, "hash.csv", "x,y\n1,2\n#2,3\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(hashed, comment=None, skiprows=0)
    assert str(info.value) == f"{hashed}, line 3: could not parse '#2' as a number (column 0 ('x'))"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"skiprows": -1}, ValueError, "skiprows must be >= 0; got -1"),
        ({"skiprows": 1.5}, TypeError, "skiprows must be an integer; got 1.5"),
        ({"skiprows": True}, TypeError, "skiprows must be an integer; got True"),
        ({"skiprows": "60"}, TypeError, "skiprows must be an integer; got '60'"),
        ({"comment": 5}, TypeError, "comment must be None or a non-empty string; got 5"),
        (
            {"comment": ""},
            ValueError,
            "comment must be None (no comments) or visible characters on one line; got ''",
        ),
        (
            {"comment": "#\n"},
            ValueError,
            "comment must be None (no comments) or visible characters on one line; got '#\\n'",
        ),
        (
            {"comment": ";", "sep": ";"},
            ValueError,
            "comment must differ from the separator; got ';'",
        ),
    ],
)
def test_skiprows_and_comment_argument_errors(tmp_path, kwargs, error, message):
    path = _write(tmp_path, "s.csv", "1;2\n3;4\n")
    for reader in (dio.read_text, dio.read_series):
        with pytest.raises(error) as info:
            reader(path, **kwargs)
        assert type(info.value) is error
        assert str(info.value) == message


# --------------------------------------------------------------------------------------------
# text: errors
# --------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    for reader in (dio.read_text, dio.read_spectrum, dio.read_jcamp, dio.read_spc, dio.read_series):
        with pytest.raises(FileNotFoundError) as info:
            reader(path)
        assert str(info.value) == f"{path}: no such file"


@pytest.mark.parametrize("text", ["", "\n\n  \n", "# only a comment\n"])
def test_empty_file(tmp_path, text):
    path = _write(tmp_path, "empty.csv", text)
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value) == f"{path}: file is empty (no data lines)"


def test_header_only(tmp_path):
    path = _write(tmp_path, "head.csv", "# c\nx,y\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value) == f"{path}: no data lines after the header (line 2)"


def test_non_numeric_cell_names_line(tmp_path):
    lines = ["wavenumber,absorbance"] + [f"{i},0.{i}" for i in range(1, 6)] + ["6,abc", "7,0.7"]
    path = _write(tmp_path, "file.csv", "\n".join(lines) + "\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value) == (
        f"{path}, line 7: could not parse 'abc' as a number (column 1 ('absorbance'))"
    )


def test_non_numeric_cell_line_counts_comments_and_crlf(tmp_path):
    path = _write(tmp_path, "c.csv", "# note\n\n1,2\n2,x3\n", newline="\r\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value) == f"{path}, line 4: could not parse 'x3' as a number (column 1)"


def test_empty_cell_is_an_error(tmp_path):
    path = _write(tmp_path, "gap.csv", "x,y\n1,2\n2,\n3,4\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value) == (
        f"{path}, line 3: empty cell (column 1 ('y')); missing values are not allowed"
    )


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf"])
def test_nan_cell_is_an_error(tmp_path, cell):
    path = _write(tmp_path, "nan.csv", f"1,2\n2,3\n{cell},4\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value) == (
        f"{path}, line 3: {cell!r} is not a finite number (column 0); "
        "missing values are not allowed"
    )


def test_inconsistent_field_count(tmp_path):
    path = _write(tmp_path, "ragged.csv", "x,y\n1,2\n2,3\n3,4,5\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value) == f"{path}, line 4: expected 2 fields (as on line 2), found 3"


def test_missing_field(tmp_path):
    path = _write(tmp_path, "short.tsv", "1\t2\t3\n4\t5\n")
    with pytest.raises(ReadError, match=r"short.tsv, line 2: expected 3 fields"):
        dio.read_text(path)


def test_header_field_count_mismatch(tmp_path):
    path = _write(tmp_path, "h.csv", "x,y,z\n1,2\n3,4\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value) == f"{path}, line 1: header has 3 fields, data lines 2"


def test_wrong_column_index(tmp_path):
    path = _write(tmp_path, "cols.csv", "x,y\n1,2\n3,4\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path, y_column=5)
    assert str(info.value) == (f"{path}: y column 5 not found; available columns: 0 ('x'), 1 ('y')")


def test_wrong_column_name(tmp_path):
    path = _write(tmp_path, "cols.csv", "wavenumber_cm-1,absorbance\n1,2\n3,4\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path, y_column="intensity")
    assert str(info.value) == (
        f"{path}: y column 'intensity' not found; "
        "available columns: 0 ('wavenumber_cm-1'), 1 ('absorbance')"
    )


def test_column_name_without_header(tmp_path):
    path = _write(tmp_path, "cols.csv", "1,2\n3,4\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path, x_column="x")
    assert str(info.value) == (
        f"{path}: x column 'x' not found; available columns: 0, 1 (no header line)"
    )


def test_single_column_file(tmp_path):
    path = _write(tmp_path, "one.txt", "1\n2\n")
    with pytest.raises(ReadError, match=r"one.txt: y column 1 not found; available columns: 0"):
        dio.read_text(path)


def test_column_argument_errors(tmp_path):
    path = _write(tmp_path, "cols.csv", "1,2\n3,4\n")
    with pytest.raises(ValueError, match=r"columns \(x, y, sigma\) must be distinct"):
        dio.read_text(path, x_column=1, y_column=1)
    with pytest.raises(TypeError, match="x_column must be a column index or a header name"):
        dio.read_text(path, x_column=1.5)
    with pytest.raises(ValueError, match="decimal must differ from the separator; got ','"):
        dio.read_text(path, sep=",", decimal=",")
    with pytest.raises(ValueError, match=r"decimal must be one of \('.', ','\); got ';'"):
        dio.read_text(path, decimal=";")


@pytest.mark.parametrize(
    ("text", "sigma", "rule"),
    [
        ("1,2\n2,3\n2,4\n", None, "x must have no duplicate values"),
        ("1,2\n3,3\n2,4\n", None, "x must be strictly increasing or strictly decreasing"),
        ("1,2\n", None, "x must hold at least 2 points"),
        ("1,2,0\n2,3,-1\n", 2, "sigma must be > 0 everywhere"),
    ],
)
def test_spectrum_rule_violations_name_the_file(tmp_path, text, sigma, rule):
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(ReadError) as info:
        dio.read_text(path, sigma_column=sigma)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(f"{path}: {rule}")


def test_bad_cell_on_first_line_is_not_a_header(tmp_path):
    path = _write(tmp_path, "first.csv", "1,abc\n2,3\n3,4\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value) == f"{path}, line 1: could not parse 'abc' as a number (column 1)"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("1,2\n2,2\n3,2\n", "y must vary (be non-constant)"),
        ("-1e308,2\n1e308,3\n", "x must hold values within +-1e+300"),
    ],
)
def test_unusable_values_name_the_file(tmp_path, text, rule):
    path = _write(tmp_path, "odd.csv", text)
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value).startswith(f"{path}: {rule}")


@pytest.mark.parametrize(
    "text",
    ['"1.0","2.0"\n"2.0","3.5"\n', '"1.0";"2.0"\n"2.0";"3.5"\n', '"1.0"\t"2.0"\n2.0\t"3.5"\n'],
)
def test_quoted_numbers_are_data_not_a_header(tmp_path, text):
    spectrum = dio.read_text(_write(tmp_path, "q.csv", text))
    assert spectrum.metadata["header"] is None
    np.testing.assert_array_equal(spectrum.x, [1.0, 2.0])
    np.testing.assert_array_equal(spectrum.y, [2.0, 3.5])


def test_quoted_decimal_commas_with_semicolons(tmp_path):
    spectrum = dio.read_text(_write(tmp_path, "q.csv", '"1,5";"2,25"\n"2,5";"3"\n'))
    np.testing.assert_array_equal(spectrum.x, [1.5, 2.5])
    np.testing.assert_array_equal(spectrum.y, [2.25, 3.0])
    assert spectrum.metadata["decimal"] == ","


def test_decimal_commas_with_comma_separator_are_refused(tmp_path):
    path = _write(tmp_path, "dc.csv", "# exported\n1001,5,0,25\n1002,5,0,5\n1003,5,1,25e-1\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(path)
    assert str(info.value) == (
        f"{path}, line 2: '1001,5,0,25' is ambiguous: 4 comma-separated integers, or 2 numbers "
        "with decimal commas? Decimal commas need a semicolon or tab separator (then pass "
        "sep=';', decimal=',' or sep='\\t', decimal=','); pass sep=',' to read 4 integer columns"
    )
    with_sigma = _write(tmp_path, "dc3.csv", "1001,5,0,25,0,1\n1002,5,0,5,0,1\n")
    with pytest.raises(ReadError, match=r"dc3.csv, line 1: '1001,5,0,25,0,1' is ambiguous"):
        dio.read_text(with_sigma, sigma_column=2)


@pytest.mark.parametrize(
    ("text", "kwargs", "y"),
    [
        ("1001,5,0,25\n1002,6,0,5\n", {"sep": ","}, [5.0, 6.0]),  # explicit separator
        ("x,y,a,b\n1001,5,0,25\n1002,6,0,5\n", {}, [5.0, 6.0]),  # a header names 4 columns
        ("1001,5,0,25\n1002,6,0,5\n", {"y_column": 3}, [25.0, 5.0]),  # a 4-column read
        ("1001,5,0\n1002,6,0\n", {}, [5.0, 6.0]),  # odd field count
        ("1001,-5,0,25\n1002,6,0,5\n", {}, [-5.0, 6.0]),  # a signed "fraction"
        ("1001,5,0.5,25\n1002,6,0.5,5\n", {}, [5.0, 6.0]),  # a dot: not decimal commas
    ],
)
def test_integer_tables_that_are_not_ambiguous_still_read(tmp_path, text, kwargs, y):
    spectrum = dio.read_text(_write(tmp_path, "ints.csv", text), **kwargs)
    np.testing.assert_array_equal(spectrum.x, [1001.0, 1002.0])
    np.testing.assert_array_equal(spectrum.y, y)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_read_text_unicode_encodings(tmp_path, encoding):
    path = tmp_path / "wide.csv"
    path.write_bytes("x,absorbance °\r\n1.5,2\r\n2.5,3\r\n".encode(encoding))
    spectrum = dio.read_text(path)
    np.testing.assert_array_equal(spectrum.x, [1.5, 2.5])
    np.testing.assert_array_equal(spectrum.y, [2.0, 3.0])
    assert spectrum.y_unit == "absorbance °"


def test_read_text_binary_and_broken_utf16(tmp_path):
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"1,2\n2,3\x00\x01\n")
    with pytest.raises(ReadError) as info:
        dio.read_text(binary)
    assert str(info.value) == (
        f"{binary}, line 2: NUL character: not a text file, or text in an encoding other than "
        "UTF-8, UTF-16, UTF-32 or Latin-1"
    )
    odd = tmp_path / "odd.csv"
    odd.write_bytes("1,2\n".encode("utf-16") + b"\x00")
    with pytest.raises(ReadError) as info:
        dio.read_text(odd)
    assert str(info.value) == f"{odd}: not valid UTF-16 text (truncated data at byte 10)"


# --------------------------------------------------------------------------------------------
# JCAMP-DX
# --------------------------------------------------------------------------------------------

JCAMP_AFFN = """##TITLE=Test spectrum A
##JCAMP-DX=4.24
##DATA TYPE=INFRARED SPECTRUM
##ORIGIN=specbayes tests
##OWNER=public domain
##XUNITS=1/CM
##YUNITS=ABSORBANCE
##XFACTOR=1.0
##YFACTOR=0.001
##FIRSTX=1000
##LASTX=1009
##FIRSTY=0.1
##NPOINTS=10
##XYDATA=(X++(Y..Y))
1000 100 200 300 400 500
1005 600 700 800 900 1000
##END=
"""

JCAMP_XYPOINTS = """##TITLE=Peaks B
##JCAMP-DX=5.01
##DATA TYPE=UV/VIS SPECTRUM
##XUNITS=NANOMETERS
##YUNITS=ABSORBANCE
##NPOINTS=4
##XYPOINTS=(XY..XY)
402.0, 1.0
401.5, 0.75
401.0, 0.5
400.5, 0.25
##END=
"""

JCAMP_ASDF = """##TITLE=compressed
##JCAMP-DX=4.24
##XUNITS=1/CM
##YUNITS=ABSORBANCE
##XFACTOR=1
##YFACTOR=1
##FIRSTX=1000
##LASTX=1006
##NPOINTS=7
##XYDATA=(X++(Y..Y))
1000A00JKLM
1004A10NO
##END=
"""


def test_read_jcamp_affn(tmp_path):
    spectrum = dio.read_jcamp(_write(tmp_path, "a.jdx", JCAMP_AFFN))
    np.testing.assert_array_equal(spectrum.x, np.arange(1000.0, 1010.0))
    np.testing.assert_allclose(spectrum.y, np.arange(1, 11) / 10, rtol=1e-15)
    assert (spectrum.x_unit, spectrum.y_unit) == ("1/CM", "ABSORBANCE")
    assert spectrum.name == "Test spectrum A"
    assert spectrum.metadata["data type"] == "INFRARED SPECTRUM"
    assert spectrum.metadata["npoints"] == 10
    assert "x" not in spectrum.metadata


def test_read_jcamp_xypoints_descending(tmp_path):
    spectrum = dio.read_jcamp(_write(tmp_path, "b.dx", JCAMP_XYPOINTS), name="b")
    assert spectrum.descending
    np.testing.assert_array_equal(spectrum.x, [400.5, 401.0, 401.5, 402.0])
    np.testing.assert_array_equal(spectrum.y, [0.25, 0.5, 0.75, 1.0])
    assert (spectrum.x_unit, spectrum.name) == ("NANOMETERS", "b")


def test_read_jcamp_utf16(tmp_path):
    path = tmp_path / "a.jdx"
    path.write_bytes(JCAMP_AFFN.encode("utf-16"))
    spectrum = dio.read_jcamp(path)
    np.testing.assert_array_equal(spectrum.x, np.arange(1000.0, 1010.0))
    assert spectrum.name == "Test spectrum A"
    assert spectrum.metadata["filename"] == str(path)


def test_read_jcamp_absurd_axis(tmp_path):
    path = _write(tmp_path, "huge.jdx", JCAMP_XYPOINTS.replace("402.0, 1.0", "1e305, 1.0"))
    with pytest.raises(ReadError) as info:
        dio.read_jcamp(path)
    assert str(info.value).startswith(f"{path}: x must hold values within +-1e+300")


def test_read_jcamp_compressed(tmp_path):
    spectrum = dio.read_jcamp(_write(tmp_path, "c.jdx", JCAMP_ASDF))
    np.testing.assert_array_equal(spectrum.y, [100, 101, 103, 106, 110, 115, 121])
    np.testing.assert_array_equal(spectrum.x, np.arange(1000.0, 1007.0))


def test_read_jcamp_errors(tmp_path):
    broken = _write(tmp_path, "broken.jdx", "##TITLE=broken\n##XYDATA\n1 2 3\n##END=\n")
    with pytest.raises(ReadError, match=r"broken.jdx: not a readable JCAMP-DX file \(ValueError"):
        dio.read_jcamp(broken)
    no_data = _write(tmp_path, "nodata.jdx", "##TITLE=t\n##JCAMP-DX=4.24\n##END=\n")
    with pytest.raises(ReadError) as info:
        dio.read_jcamp(no_data)
    assert str(info.value) == f"{no_data}: no XYDATA, XYPOINTS or PEAK TABLE block with data found"
    count = _write(tmp_path, "count.jdx", JCAMP_XYPOINTS.replace("NPOINTS=4", "NPOINTS=5"))
    with pytest.raises(ReadError) as info:
        dio.read_jcamp(count)
    assert str(info.value) == f"{count}, field NPOINTS: header says 5, data hold 4"
    corrupt = _write(tmp_path, "corrupt.jdx", JCAMP_ASDF.replace("1004A10NO", "1004A11NO"))
    with pytest.raises(ReadError, match=r"corrupt.jdx: JCAMP-DX data check failed: Y-Check"):
        dio.read_jcamp(corrupt)
    empty = _write(tmp_path, "empty.jdx", "")
    with pytest.raises(ReadError, match=r"empty.jdx: file is empty"):
        dio.read_jcamp(empty)


# --------------------------------------------------------------------------------------------
# SPC
# --------------------------------------------------------------------------------------------

SPC_TWINS = [
    ("BENZENE.SPC", "benzene.csv", 1842, "cm-1", "FT-IR Spectrum of Benzene, Capillary Film."),
    ("HOLMIUM.SPC", "holmium.csv", 901, "nm", "Holmium Oxide Glass, the UV standard"),
    ("TOLUENE.SPC", "toluene.csv", 801, "cm-1", "FT-IR Spectrum of Toluene."),
    (
        "SPECTRUM_WITH_BAD_BASELINE.SPC",
        "spectrum_with_bad_baseline.csv",
        1400,
        "nm",
        "UV spectrum of unknown substance, from Cary spectrometer",
    ),
]


@pytest.mark.parametrize(("spc", "csv", "n_points", "x_unit", "memo"), SPC_TWINS)
def test_read_spc_matches_csv_twin(shared_data, spc, csv, n_points, x_unit, memo):
    folder = shared_data / "galactic-spc-demo"
    spectrum = dio.read_spc(folder / spc)
    twin = dio.read_text(folder / csv)
    assert spectrum.n_points == twin.n_points == n_points
    assert spectrum.descending == twin.descending
    # the twins hold y with 7 significant digits and x rounded to 3 decimals
    np.testing.assert_allclose(spectrum.y, twin.y, rtol=1e-6, atol=0)
    np.testing.assert_allclose(spectrum.x, twin.x, rtol=1e-6, atol=5.001e-4)
    assert (spectrum.x_unit, spectrum.y_unit) == (x_unit, "absorbance")
    assert spectrum.metadata["memo"] == memo
    assert spectrum.metadata["n_subfiles"] == 1
    assert spectrum.name == Path(spc).stem


def test_read_spc_metadata(shared_data):
    spectrum = dio.read_spc(shared_data / "galactic-spc-demo" / "TOLUENE.SPC")
    assert spectrum.descending
    assert (spectrum.x[0], spectrum.x[-1]) == (500.0, 3700.0)
    assert spectrum.metadata["date"] == "1997-03-09T08:46:00"
    assert (spectrum.metadata["xtype"], spectrum.metadata["ytype"]) == ("XWAVEN", "YABSRB")
    bad = dio.read_spc(shared_data / "galactic-spc-demo" / "SPECTRUM_WITH_BAD_BASELINE.SPC")
    assert bad.metadata["date"] is None  # the file stores year 0
    assert bad.metadata["reader_warnings"] == ["ValueError('year 0 is out of range')"]


def test_read_spc_multi_subfile():
    path = DATA / "two_subfiles.spc"
    with pytest.raises(ReadError) as info:
        dio.read_spc(path)
    assert str(info.value) == f"{path}: SPC file holds 2 subfiles; pass subfile=0..1 to pick one"
    first = dio.read_spc(path, subfile=0)
    second = dio.read_spc(path, subfile=1, x_unit="px", y_unit="counts")
    np.testing.assert_array_equal(first.x, [1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(first.y, [1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(second.y, [2.0, 4.0, 6.0, 8.0, 10.0])
    assert (second.x_unit, second.y_unit, second.metadata["subfile"]) == ("px", "counts", 1)
    with pytest.raises(ReadError) as info:
        dio.read_spc(path, subfile=2)
    assert str(info.value) == f"{path}: subfile 2 out of range; the file holds 2"


def test_read_spc_corrupt_files(tmp_path, shared_data):
    truncated = tmp_path / "truncated.spc"
    source = shared_data / "galactic-spc-demo" / "HOLMIUM.SPC"
    truncated.write_bytes(source.read_bytes()[:600])
    with pytest.raises(ReadError, match=r"truncated.spc: not a readable SPC file \(ValueError: "):
        dio.read_spc(truncated)
    empty = tmp_path / "empty.spc"
    empty.write_bytes(b"")
    with pytest.raises(ReadError) as info:
        dio.read_spc(empty)
    assert str(info.value) == f"{empty}: file is empty"
    text = tmp_path / "text.spc"
    text.write_bytes(b"1,2\n3,4\n")
    with pytest.raises(ReadError, match=r"text.spc: not a readable SPC file"):
        dio.read_spc(text)


@pytest.mark.parametrize(
    ("first", "last", "rule"),
    [
        (
            1e305,
            5.0,
            "x must hold values within +-1e+300 (a span that fits in a float); "
            "got '1e+305 at index 0'",
        ),
        (-1.7e308, 1.7e308, "x must be finite (no NaN or inf); got 'NaN at index 0'"),
        (float("nan"), 5.0, "x must be finite (no NaN or inf); got 'NaN at index 0'"),
    ],
)
def test_read_spc_corrupt_axis_in_header(tmp_path, first, last, rule):
    data = bytearray((DATA / "two_subfiles.spc").read_bytes())
    struct.pack_into("<dd", data, 8, first, last)  # the main header's ffirst and flast
    path = tmp_path / "axis.spc"
    path.write_bytes(bytes(data))
    with pytest.raises(ReadError) as info:
        dio.read_spc(path, subfile=0)
    assert str(info.value) == f"{path}: {rule}"


# --------------------------------------------------------------------------------------------
# long paths: every message about a file holds its whole path
# --------------------------------------------------------------------------------------------


def test_errors_name_the_whole_of_a_long_path(tmp_path):
    folder = tmp_path / "measurements" / ("campaign_2024_" + "x" * 106) / "raman"
    folder.mkdir(parents=True)
    assert len(folder.parent.name) == 120
    text = _write(folder, "spectrum.csv", "x,y\n1,2\n2,3\n3,5\n")
    bad = _write(folder, "bad.csv", "x,y\n1,2\n2,abc\n")
    wide = _write(folder, "wide.csv", "nm,a,b\n500,1,4\n501,2,3\n502,4,1\n")
    jdx = _write(folder, "peaks.jdx", JCAMP_XYPOINTS)
    attempts = [
        (FileNotFoundError, lambda: dio.read_text(folder / "missing.csv")),
        (ReadError, lambda: dio.read_text(bad)),
        (ReadError, lambda: dio.read_text(text, y_column="counts")),
        (ReadError, lambda: dio.read_text(text, skiprows=10)),
        (ValueError, lambda: dio.read_text(text, x_column="y", y_column=1)),
        (ValueError, lambda: dio.read_series(wide, orientation="columns", id_column="a")),
        (ValueError, lambda: dio.read_spectrum(folder / "spectrum.xyz")),
        (TypeError, lambda: dio.read_spectrum(jdx, skiprows=1)),
    ]
    for error, attempt in attempts:
        with pytest.raises(error) as info:
            attempt()
        assert type(info.value) is error
        message = str(info.value)
        assert len(str(folder)) > 120 and str(folder) in message, message
        assert "..." not in message
    with pytest.raises(ValueError) as info:
        dio.read_text(text, x_column="y", y_column=1)
    assert str(info.value) == (
        f"columns (x, y, sigma) must be distinct columns of {text}; got [\"1 ('y')\", \"1 ('y')\"]"
    )
    with pytest.raises(ValueError) as info:
        dio.read_series(wide, orientation="columns", id_column="a")
    assert str(info.value) == (
        f"id_column must be None with orientation='columns' (the header of {wide} holds the "
        "ids); got 'a'"
    )


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------


def test_read_spectrum_dispatches_on_extension(tmp_path, shared_data):
    text = dio.read_spectrum(_write(tmp_path, "s.PRN", "1 2\n3 4\n"))
    np.testing.assert_array_equal(text.y, [2.0, 4.0])
    jdx = dio.read_spectrum(_write(tmp_path, "s.JCAMP", JCAMP_XYPOINTS))
    assert jdx.name == "Peaks B"
    spc = dio.read_spectrum(shared_data / "galactic-spc-demo" / "HOLMIUM.SPC")
    assert spc.n_points == 901
    columns = dio.read_spectrum(_write(tmp_path, "s.xy", "1 2 3\n4 5 6\n"), y_column=2)
    np.testing.assert_array_equal(columns.y, [3.0, 6.0])


def test_read_spectrum_refuses_keywords_the_reader_does_not_take(tmp_path):
    path = _write(tmp_path, "s.jdx", JCAMP_XYPOINTS)
    with pytest.raises(TypeError) as info:
        dio.read_spectrum(path, skiprows=60, y_column=0, name="p")
    assert str(info.value) == (
        f"read_spectrum keyword arguments must be ones read_jcamp takes for {path} "
        "(name, x_unit, y_unit); got ['skiprows', 'y_column']"
    )
    assert dio.read_spectrum(path, name="p").name == "p"


@pytest.mark.parametrize(("name", "found"), [("s.xyz", "extension '.xyz'"), ("s", "no extension")])
def test_read_spectrum_unknown_extension(tmp_path, name, found):
    path = tmp_path / name
    with pytest.raises(ValueError) as info:
        dio.read_spectrum(path)
    assert type(info.value) is ValueError
    assert str(info.value) == (
        f"{path}: unsupported file type ({found}); "
        "supported: .csv .txt .tsv .dat .xy .prn .jdx .dx .jcamp .spc"
    )


# --------------------------------------------------------------------------------------------
# series
# --------------------------------------------------------------------------------------------

ROWS_TABLE = "sample,temperature,phase,100,200,300\na,300,alpha,1,2,3\nb,310,beta,4,5,6\n"


def test_read_series_rows_with_id_and_properties(tmp_path):
    path = _write(tmp_path, "rows.csv", ROWS_TABLE)
    series = dio.read_series(path, id_column="sample", y_unit="counts")
    assert series.sample_ids == ["a", "b"]
    np.testing.assert_array_equal(series.x, [100.0, 200.0, 300.0])
    np.testing.assert_array_equal(series.y, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(series.property("temperature"), [300.0, 310.0])
    assert series.properties["phase"].tolist() == ["alpha", "beta"]
    assert series.metadata["orientation"] == "rows"
    assert series.y_unit == "counts"


def test_read_series_rows_default_ids_and_selected_properties(tmp_path):
    path = _write(tmp_path, "rows.csv", ROWS_TABLE)
    series = dio.read_series(path, property_columns=["temperature"])
    assert series.sample_ids == ["0", "1"]
    assert list(series.properties.columns) == ["temperature"]
    assert list(series.properties.index) == ["0", "1"]
    everything = dio.read_series(path, orientation="rows")
    assert list(everything.properties.columns) == ["sample", "temperature", "phase"]


def test_read_series_columns_orientation(tmp_path):
    text = "wavenumber,s1,s2,s3\ntemperature,300,310,\n1002,7,8,9\n1001,4,5,6\n1000,1,2,3\n"
    series = dio.read_series(_write(tmp_path, "cols.csv", text))
    assert series.metadata["orientation"] == "columns"
    assert series.sample_ids == ["s1", "s2", "s3"]
    assert series.descending
    np.testing.assert_array_equal(series.x, [1000.0, 1001.0, 1002.0])
    np.testing.assert_array_equal(series.y, [[1, 4, 7], [2, 5, 8], [3, 6, 9]])
    np.testing.assert_array_equal(series.properties["temperature"], [300.0, 310.0, np.nan])
    assert series.x_unit == "wavenumber"


def test_read_series_columns_with_numeric_ids_needs_orientation(tmp_path):
    path = _write(tmp_path, "cols.tsv", "x\t1\t2\n5\t1\t2\n6\t3\t4\n")
    series = dio.read_series(path, orientation="columns")
    assert series.sample_ids == ["1", "2"]
    np.testing.assert_array_equal(series.y, [[1, 3], [2, 4]])
    assert series.properties is None


def test_read_series_decimal_comma(tmp_path):
    path = _write(tmp_path, "rows.csv", "id;p;1,5;2,5\na;0,5;1,25;2\n")
    series = dio.read_series(path, id_column="id")
    np.testing.assert_array_equal(series.x, [1.5, 2.5])
    np.testing.assert_array_equal(series.y, [[1.25, 2.0]])
    np.testing.assert_array_equal(series.property("p"), [0.5])


def test_read_series_co_adsorption(shared_data):
    folder = shared_data / "spectrochempy-co-adsorption-ir"
    series = dio.read_series(folder / "co_ir_spectra.csv", property_columns=["co_pressure_torr"])
    assert isinstance(series, SpectrumSeries)
    assert (len(series), series.n_points) == (19, 3112)
    assert series.y.shape == (19, 3112)
    assert series.sample_ids[:3] == ["0", "1", "2"]
    assert series.property("co_pressure_torr")[0] == 0.003
    assert series.descending
    assert (series.x[0], series.x[-1]) == (999.926, 3999.706)
    assert series[0].y[-1] == 0.0008031912  # first absorbance of the first row (3999.706 cm-1)
    pressures = pd.read_csv(folder / "co_pressures.csv")["co_pressure_torr"].to_numpy()
    np.testing.assert_array_equal(series.property("co_pressure_torr"), pressures)
    by_pressure = dio.read_series(folder / "co_ir_spectra.csv", id_column="co_pressure_torr")
    assert by_pressure.sample_ids[0] == "0.003"
    assert by_pressure.properties is None


def test_read_series_errors(tmp_path):
    stray = _write(tmp_path, "stray.csv", "id,100,note,300\na,1,2,3\n")
    with pytest.raises(ReadError) as info:
        dio.read_series(stray, orientation="rows")
    assert str(info.value) == (
        f"{stray}, line 1: header cell 'note' (column 2) is not a number; "
        "x values must follow the id and property columns"
    )
    rows = _write(tmp_path, "rows.csv", ROWS_TABLE)
    with pytest.raises(ReadError) as info:
        dio.read_series(rows, property_columns=["pressure"])
    assert str(info.value) == (
        f"{rows}: property column 'pressure' not found; "
        "available: ['sample', 'temperature', 'phase']"
    )
    with pytest.raises(ReadError, match=r"rows.csv: id_column 'name' not found"):
        dio.read_series(rows, id_column="name")
    with pytest.raises(ValueError, match=r"id_column must be None with orientation='columns'"):
        dio.read_series(rows, orientation="columns", id_column="sample")
    with pytest.raises(ValueError, match=r"orientation must be one of"):
        dio.read_series(rows, orientation="diagonal")


def test_read_series_skiprows(tmp_path):
    preamble = "Plate reader export; 3 samples\nrun 7, 25 C\n"
    rows = _write(
        tmp_path, "rows.csv", preamble + "sample_id,T,400,410,420\na,1,1,2,4\nb,2,3,2,1\n"
    )
    series = dio.read_series(rows, skiprows=2)
    assert series.sample_ids == ["a", "b"]
    np.testing.assert_array_equal(series.x, [400.0, 410.0, 420.0])
    np.testing.assert_array_equal(series.y, [[1.0, 2.0, 4.0], [3.0, 2.0, 1.0]])
    assert series.properties["T"].tolist() == [1, 2]
    assert series.metadata["preamble"] == preamble.rstrip("\n")
    columns = _write(tmp_path, "cols.csv", preamble + "nm,a,b\n500,1,4\n501,2,3\n502,4,1\n")
    by_column = dio.read_series(columns, skiprows=2, orientation="columns")
    np.testing.assert_array_equal(by_column.y, [[1.0, 2.0, 4.0], [4.0, 3.0, 1.0]])
    assert (by_column.x_unit, by_column.metadata["skiprows"]) == ("nm", 2)


def test_read_series_bad_cells_and_ids(tmp_path):
    nan = _write(tmp_path, "nan.csv", "id,100,200\na,1,2\nb,nan,3\n")
    with pytest.raises(ReadError) as info:
        dio.read_series(nan)
    assert str(info.value) == (
        f"{nan}, line 3: 'nan' is not a finite number (column 1 ('100')); "
        "missing values are not allowed"
    )
    dup = _write(tmp_path, "dup.csv", "id,100,200\na,1,2\na,2,3\n")
    with pytest.raises(ReadError) as info:
        dio.read_series(dup, id_column="id")
    assert str(info.value) == (
        f"{dup}: sample_ids must hold unique sample ids; got \"'a' appears more than once\""
    )
    blank = _write(tmp_path, "blank.csv", "id,100,200\na,1,2\n ,2,3\n")
    with pytest.raises(ReadError) as info:
        dio.read_series(blank, id_column="id")
    assert str(info.value) == f"{blank}, line 3: empty sample id (column 0 ('id'))"
    ragged = _write(tmp_path, "ragged.csv", "id,100,200\na,1,2\nb,2\n")
    with pytest.raises(ReadError, match=r"ragged.csv, line 3: expected 3 fields"):
        dio.read_series(ragged)


BAD_ROWS = "sample_id,p,100,200,300\na,1,1,2,3\nb,2,1,nan,3\nc,3,5,5,5\nd,4,1,x,\ne,5,3,2,4\n"


def test_read_series_invalid_raise_names_line_or_sample(tmp_path):
    path = _write(tmp_path, "bad.csv", BAD_ROWS)
    with pytest.raises(ReadError) as info:
        dio.read_series(path)
    assert str(info.value) == (
        f"{path}, line 3: 'nan' is not a finite number (column 3 ('200')); "
        "missing values are not allowed"
    )
    constant = _write(tmp_path, "constant.csv", BAD_ROWS.replace("nan", "2").replace(",x,", ",2,3"))
    with pytest.raises(ReadError) as info:
        dio.read_series(constant, invalid="raise")
    assert str(info.value) == (
        f"{constant}: y of sample 'c' must vary (be non-constant): a constant spectrum holds "
        "no signal; got 'all 5.0'"
    )


def test_read_series_invalid_record_rows(tmp_path):
    path = _write(tmp_path, "bad.csv", BAD_ROWS)
    series = dio.read_series(path, invalid="record")
    assert series.sample_ids == ["a", "e"]
    np.testing.assert_array_equal(series.y, [[1, 2, 3], [3, 2, 4]])
    np.testing.assert_array_equal(series.property("p"), [1.0, 5.0])
    assert list(series.properties.index) == ["a", "e"]
    assert series.rejected == {
        "b": f"{path}, line 3: 'nan' is not a finite number (column 3 ('200')); "
        "missing values are not allowed",
        "c": f"{path}: y of sample 'c' must vary (be non-constant): a constant spectrum holds "
        "no signal; got 'all 5.0'",
        "d": f"{path}, line 5: could not parse 'x' as a number (column 3 ('200'))",
    }


def test_read_series_invalid_record_columns(tmp_path):
    text = "nm,s1,s2,s3,s4\ntemperature,300,310,320,330\n500,1,inf,7,1\n510,2,5,7,\n520,3,6,7,2\n"
    path = _write(tmp_path, "cols.csv", text)
    series = dio.read_series(path, invalid="record")
    assert series.sample_ids == ["s1"]
    np.testing.assert_array_equal(series.y, [[1, 2, 3]])
    np.testing.assert_array_equal(series.property("temperature"), [300.0])
    assert series.rejected == {
        "s2": f"{path}, line 3: 'inf' is not a finite number (column 2 ('s2')); "
        "missing values are not allowed",
        "s3": f"{path}: y of sample 's3' must vary (be non-constant): a constant spectrum holds "
        "no signal; got 'all 7.0'",
        "s4": f"{path}, line 4: empty cell (column 4 ('s4')); missing values are not allowed",
    }
    bad_x = _write(tmp_path, "bad_x.csv", text.replace("510,", "nan,"))
    with pytest.raises(ReadError, match=r"bad_x.csv, line 4: 'nan' is not a finite number \(col"):
        dio.read_series(bad_x, invalid="record")


def test_read_series_invalid_record_without_a_valid_sample(tmp_path):
    cells = _write(tmp_path, "cells.csv", "id,100,200\na,1,nan\nb,,2\n")
    with pytest.raises(ReadError) as info:
        dio.read_series(cells, invalid="record")
    assert str(info.value) == (
        f"{cells}: no valid sample; all 2 hold bad cells, first: {cells}, line 2: 'nan' is not "
        "a finite number (column 2 ('200')); missing values are not allowed"
    )
    mixed = _write(tmp_path, "mixed.csv", "id,100,200\na,1,nan\nb,2,2\n")
    with pytest.raises(ReadError) as info:
        dio.read_series(mixed, invalid="record")
    assert str(info.value) == (
        f"{mixed}: y must hold at least one valid spectrum; got none of 2 samples valid, the "
        f"first rejected: {mixed}, line 2: 'nan' is not a finite number (column 2 ('200')); "
        "missing values are not allowed"
    )
    dup = _write(tmp_path, "dup.csv", "id,100,200\na,1,nan\na,2,3\n")
    with pytest.raises(ReadError, match=r"dup.csv: sample_ids must hold unique sample ids"):
        dio.read_series(dup, id_column="id", invalid="record")
    with pytest.raises(ValueError, match=r"invalid must be one of \('raise', 'record'\)"):
        dio.read_series(mixed, invalid="skip")


def test_read_series_utf16_and_quoted_header(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes('"sample_id","100","200"\n"a","1","2"\n'.encode("utf-16"))
    series = dio.read_series(path)
    assert series.sample_ids == ["a"]
    np.testing.assert_array_equal(series.x, [100.0, 200.0])
    np.testing.assert_array_equal(series.y, [[1.0, 2.0]])


# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------

TRICKY = [0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, -2.5e-17, 123456789.12345679]


def test_write_spectrum_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(400, 4000, 50))[::-1]
    y = np.concatenate([TRICKY, rng.normal(size=44)])
    sigma = rng.uniform(0.01, 1, 50)
    spectrum = Spectrum(x, y, sigma, x_unit="wavenumber (cm-1)", y_unit="absorbance, a.u.")
    path = dio.write_spectrum(spectrum, tmp_path / "out.csv")
    assert path.read_text().splitlines()[0] == 'wavenumber (cm-1),"absorbance, a.u.",sigma'
    back = dio.read_text(path, sigma_column="sigma")
    assert back.descending
    np.testing.assert_array_equal(back.x, spectrum.x)
    np.testing.assert_array_equal(back.y, spectrum.y)
    np.testing.assert_array_equal(back.sigma, spectrum.sigma)
    assert (back.x_unit, back.y_unit) == (spectrum.x_unit, spectrum.y_unit)


def test_write_spectrum_empty_units(tmp_path):
    path = dio.write_spectrum(Spectrum([1.0, 2.0], [3.0, 4.0]), tmp_path / "out.csv")
    assert path.read_text() == "x,y\n1.0,3.0\n2.0,4.0\n"
    back = dio.read_spectrum(path)
    assert (back.x_unit, back.y_unit) == ("", "")


def test_write_series_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(3)
    x = np.linspace(3999.706, 999.926, 40)
    y = rng.normal(size=(6, 40))
    y[0, :6] = TRICKY
    properties = pd.DataFrame(
        {"pressure": [0.003, 0.1 + 0.2, 1.0, 2.5, 1 / 3, 7.0], "site": list("abcdef")},
        index=[f"s{i}" for i in range(6)],
    )
    series = SpectrumSeries(x, y, sample_ids=properties.index, properties=properties, x_unit="u")
    path = dio.write_series(series, tmp_path / "series.csv")
    header = path.read_text().splitlines()[0].split(",")
    assert header[:4] == ["sample_id", "pressure", "site", "3999.706"]
    back = dio.read_series(path)
    assert back.sample_ids == series.sample_ids
    assert back.descending
    np.testing.assert_array_equal(back.x, series.x)
    np.testing.assert_array_equal(back.y, series.y)
    pd.testing.assert_frame_equal(back.properties, series.properties)


def test_write_series_without_properties(tmp_path):
    series = SpectrumSeries([1.0, 2.0], [[1.0, 2.0], [3.0, 4.0]])
    path = dio.write_series(series, tmp_path / "plain.csv")
    assert path.read_text() == "sample_id,1.0,2.0\n0,1.0,2.0\n1,3.0,4.0\n"
    back = dio.read_series(path)
    assert back.sample_ids == ["0", "1"]
    assert back.properties is None


def test_writers_are_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    dio.write_spectrum(Spectrum([1.0, 2.0], [3.0, 4.0]), target)
    dio.write_spectrum(Spectrum([1.0, 2.0], [5.0, 6.0]), target)  # overwrite
    assert target.read_text() == "x,y\n1.0,5.0\n2.0,6.0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        dio.write_spectrum(Spectrum([1.0, 2.0], [7.0, 8.0]), target)
    assert target.read_text() == "x,y\n1.0,5.0\n2.0,6.0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_writer_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="spectrum must be a Spectrum; got 'ndarray'"):
        dio.write_spectrum(np.zeros(3), tmp_path / "a.csv")
    with pytest.raises(TypeError, match="series must be a SpectrumSeries; got 'Spectrum'"):
        dio.write_series(Spectrum([1.0, 2.0], [1.0, 2.0]), tmp_path / "a.csv")
    bad = SpectrumSeries([1.0, 2.0], [[1.0, 2.0]], properties=pd.DataFrame({"1.5": [0]}))
    with pytest.raises(ValueError, match="properties must have column names that are not num"):
        dio.write_series(bad, tmp_path / "a.csv")
    assert not (tmp_path / "a.csv").exists()
