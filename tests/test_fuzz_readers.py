"""Fuzzing every reader of deconv.io with mutated valid files (deterministic, a few seconds).

Each valid file (text two-column, a 60-line prose header then ``y x`` columns, wide series
tables in both orientations, JCAMP-DX, SPC) is mutated many times (byte flips, truncation,
random bytes, random text lines, huge numbers, NaN tokens, UTF-16/32 re-encoding, empty
file...). A reader must then either return a valid container (finite, strictly increasing x
within +-1e300, finite y that varies) or raise the ``ReadError`` its docstring documents for
bad file content, with the file named first in the message. Nothing else may escape: no
IndexError, no UnicodeDecodeError, no struct.error, no bare ValueError from numpy or pandas.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from deconv import io as dio
from deconv.exceptions import ReadError
from deconv.spectrum import Spectrum, SpectrumSeries

DATA = Path(__file__).parent / "data" / "io"
SEED = 20240611
N_MUTANTS = 100  # per base file (13 base files)

# --------------------------------------------------------------------------------------------
# valid base files
# --------------------------------------------------------------------------------------------


def _lines(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def _text_bases() -> dict[str, bytes]:
    x = 1000.0 + 2.5 * np.arange(40)
    y = np.exp(-(((x - 1050.0) / 12.0) ** 2)) + 0.01 * np.arange(40)
    points = [(float(a), float(b)) for a, b in zip(x, y, strict=True)]
    return {
        "two.csv": _lines(["wavenumber,absorbance"] + [f"{a!r},{b!r}" for a, b in points]),
        "semi.txt": _lines([f"{a:.1f};{b:.6f}".replace(".", ",") for a, b in points]),
        "ws.dat": _lines(["# Raman", "shift counts"] + [f"{a:g}  {b:.5e}" for a, b in points]),
        "sigma.csv": _lines(["x,y,sigma"] + [f"{a},{b:.6f},0.01" for a, b in points]),
    }


def _series_bases() -> dict[str, bytes]:
    x = [str(400 + 10 * j) for j in range(12)]
    rows = ["sample_id,temperature,phase," + ",".join(x)]
    for i in range(6):
        values = np.sin(0.3 * (i + 1) * np.arange(12)) + i
        rows.append(f"s{i},{300 + i},p{i % 2}," + ",".join(f"{value:.5f}" for value in values))
    columns = ["nm,a,b,c,d", "pressure,0.1,0.2,,0.4"]
    for j in range(15):
        values = [np.cos(0.2 * k * j) + j for k in (1, 2, 3, 4)]
        columns.append(f"{500 + j}," + ",".join(f"{value:.4f}" for value in values))
    return {"rows.csv": _lines(rows), "columns.csv": _lines(columns)}


_JCAMP_HEADER = "##TITLE=fuzz\n##JCAMP-DX=4.24\n##XUNITS=1/CM\n##YUNITS=ABSORBANCE\n"


def _jcamp_bases() -> dict[str, bytes]:
    affn = [_JCAMP_HEADER + "##XFACTOR=1.0\n##YFACTOR=0.001\n##FIRSTX=1000\n##LASTX=1019"]
    affn.append("##NPOINTS=20\n##XYDATA=(X++(Y..Y))")
    affn += [
        f"{1000 + 5 * r} " + " ".join(str(100 * (5 * r + k) + 7) for k in range(5))
        for r in range(4)
    ]
    points = [_JCAMP_HEADER + "##NPOINTS=12\n##XYPOINTS=(XY..XY)"]
    points += [f"{402.0 - 0.5 * k}, {np.sin(k) + 2:.5f}" for k in range(12)]
    asdf = [_JCAMP_HEADER + "##XFACTOR=1\n##YFACTOR=1\n##FIRSTX=1000\n##LASTX=1006\n##NPOINTS=7"]
    asdf += ["##XYDATA=(X++(Y..Y))", "1000A00JKLM", "1004A10NO"]
    return {
        "affn.jdx": _lines([*affn, "##END="]),
        "points.dx": _lines([*points, "##END="]),
        "asdf.jdx": _lines([*asdf, "##END="]),
    }


def _spc_bytes(xarray: object, rows: list[np.ndarray]) -> bytes:
    from spc_io import SPC

    spc = SPC(xarray=xarray)
    for z, row in enumerate(rows):
        spc.add_subfile(yarray=np.asarray(row, dtype=np.float64), z=float(z))
    raw = spc.to_spc_raw()
    raw.calcuate_offsets()
    raw.main_header.flogoff = 0  # spc-io writes a log-book offset without a log book
    return raw._to_bytes_as_is()


def _spc_bases() -> dict[str, bytes]:
    from spc_io.high_level import EvenAxis

    y = np.sin(np.linspace(0, 3, 64)) + 0.1
    return {
        "two.spc": (DATA / "two_subfiles.spc").read_bytes(),
        "even.spc": _spc_bytes(EvenAxis(start=400.0, stop=4000.0, num=64), [y]),
        "xy.spc": _spc_bytes(np.cumsum(np.linspace(1.0, 2.0, 64)), [y]),
    }


def _headered_bases() -> dict[str, bytes]:
    """A NIST StRD-like file: 60 lines of prose (numbers, colons, parentheses), then ``y x``."""
    return {"nist.dat": (DATA / "nist_like_y_x.dat").read_bytes()}


# --------------------------------------------------------------------------------------------
# mutations
# --------------------------------------------------------------------------------------------

_TOKENS = [
    b"nan", b"NaN", b"inf", b"-inf", b"1e309", b"-1e309", b"1e305", b"-1.7e308", b"1e-320",
    b"", b'"', b",", b";", b"\t", b"1,5", b"0x1p3", b"1_000", b"\xff\xfe", b"\x00", b"\xc3(",
    b"##XYDATA=(X++(Y..Y))", b"##NPOINTS=99999999", b"##XFACTOR=1e308", b"##END=", b"#",
]  # fmt: skip
_NUMBER = re.compile(rb"[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?")
_HUGE = [b"1e305", b"-1e305", b"1e309", b"nan", b"inf", b"0", b"-0", b"5e-324", b"1e300"]


def _flip(rng: np.random.Generator, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for i in rng.integers(0, len(out), size=int(rng.integers(1, 9))):
        out[i] ^= int(rng.integers(1, 256))
    return bytes(out)


def _truncate(rng: np.random.Generator, data: bytes) -> bytes:
    return data[: int(rng.integers(0, len(data)))] if data else data


def _insert_bytes(rng: np.random.Generator, data: bytes) -> bytes:
    i = int(rng.integers(0, len(data) + 1))
    return data[:i] + rng.bytes(int(rng.integers(1, 33))) + data[i:]


def _insert_line(rng: np.random.Generator, data: bytes) -> bytes:
    lines = data.split(b"\n")
    cells = [_TOKENS[int(k)] for k in rng.integers(0, len(_TOKENS), size=int(rng.integers(1, 5)))]
    separator = [b",", b";", b"\t", b" "][int(rng.integers(0, 4))]
    lines.insert(int(rng.integers(0, len(lines) + 1)), separator.join(cells))
    return b"\n".join(lines)


def _swap_number(rng: np.random.Generator, data: bytes) -> bytes:
    """Replace one to three numbers by huge, tiny, NaN or infinite ones."""
    out = data
    for _ in range(int(rng.integers(1, 4))):
        matches = list(_NUMBER.finditer(out))
        if not matches:
            break
        start, end = matches[int(rng.integers(0, len(matches)))].span()
        out = out[:start] + _HUGE[int(rng.integers(0, len(_HUGE)))] + out[end:]
    return out


def _line_edit(rng: np.random.Generator, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i = int(rng.integers(0, len(lines)))
    if rng.random() < 0.5:
        del lines[i]
    else:
        lines.insert(i, lines[int(rng.integers(0, len(lines)))])
    return b"\n".join(lines)


def _reencode(rng: np.random.Generator, data: bytes) -> bytes:
    text = data.decode("latin-1")
    codec = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"][int(rng.integers(0, 5))]
    encoded = text.encode(codec)
    return encoded[:-1] if rng.random() < 0.2 else encoded  # sometimes an odd, broken length


def _header_double(rng: np.random.Generator, data: bytes) -> bytes:
    """SPC: overwrite fnpts, ffirst or flast in the main header with an absurd value."""
    if len(data) < 24:
        return _flip(rng, data)
    out = bytearray(data)
    field = int(rng.integers(0, 3))
    if field == 0:
        struct.pack_into("<i", out, 4, int(rng.choice([0, 1, -1, 2**31 - 1, 3, 100000])))
    else:
        value = float(rng.choice([1e305, -1e305, np.inf, np.nan, 1e300, -1.7e308, 0.0]))
        struct.pack_into("<d", out, 8 * field, value)
    return bytes(out)


def _empty(rng: np.random.Generator, data: bytes) -> bytes:
    return b""


TEXT_MUTATIONS = [
    _flip, _truncate, _insert_bytes, _insert_line, _swap_number, _line_edit, _reencode, _empty,
]  # fmt: skip
BINARY_MUTATIONS = [_flip, _truncate, _insert_bytes, _header_double, _header_double, _empty]


# --------------------------------------------------------------------------------------------
# invariants
# --------------------------------------------------------------------------------------------


def _check_axis(x: np.ndarray) -> None:
    assert x.dtype == np.float64 and x.ndim == 1 and x.size >= 2
    assert np.isfinite(x).all()
    assert np.all(np.diff(x) > 0)  # stored ascending, strictly
    assert np.abs(x).max() <= 1e300


def _check_spectrum(spectrum: Spectrum) -> None:
    assert isinstance(spectrum, Spectrum)
    _check_axis(spectrum.x)
    assert spectrum.y.shape == spectrum.x.shape
    assert np.isfinite(spectrum.y).all()
    assert np.isfinite(np.ptp(spectrum.y)) and np.ptp(spectrum.y) > 0
    if spectrum.sigma is not None:
        assert np.isfinite(spectrum.sigma).all() and np.all(spectrum.sigma > 0)


def _check_series(series: SpectrumSeries) -> None:
    assert isinstance(series, SpectrumSeries)
    _check_axis(series.x)
    assert series.y.shape == (len(series.sample_ids), series.x.size)
    assert len(set(series.sample_ids)) == len(series.sample_ids) >= 1
    assert not set(series.rejected) & set(series.sample_ids)
    if series.properties is not None:
        assert list(series.properties.index) == series.sample_ids
    for spectrum in series:
        _check_spectrum(spectrum)


def _read_series_both(path: Path) -> SpectrumSeries:
    """Read in both modes; 'record' fails only where 'raise' does, for the same whole file."""
    try:
        strict = dio.read_series(path)
    except ReadError:
        strict = None
    try:
        recorded = dio.read_series(path, invalid="record")
    except ReadError:
        assert strict is None, "invalid='record' failed where invalid='raise' read the file"
        raise
    _check_series(recorded)
    assert all(reason.startswith(str(path)) for reason in recorded.rejected.values())
    if strict is None:  # what raise refused, record left out
        assert recorded.rejected
    else:
        assert recorded.rejected == {}
        assert recorded.sample_ids == strict.sample_ids
        np.testing.assert_array_equal(recorded.y, strict.y)
    return recorded


Reader = Callable[[Path], object]

READERS: dict[str, Reader] = {
    "two.csv": dio.read_text,
    "semi.txt": dio.read_text,
    "ws.dat": dio.read_spectrum,
    "sigma.csv": lambda path: dio.read_text(path, sigma_column="sigma"),
    "rows.csv": _read_series_both,
    "columns.csv": _read_series_both,
    "affn.jdx": dio.read_jcamp,
    "points.dx": dio.read_spectrum,
    "asdf.jdx": dio.read_jcamp,
    "two.spc": lambda path: dio.read_spc(path, subfile=0),
    "even.spc": dio.read_spc,
    "xy.spc": dio.read_spectrum,
    "nist.dat": lambda path: dio.read_spectrum(path, skiprows=60, x_column=1, y_column=0),
}


def _outcome(reader: Reader, path: Path) -> str:
    """'ok' (after checking the container) or the documented error's name; anything else fails."""
    try:
        result = reader(path)
    except ReadError as err:
        assert str(err).startswith(str(path)), f"error does not name the file: {err}"
        return "ReadError"
    if isinstance(result, SpectrumSeries):
        _check_series(result)
    else:
        _check_spectrum(result)
    return "ok"


