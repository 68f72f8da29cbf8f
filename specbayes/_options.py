"""The shared options of the ``specbayes`` commands and their parsing.

Peak counts (``--peaks 1-5``) and comma-separated choices, and how the commands read data.

One option group for every command that reads spectra (``fit``, ``select``, ``batch``): the
crop (``--xmin``/``--xmax``), the layout of text files (``--skiprows``, ``--comment``,
``--x-column``, ``--y-column``, ``--sigma-column``), a known noise level or per-point
uncertainties (``--sigma 0.01`` or ``--sigma data``) and a baseline pre-correction through
pybaselines (``--precorrect asls:lam=1e3,p=1e-4``). Nothing here imports JAX.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

from deconv import _validation as v

PEAKS_RULE = 'be a peak count "3", a range "1-5" or a list "1,2,4" of positive integers'
NO_COMMENT = "none"  # --comment none: no comment lines
COLUMN_OPTIONS = ("x_column", "y_column", "sigma_column")


def add_input_options(parser: argparse.ArgumentParser, *, sigma_help: str) -> None:
    """The ``reading the data`` option group of a command that reads spectra."""
    group = parser.add_argument_group("reading the data")
    group.add_argument("--xmin", type=float, default=None, help="crop: lowest x kept")
    group.add_argument("--xmax", type=float, default=None, help="crop: highest x kept")
    group.add_argument(
        "--skiprows",
        type=int,
        default=None,
        metavar="N",
        help="lines of free text before the data (or the header) to skip",
    )
    group.add_argument(
        "--comment",
        default=None,
        metavar="PREFIX",
        help=f'comment prefix of text files (default "#"; "{NO_COMMENT}": no comments)',
    )
    for name, what in (("x", "x"), ("y", "intensities"), ("sigma", "per-point uncertainties")):
        group.add_argument(
            f"--{name}-column",
            default=None,
            metavar="NAME|INDEX",
            help=f"column of the {what} in a text file: a header name or a 0-based index",
        )
    group.add_argument("--sigma", default=None, metavar="SIGMA|data", help=sigma_help)
    group.add_argument(
        "--precorrect",
        default=None,
        metavar="METHOD[:KEY=VALUE,...]",
        help="subtract a pybaselines baseline after the crop, e.g. asls:lam=1e3,p=1e-4 "
        "(the seed paper's AsLS)",
    )


def parse_sigma(text: str | None) -> float | str | None:
    """``--sigma``: ``None``, ``"data"`` (the file's sigma column) or a positive number."""
    if text is None or text == "data":
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        v.fail("--sigma", 'be a positive number or "data" (the sigma column)', text)
    return value


def _column(text: str) -> int | str:
    stripped = text.strip()
    digits = stripped[1:] if stripped.startswith("-") else stripped
    return int(stripped) if digits.isdigit() else stripped


def reader_options(args: argparse.Namespace, *, table: bool) -> dict[str, Any]:
    """Keywords of the reader for the options given (a wide series table takes fewer)."""
    options: dict[str, Any] = {}
    if args.skiprows is not None:
        options["skiprows"] = v.check_positive_int("--skiprows", args.skiprows, minimum=0)
    if args.comment is not None:
        options["comment"] = None if args.comment == NO_COMMENT else args.comment
    for name in COLUMN_OPTIONS:
        value = getattr(args, name)
        if value is None:
            continue
        if table:
            flag = "--" + name.replace("_", "-")
            v.fail(flag, "apply to spectrum files, not to a wide series table", value)
        options[name] = _column(value)
    if getattr(args, "sigma", None) == "data" and not table and "sigma_column" not in options:
        v.fail("--sigma data", "come with --sigma-column (the column of the uncertainties)", "")
    return options


def crop(args: argparse.Namespace) -> tuple[float | None, float | None] | None:
    """``(xmin, xmax)`` where either is given, else ``None``."""
    for name in ("xmin", "xmax"):
        value = getattr(args, name)
        if value is not None and not math.isfinite(value):
            v.fail(f"--{name}", "be a finite number", value)
    if args.xmin is None and args.xmax is None:
        return None
    if args.xmin is not None and args.xmax is not None and not args.xmin < args.xmax:
        v.fail("--xmin", f"be below --xmax ({args.xmax!r})", args.xmin)
    return args.xmin, args.xmax


def parse_precorrect(text: str | None) -> tuple[str, dict[str, Any]] | None:
    """``METHOD[:KEY=VALUE,...]`` as ``(method, keywords)``; numbers and true/false parsed."""
    if text is None:
        return None
    method, _, rest = text.partition(":")
    keywords: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            v.fail("--precorrect", "read METHOD:KEY=VALUE,KEY=VALUE", text)
        keywords[key.strip()] = _value(value.strip())
    if not method.strip():
        v.fail("--precorrect", "start with a pybaselines method name, e.g. asls", text)
    return method.strip(), keywords


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def read_one(path: Any, args: argparse.Namespace) -> Any:
    """One spectrum file, read with the options given, cropped and pre-corrected."""
    from deconv.io import read_spectrum

    spectrum = read_spectrum(path, **reader_options(args, table=False))
    bounds = crop(args)
    if bounds is not None:
        lower = spectrum.x[0] if bounds[0] is None else bounds[0]
        upper = spectrum.x[-1] if bounds[1] is None else bounds[1]
        spectrum = spectrum.crop(lower, upper)
    step = parse_precorrect(args.precorrect)
    if step is not None:
        from deconv.precorrect import subtract_baseline

        spectrum = subtract_baseline(spectrum, step[0], **step[1])
    return spectrum


def describe_input(args: argparse.Namespace) -> str:
    """One line on how the data were read (for reports), empty when nothing was asked."""
    parts = []
    bounds = crop(args)
    if bounds is not None:
        parts.append(f"crop x in [{bounds[0]}, {bounds[1]}]")
    if args.precorrect:
        parts.append(f"baseline pre-correction {args.precorrect} (pybaselines)")
    if getattr(args, "sigma", None) == "data":
        parts.append("per-point sigma from the file")
    return "; ".join(parts)


def parse_peaks(text: str, name: str = "--peaks") -> list[int]:
    """Peak counts from ``"3"``, ``"1-5"``, ``"1,2,4"`` or a mix (``"1-3,5"``), sorted.

    Raises
    ------
    ValueError
        Anything else (names ``name``, the rule and the value).
    """
    counts: set[int] = set()
    try:
        for item in str(text).split(","):
            low, dash, high = item.strip().partition("-")
            first, last = int(low), int(high) if dash else int(low)
            if first < 1 or last < first:
                raise ValueError
            counts.update(range(first, last + 1))
    except ValueError:
        v.fail(name, PEAKS_RULE, text)
    return sorted(counts)


def choices(name: str, text: str, allowed: Sequence[str]) -> list[str]:
    chosen = [item.strip() for item in str(text).split(",") if item.strip()]
    if not chosen:
        v.fail(name, f"name at least one of {', '.join(allowed)}", text)
    for item in chosen:
        if item not in allowed:
            v.fail(name, f"name only choices among {', '.join(allowed)}", item)
    return list(dict.fromkeys(chosen))
