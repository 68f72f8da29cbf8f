"""Spectrum containers, validated once at construction.

A :class:`Spectrum` always stores its axis in ascending order; a spectrum given with a descending
axis (usual for IR wavenumbers) is flipped on entry and remembers it in ``descending`` so that
figures can show it the way the user sees it.

Both containers refuse what no fit can use: masked arrays (their mask would be dropped), axes of
fewer than 2 points or with values beyond ``1e300`` in magnitude (their span overflows), and
spectra whose intensities are constant (no signal; the model's y scale would be zero) or whose
range overflows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from deconv import _validation as v

_MAX_ABS_X = 1e300  # beyond it x.max() - x.min() can overflow; no instrument axis comes close
_INVALID_CHOICES = ("raise", "record")


def _not_masked(name: str, value: Any) -> None:
    """Refuse ``numpy.ma`` arrays: converting them would silently drop the mask."""
    if isinstance(value, np.ma.MaskedArray):
        v.fail(
            name,
            "not be a masked array (numpy.ma); fill or drop the masked points first",
            f"masked array with {int(np.ma.count_masked(value))} masked values",
            error=TypeError,
        )


def _checked_axis(value: Any) -> tuple[np.ndarray, bool]:
    """``x`` as floats (finite, >= 2 points, |x| <= 1e300, strictly monotonic) and its direction."""
    _not_masked("x", value)
    x = v.as_float_array("x", value)
    v.check_finite("x", x)
    huge = np.abs(x) > _MAX_ABS_X
    if huge.any():
        i = int(np.argmax(huge))
        rule = f"hold values within +-{_MAX_ABS_X:g} (a span that fits in a float)"
        v.fail("x", rule, f"{float(x[i])!r} at index {i}")
    if x.size < 2:
        v.fail("x", "hold at least 2 points", f"{x.size} point")
    return x, v.check_strictly_monotonic("x", x)


def _check_signal(name: str, y: np.ndarray) -> None:
    """A finite ``y`` must vary, and its range must fit in a float."""
    low, high = float(y.min()), float(y.max())
    if low == high:
        v.fail(name, "vary (be non-constant): a constant spectrum holds no signal", f"all {low!r}")
    if not np.isfinite(high - low):
        v.fail(name, "have a finite range (max - min overflows)", f"min {low!r}, max {high!r}")


def _check_sigma_values(name: str, sigma: np.ndarray) -> None:
    v.check_finite(name, sigma)
    if np.any(sigma <= 0):
        v.fail(name, "be > 0 everywhere", f"min {float(sigma.min())!r}")


@dataclass(frozen=True, eq=False)
class Spectrum:
    """One measured spectrum.

    Parameters
    ----------
    x : array_like
        Axis values (wavenumber, Raman shift, binding energy, 2-theta...). Strictly monotonic;
        descending input is accepted and stored ascending.
    y : array_like
        Intensities, same length as ``x``.
    sigma : array_like, optional
        Per-point standard uncertainty of ``y`` (all > 0), same length as ``x``.
    x_unit, y_unit : str
        Axis labels used in reports and figures.
    name : str
        Identifier (sample id, file name).
    metadata : mapping
        Free-form information carried along (instrument, file header...).

    Raises
    ------
    TypeError
        Non-numeric input, or a ``numpy.ma`` masked array.
    ValueError
        Empty input, NaN or inf, mismatched lengths, fewer than 2 points, duplicate or
        non-monotonic ``x``, ``|x| > 1e300``, constant ``y`` or a ``y`` range that overflows,
        non-positive ``sigma``.
    """

    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray | None = None
    x_unit: str = ""
    y_unit: str = ""
    name: str = "spectrum"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    descending: bool = False

    def __post_init__(self) -> None:
        for name in ("x", "y", "sigma"):
            _not_masked(name, getattr(self, name))
        x = v.as_float_array("x", self.x)
        y = v.as_float_array("y", self.y)
        v.check_same_length("y", y, "x", x.size)
        v.check_finite("x", x)
        v.check_finite("y", y)
        x, descending = _checked_axis(x)
        _check_signal("y", y)
        sigma = None
        if self.sigma is not None:
            sigma = v.as_float_array("sigma", self.sigma)
            v.check_same_length("sigma", sigma, "x", x.size)
            _check_sigma_values("sigma", sigma)
        if descending:
            x, y = x[::-1], y[::-1]
            sigma = None if sigma is None else sigma[::-1]
        for array in (x, y, sigma):
            if array is not None:
                array.setflags(write=False)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "descending", bool(self.descending or descending))
        object.__setattr__(self, "metadata", dict(self.metadata))

    @property
    def n_points(self) -> int:
        """Number of points."""
        return int(self.x.size)

    def crop(self, lower: float, upper: float) -> Spectrum:
        """Return the part of the spectrum with ``lower <= x <= upper``."""
        if not lower < upper:
            v.fail("lower", f"be < upper ({upper!r})", lower)
        keep = (self.x >= lower) & (self.x <= upper)
        if keep.sum() < 2:
            v.fail("(lower, upper)", "contain at least 2 points of x", (lower, upper))
        return Spectrum(
            self.x[keep],
            self.y[keep],
            None if self.sigma is None else self.sigma[keep],
            x_unit=self.x_unit,
            y_unit=self.y_unit,
            name=self.name,
            metadata=self.metadata,
            descending=self.descending,
        )

    def to_frame(self) -> pd.DataFrame:
        """The spectrum as a two- or three-column table."""
        table = {"x": self.x, "y": self.y}
        if self.sigma is not None:
            table["sigma"] = self.sigma
        return pd.DataFrame(table)

    def __repr__(self) -> str:
        unit = f" {self.x_unit}" if self.x_unit else ""
        return (
            f"Spectrum(name={self.name!r}, n_points={self.n_points}, "
            f"x=[{self.x[0]:g}, {self.x[-1]:g}]{unit})"
        )


@dataclass(frozen=True, eq=False)
class SpectrumSeries:
    """Many spectra on one shared axis, with sample ids and an optional property table.

    Parameters
    ----------
    x : array_like, shape (n_points,)
        The shared axis (at least 2 points, strictly monotonic, ``|x| <= 1e300``); descending
        input is accepted and stored ascending.
    y : array_like, shape (n_samples, n_points)
        One spectrum per row.
    sample_ids : sequence, optional
        Unique ids, one per row; defaults to ``"0", "1", ...``.
    properties : pandas.DataFrame, optional
        Measured properties indexed by sample id: every sample must appear, and no id twice.
        Kept in sample order, without the rows of samples left out (see ``invalid``).
    sigma : array_like, shape (n_samples, n_points), optional
        Per-point uncertainties.
    x_unit, y_unit : str
        Axis labels.
    metadata : mapping
        Free-form information carried along. An entry that is a mapping keyed by exactly the
        sample ids holds one value per sample: ``series[i].metadata`` gets that sample's value
        (e.g. the baseline a pre-correction subtracted from it).
    descending : bool
        Whether the axis was given descending (set on entry when it is).
    invalid : {'raise', 'record'}
        What to do with a row that cannot make a valid :class:`Spectrum` (NaN or inf in ``y``
        or ``sigma``, constant ``y``, ``y`` range overflowing, ``sigma <= 0``). ``'raise'``:
        raise ``ValueError`` naming the sample id and the rule. ``'record'``: leave the row out
        (with its ``sigma`` and ``properties`` rows) and record the reason in ``rejected``.
        Either way a series with no valid row raises.
    rejected : mapping of str to str, optional
        Samples already left out upstream (e.g. by :func:`deconv.io.read_series`), sample id ->
        reason; the rows this constructor leaves out are added after them.

    Attributes
    ----------
    rejected : dict of str to str
        Every sample left out, id -> the message the ``ValueError`` of ``invalid='raise'``
        would have carried. Empty when nothing was left out.

    Raises
    ------
    TypeError
        Non-numeric or masked (``numpy.ma``) input, a ``properties`` that is no DataFrame, a
        ``rejected`` that is no mapping.
    ValueError
        A bad axis (as for :class:`Spectrum`), mismatched shapes, duplicate or missing ids,
        duplicate ids in ``properties``, an invalid row with ``invalid='raise'``, or no valid
        row at all.
    """

    x: np.ndarray
    y: np.ndarray
    sample_ids: Sequence[Any] | None = None
    properties: pd.DataFrame | None = None
    sigma: np.ndarray | None = None
    x_unit: str = ""
    y_unit: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    descending: bool = False
    invalid: str = "raise"
    rejected: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v.check_choice("invalid", self.invalid, _INVALID_CHOICES)
        for name in ("x", "y", "sigma"):
            _not_masked(name, getattr(self, name))
        x = v.as_float_array("x", self.x)
        y = v.as_float_array("y", self.y, ndim=2)
        v.check_same_length("y", y, "x", x.size)
        x, descending = _checked_axis(x)
        ids = self.sample_ids if self.sample_ids is not None else range(y.shape[0])
        ids = v.check_unique_ids("sample_ids", list(ids))
        if len(ids) != y.shape[0]:
            v.fail("sample_ids", f"have one id per spectrum ({y.shape[0]})", f"{len(ids)} ids")
        sigma = None
        if self.sigma is not None:
            sigma = v.as_float_array("sigma", self.sigma, ndim=2)
            if sigma.shape != y.shape:
                v.fail("sigma", f"have the shape of y {y.shape}", f"shape {sigma.shape}")
        rejected = _check_rejected(self.rejected, ids)
        properties = self._check_properties(self.properties, ids)
        problems = _row_problems(y, sigma, ids)
        if problems and self.invalid == "raise":
            raise ValueError(next(iter(problems.values())))
        if len(problems) == len(ids):
            first = next(iter({**rejected, **problems}.values()))
            raise ValueError(
                "y must hold at least one valid spectrum; got none of "
                f"{len(ids) + len(rejected)} samples valid, the first rejected: {first}"
            )
        if problems:
            keep = [i for i in range(len(ids)) if i not in problems]
            rejected.update({ids[i]: reason for i, reason in problems.items()})
            y = y[keep]
            sigma = None if sigma is None else sigma[keep]
            ids = [ids[i] for i in keep]
            properties = None if properties is None else properties.loc[ids]
        if descending:
            x, y = x[::-1], y[:, ::-1]
            sigma = None if sigma is None else sigma[:, ::-1]
        object.__setattr__(self, "x", np.ascontiguousarray(x))
        object.__setattr__(self, "y", np.ascontiguousarray(y))
        object.__setattr__(self, "sigma", None if sigma is None else np.ascontiguousarray(sigma))
        object.__setattr__(self, "sample_ids", ids)
        object.__setattr__(self, "properties", properties)
        object.__setattr__(self, "descending", bool(self.descending or descending))
        object.__setattr__(self, "metadata", dict(self.metadata))
        object.__setattr__(self, "rejected", rejected)

    @staticmethod
    def _check_properties(properties: Any, ids: list[str]) -> pd.DataFrame | None:
        if properties is None:
            return None
        if isinstance(properties, pd.Series):
            properties = properties.to_frame()
        if not isinstance(properties, pd.DataFrame):
            v.fail(
                "properties",
                "be a pandas DataFrame indexed by sample id",
                type(properties),
                error=TypeError,
            )
        table = properties.copy()
        table.index = table.index.map(str)
        duplicated = list(dict.fromkeys(table.index[table.index.duplicated()]))
        if duplicated:
            v.fail(
                "properties",
                "have one row per sample id (its index holds duplicates)",
                f"duplicated ids {duplicated[:5]}",
            )
        missing = [i for i in ids if i not in table.index]
        if missing:
            v.fail("properties", "have a row for every sample id", f"missing {missing[:5]}")
        return table.loc[ids]

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_points(self) -> int:
        """Points per spectrum."""
        return int(self.x.size)

    def __getitem__(self, item: int | str) -> Spectrum:
        if isinstance(item, str):
            if item not in self.sample_ids:
                v.fail(
                    "item", f"be one of the sample ids ({len(self)} samples)", item, error=KeyError
                )
            index = self.sample_ids.index(item)
        else:
            index = int(item)
            if not -len(self) <= index < len(self):
                v.fail("item", f"be an index below {len(self)}", item, error=IndexError)
            index %= len(self)
        return Spectrum(
            self.x,
            self.y[index],
            None if self.sigma is None else self.sigma[index],
            x_unit=self.x_unit,
            y_unit=self.y_unit,
            name=self.sample_ids[index],
            metadata=_sample_metadata(self.metadata, self.sample_ids, index),
            descending=self.descending,
        )

    def __iter__(self) -> Iterator[Spectrum]:
        for index in range(len(self)):
            yield self[index]

    def property(self, column: str) -> np.ndarray:
        """One property column as a float array, in sample order."""
        if self.properties is None:
            v.fail("properties", "be given to read a property", None)
        if column not in self.properties.columns:
            v.fail("column", f"be one of {list(self.properties.columns)}", column, error=KeyError)
        values = v.as_float_array(column, self.properties[column].to_numpy())
        v.check_finite(column, values)
        return values

    def __repr__(self) -> str:
        return (
            f"SpectrumSeries(n_samples={len(self)}, n_points={self.n_points}, "
            f"x=[{self.x[0]:g}, {self.x[-1]:g}] {self.x_unit})"
        )


def _check_rejected(rejected: Any, ids: list[str]) -> dict[str, str]:
    """Samples left out upstream: a mapping id -> reason, none of them still in ``ids``."""
    if not isinstance(rejected, Mapping):
        v.fail("rejected", "be a mapping of sample id to reason", type(rejected), error=TypeError)
    table = {str(key): str(reason) for key, reason in rejected.items()}
    kept = set(ids)
    present = [key for key in table if key in kept]
    if present:
        v.fail("rejected", "name only samples left out of the series", f"kept {present[:5]}")
    return table


def _row_problems(y: np.ndarray, sigma: np.ndarray | None, ids: list[str]) -> dict[int, str]:
    """Row index -> the message of the first rule the row breaks, for every invalid row."""
    finite = np.isfinite(y).all(axis=1)
    if sigma is not None:
        finite &= (np.isfinite(sigma) & (sigma > 0)).all(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        span = y.max(axis=1) - y.min(axis=1)
    suspects = np.flatnonzero(~finite | ~np.isfinite(span) | (span == 0))
    problems = {}
    for i in suspects:
        sample = f" of sample {ids[i]!r}"
        try:
            v.check_finite(f"y{sample}", y[i])
            _check_signal(f"y{sample}", y[i])
            if sigma is not None:
                _check_sigma_values(f"sigma{sample}", sigma[i])
        except ValueError as err:
            problems[int(i)] = str(err)
    return problems


def _sample_metadata(metadata: Mapping[str, Any], ids: list[str], index: int) -> dict[str, Any]:
    """The metadata of sample ``index``: entries held per sample (a mapping keyed by exactly the
    series' sample ids, e.g. the baselines a pre-correction subtracted) give that sample's value;
    the others are shared."""
    wanted, sample = set(ids), ids[index]
    return {
        key: value[sample] if isinstance(value, Mapping) and set(value) == wanted else value
        for key, value in metadata.items()
    }
