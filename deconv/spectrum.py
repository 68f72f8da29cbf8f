"""Spectrum containers, validated once at construction.

A :class:`Spectrum` always stores its axis in ascending order; a spectrum given with a descending
axis (usual for IR wavenumbers) is flipped on entry and remembers it in ``descending`` so that
figures can show it the way the user sees it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from deconv import _validation as v


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
        Non-numeric input.
    ValueError
        Empty input, NaN or inf, mismatched lengths, duplicate or non-monotonic ``x``,
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
        x = v.as_float_array("x", self.x)
        y = v.as_float_array("y", self.y)
        v.check_same_length("y", y, "x", x.size)
        v.check_finite("x", x)
        v.check_finite("y", y)
        if x.size < 2:
            v.fail("x", "hold at least 2 points", f"{x.size} point")
        descending = v.check_strictly_monotonic("x", x)
        sigma = None
        if self.sigma is not None:
            sigma = v.as_float_array("sigma", self.sigma)
            v.check_same_length("sigma", sigma, "x", x.size)
            v.check_finite("sigma", sigma)
            if np.any(sigma <= 0):
                v.fail("sigma", "be > 0 everywhere", f"min {float(sigma.min())!r}")
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
        The shared axis; descending input is accepted and stored ascending.
    y : array_like, shape (n_samples, n_points)
        One spectrum per row.
    sample_ids : sequence, optional
        Unique ids, one per row; defaults to ``"0", "1", ...``.
    properties : pandas.DataFrame, optional
        Measured properties indexed by sample id (every sample must appear).
    sigma : array_like, shape (n_samples, n_points), optional
        Per-point uncertainties.
    x_unit, y_unit : str
        Axis labels.
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

    def __post_init__(self) -> None:
        x = v.as_float_array("x", self.x)
        y = v.as_float_array("y", self.y, ndim=2)
        v.check_same_length("y", y, "x", x.size)
        v.check_finite("x", x)
        v.check_finite("y", y)
        descending = v.check_strictly_monotonic("x", x) if x.size > 1 else False
        ids = self.sample_ids if self.sample_ids is not None else range(y.shape[0])
        ids = v.check_unique_ids("sample_ids", list(ids))
        if len(ids) != y.shape[0]:
            v.fail("sample_ids", f"have one id per spectrum ({y.shape[0]})", f"{len(ids)} ids")
        sigma = None
        if self.sigma is not None:
            sigma = v.as_float_array("sigma", self.sigma, ndim=2)
            if sigma.shape != y.shape:
                v.fail("sigma", f"have the shape of y {y.shape}", f"shape {sigma.shape}")
            v.check_finite("sigma", sigma)
            if np.any(sigma <= 0):
                v.fail("sigma", "be > 0 everywhere", f"min {float(sigma.min())!r}")
        if descending:
            x, y = x[::-1], y[:, ::-1]
            sigma = None if sigma is None else sigma[:, ::-1]
        properties = self._check_properties(self.properties, ids)
        object.__setattr__(self, "x", np.ascontiguousarray(x))
        object.__setattr__(self, "y", np.ascontiguousarray(y))
        object.__setattr__(self, "sigma", None if sigma is None else np.ascontiguousarray(sigma))
        object.__setattr__(self, "sample_ids", ids)
        object.__setattr__(self, "properties", properties)
        object.__setattr__(self, "descending", bool(self.descending or descending))
        object.__setattr__(self, "metadata", dict(self.metadata))

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
            metadata=self.metadata,
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