def _fuzz(folder: Path, bases: dict[str, bytes], readers: dict[str, Reader], seed: int) -> Counter:
    rng = np.random.default_rng(seed)
    tally: Counter = Counter()
    for name, data in bases.items():
        reader = readers[name]
        binary = name.lower().endswith(".spc")
        mutations = BINARY_MUTATIONS if binary else TEXT_MUTATIONS
        assert _outcome(reader, _put(folder, name, data)) == "ok", f"base file {name} must read"
        for trial in range(N_MUTANTS):
            mutate = mutations[int(rng.integers(0, len(mutations)))]
            mutant = mutate(rng, data)
            if rng.random() < 0.25:  # stack a second mutation now and then
                mutant = mutations[int(rng.integers(0, len(mutations)))](rng, mutant)
            path = _put(folder, name, mutant)
            try:
                tally[name, _outcome(reader, path)] += 1
            except Exception as err:  # report the input that broke the contract
                kept = folder / f"failing-{trial}-{name}"
                kept.write_bytes(mutant)
                raise AssertionError(
                    f"{name}, mutant {trial} ({mutate.__name__}, kept as {kept}): "
                    f"{type(err).__name__}: {err}"
                ) from err
    return tally


def _put(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------------


def test_fuzz_every_reader_raises_only_read_errors(tmp_path):
    # the headered file last: the mutants of the other bases stay those of before
    bases = {
        **_text_bases(),
        **_series_bases(),
        **_jcamp_bases(),
        **_spc_bases(),
        **_headered_bases(),
    }
    assert set(bases) == set(READERS)
    tally = _fuzz(tmp_path, bases, READERS, SEED)
    assert sum(tally.values()) == N_MUTANTS * len(bases) >= 1000
    for name in bases:  # the fuzzing is not vacuous: both outcomes occur for every format
        assert tally[name, "ok"] >= 5, (name, tally)
        assert tally[name, "ReadError"] >= 5, (name, tally)


def test_fuzz_real_spc_files(tmp_path, shared_data):
    folder = shared_data / "galactic-spc-demo"
    names = ["BENZENE.SPC", "HOLMIUM.SPC", "TOLUENE.SPC"]
    if not all((folder / name).is_file() for name in names):
        pytest.skip(f"SPC demo files not found in {folder}")
    bases = {name: (folder / name).read_bytes() for name in names}
    tally = _fuzz(tmp_path, bases, dict.fromkeys(names, dio.read_spc), SEED + 1)
    assert sum(tally.values()) == N_MUTANTS * len(names)
    assert all(tally[name, "ReadError"] >= 5 for name in names), tally
