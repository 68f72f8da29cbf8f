"""Instrument formats behind :mod:`deconv.io`: JCAMP-DX and GRAMS/Galactic SPC.

Read through the maintained libraries jcamp and spc-io; here are only what they leave to the
caller (units, labels, metadata, their warnings captured) and the file checks every reader
shares: a missing file named, and any failure turned into a ReadError that names the file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from deconv import _validation as v
from deconv._text_tables import (
    decode,
)
from deconv.exceptions import ReadError
from deconv.spectrum import Spectrum

PathLike = str | os.PathLike[str]


_T = TypeVar("_T")


JCAMP_EXTENSIONS = (".jdx", ".dx", ".jcamp")


SPC_EXTENSIONS = (".spc",)


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


def _build(path: Path, factory: Callable[[], _T]) -> _T:
    """Run a container constructor, re-raising its ValueError/TypeError as ReadError(path)."""
    try:
        return factory()
    except (ValueError, TypeError) as err:
        raise ReadError(f"{path}: {err}") from err


def _run_jcamp(path: Path) -> dict[str, Any]:
    """Parse with the ``jcamp`` package; its printed data-check failures become ReadError.

    The text is decoded here (UTF-16 included, as for delimited text) and handed to the
    parser line by line.
    """
    import jcamp

    reader = getattr(jcamp, "jcamp_read", None) or jcamp.read
    lines = decode(path, path.read_bytes()).splitlines(keepends=True)
    printed = io.StringIO()
    try:
        # overflow in the parser's arithmetic is silenced: Spectrum refuses the axis it spoils
        with contextlib.redirect_stdout(printed), np.errstate(all="ignore"):
            data = reader(lines)
        data["filename"] = str(path)
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
        ``XYPOINTS`` or ``PEAK TABLE`` block. ``XFACTOR``/``YFACTOR`` are applied. Decoded as
        delimited text is (UTF-16/32 with a BOM included).
    x_unit, y_unit : str
        Axis labels; when empty, ``##XUNITS`` and ``##YUNITS`` are used.
    name : str, optional
        Spectrum name; defaults to ``##TITLE``, else the file stem.

    Returns
    -------
    Spectrum
        ``metadata`` holds every header field (lower-case keys, as ``jcamp`` gives them) plus
        ``filename`` and ``source``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        The file does not exist, or is a folder.
    ReadError
        Empty, undecodable or unparsable file, no data block, x/y count mismatch, ``NPOINTS``
        disagreeing with the data, a failed X/Y check of compressed data, a compound (LINK)
        file, or data breaking the :class:`Spectrum` rules.
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
    with _captured_warnings("spc_io") as warnings, path.open("rb") as handle, _spc_errors(path):
        raw = SpcRaw.from_bytes_io(handle)
        spc = SPC.from_spc_raw(raw)
    return raw, spc, warnings


@contextlib.contextmanager
def _spc_errors(path: Path) -> Iterator[None]:
    """Whatever spc-io raises on a corrupt file becomes a ReadError naming the file.

    Floating-point overflow is silenced: a corrupt axis is refused by :class:`Spectrum`.
    """
    try:
        with np.errstate(all="ignore"):
            yield
    except ReadError:
        raise
    except Exception as err:
        raise ReadError(f"{path}: not a readable SPC file ({type(err).__name__}: {err})") from err


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
    FileNotFoundError, IsADirectoryError
        The file does not exist, or is a folder.
    ReadError
        Empty, truncated, corrupt or unsupported file (whatever ``spc-io`` raises on it),
        several subfiles without ``subfile``, a ``subfile`` out of range, or data breaking the
        :class:`Spectrum` rules (e.g. an axis beyond ``1e300`` from a corrupt header).
    TypeError, ValueError
        ``subfile`` is not an integer >= 0.
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
    with _spc_errors(path):  # spc-io computes axes and header fields lazily
        sub = spc[index]
        metadata = _spc_metadata(path, raw, spc, warnings)
        if subfile is not None:
            metadata.update(subfile=index, w=sub.w, z=sub.z)
        labels = _spc_labels(raw, spc)
        x = np.array(sub.xarray, dtype=np.float64)
        y = np.array(sub.yarray, dtype=np.float64)
    return _build(
        path,
        lambda: Spectrum(
            x,
            y,
            x_unit=x_unit or labels[0],
            y_unit=y_unit or labels[1],
            name=path.stem if name is None else name,
            metadata=metadata,
        ),
    )
