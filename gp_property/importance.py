"""Which regions of the spectra predict the property: a GP with one length scale per axis bin.

The diagnostic of the seed paper's discussion (Okubo et al. 2026, Fig. 9): regress the property
on the spectra of a series with an automatic-relevance-determination (ARD) kernel,
``c * RBF(length_scale = (l_1, ..., l_B)) + white``, and read the importance of axis region b as
``1 / l_b^2``, normalised to sum 1. A short length scale means the property changes quickly as
the spectrum changes there.

With N samples and n axis points, n length scales fitted to N property values are ill-posed for
n >> N (the marginal likelihood is flat in most of them): the axis is first averaged in
``n_bins`` contiguous bins of (nearly) equal point counts (default 60), and the importance of a
bin is spread evenly over its points. This is a figure to look at, not part of any criterion.

Units matter: ``1 / l_b^2`` is read in the units of the GP input. ``x_scaling="shared"`` (the
default) divides every bin by one scale, so the normalised importance is that of the raw
intensities (as a GP on the raw spectra would give); a region of small spread that the GP uses
at all then gets a large share. ``x_scaling="per_feature"`` standardises every bin, so the
importance is ``(sd_b / l_b)^2`` in raw units, free of the bins' spreads.

Measured on the paper's noise case (``datasets.paper_noise_series``, 6 spectra, the property a
function of the two peak *positions*): with the defaults the share of the importance inside the
centre priors of the two peaks is 0.72 for seed 0 (0.63 for a uniform importance), and over
seeds 0-19 it has median 0.98 but is below 0.25 for 4 of the 20; six samples cannot pin 60
length scales. Where the property is a smooth function of an intensity (a peak height), the
per-feature importance recovers the region reliably (``tests/test_paper_method.py``).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Kernel, WhiteKernel

from deconv import _validation as v
from gp_property.regressor import (
    CONSTANT_BOUNDS,
    LENGTH_SCALE_BOUNDS,
    NOISE_BOUNDS,
    X_SCALINGS,
    PropertyGP,
)

__all__ = ["RegionImportance", "ard_kernel", "region_importance"]

N_BINS = 60


@dataclass(frozen=True, eq=False)
class RegionImportance:
    """ARD importance of the axis regions of a series' spectra for a property.

    Attributes
    ----------
    x : ndarray, shape (n,)
        The axis points used (inside ``region``, if one was given).
    importance : ndarray, shape (n,)
        Importance per axis point: its bin's importance divided by the bin's point count
        (sums to 1).
    bin_edges : ndarray, shape (B + 1,)
        Bin limits on the axis: the outer points, and midpoints between neighbouring bins.
    bin_importance : ndarray, shape (B,)
        ``(1 / l_b^2) / sum_c (1 / l_c^2)`` per bin (sums to 1).
    length_scale : ndarray, shape (B,)
        The fitted length scales, in the shared standardised units of the GP input.
    spectra : ndarray, shape (N, n)
        The spectra the GP saw, before binning (for plotting).
    source : str
        ``"observed spectra"``, ``"posterior-mean curves"`` or ``"spectra"`` (an array).
    regressor : PropertyGP
        The fitted ARD GP (inputs: the bin means).
    x_scaling : str
        The GP input standardisation (``"shared"`` or ``"per_feature"``).
    """

    x: np.ndarray
    importance: np.ndarray
    bin_edges: np.ndarray
    bin_importance: np.ndarray
    length_scale: np.ndarray
    spectra: np.ndarray = field(repr=False)
    source: str
    regressor: PropertyGP = field(repr=False)
    x_scaling: str = "shared"

    @property
    def n_bins(self) -> int:
        return int(self.bin_importance.size)

    def fraction_inside(self, intervals: Sequence[tuple[float, float]]) -> float:
        """The share of the importance on axis points inside any of ``intervals`` (ends
        included), e.g. ``[(3.5, 4.75), (5.25, 6.5)]``."""
        inside = np.zeros(self.x.size, dtype=bool)
        for low, high in intervals:
            inside |= (self.x >= low) & (self.x <= high)
        return float(self.importance[inside].sum())

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """The importance under the spectra; see :func:`gp_property.plotting.plot_importance`."""
        from gp_property.plotting import plot_importance

        return plot_importance(self, ax=ax, **kwargs)


def _spectra(spectra: Any, t: Any, x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Axis, spectra (N, n), property and a description of where the spectra came from."""
    from deconv.results import Fit
    from deconv.spectrum import SpectrumSeries

    if isinstance(spectra, SpectrumSeries):
        if x is not None:
            v.fail("x", "be None for a SpectrumSeries (its own axis is used)", x)
        prop = spectra.property(t) if isinstance(t, str) else t
        axis = np.asarray(spectra.x, dtype=float)
        return axis, np.asarray(spectra.y, dtype=float), prop, "observed spectra"
    if isinstance(spectra, Sequence) and spectra and all(isinstance(f, Fit) for f in spectra):
        if x is not None:
            v.fail("x", "be None for fits (the axis of the first fit is used)", x)
        axis = np.asarray(spectra[0].spectrum.x, dtype=float)
        curves = [fit.predict(axis, n_draws=None)["total"].mean(axis=0) for fit in spectra]
        return axis, np.stack(curves), t, "posterior-mean curves"
    values = v.as_float_array("spectra", spectra, ndim=2)
    if x is None:
        v.fail("x", "be given with an array of spectra", x, error=TypeError)
    axis = v.as_float_array("x", x)
    v.check_same_length("x", axis, "the columns of spectra", values.shape[1])
    v.check_finite("x", axis)
    return axis, values, t, "spectra"


def _bins(n_points: int, n_bins: Any) -> list[np.ndarray]:
    if n_bins is None:
        return [np.array([i]) for i in range(n_points)]
    n_bins = v.check_positive_int("n_bins", n_bins)
    if n_bins > n_points:
        v.fail("n_bins", f"be <= the number of axis points ({n_points})", n_bins)
    return np.array_split(np.arange(n_points), n_bins)


def ard_kernel(n_bins: int, x_scaling: str) -> Kernel:
    """``ConstantKernel(1) * RBF(l0 * ones(n_bins)) + WhiteKernel(0.1)`` with the bounds of
    :func:`gp_property.regressor.default_kernel`; ``l0`` is the root of the total variance of
    the standardised input (1 for ``"shared"``, ``sqrt(n_bins)`` for ``"per_feature"``), so that
    the first kernel matrix is neither flat nor the identity."""
    start = 1.0 if x_scaling == "shared" else float(np.sqrt(n_bins))
    signal = ConstantKernel(1.0, CONSTANT_BOUNDS)
    rbf = RBF(np.full(n_bins, start), LENGTH_SCALE_BOUNDS)
    return signal * rbf + WhiteKernel(0.1, NOISE_BOUNDS)


def region_importance(
    spectra: Any,
    t: Any,
    *,
    x: Any = None,
    n_bins: int | None = N_BINS,
    region: Sequence[float] | None = None,
    x_scaling: str = "shared",
    n_restarts_optimizer: int = 4,
    seed: int = 0,
) -> RegionImportance:
    """ARD importance ``1 / l^2`` of the axis regions of a series' spectra for a property.

    The spectra (inside ``region``) are averaged in ``n_bins`` contiguous bins; a
    :class:`~gp_property.regressor.PropertyGP` with :func:`ard_kernel` (constant x RBF with one
    length scale per bin, plus white noise) regresses the property on the bin means. The
    importance of bin b is ``(1 / l_b^2) / sum_c (1 / l_c^2)``. With 6 samples the result is
    fragile (see the module notes): read it as a picture, not a measurement.

    Parameters
    ----------
    spectra : SpectrumSeries, sequence of deconv Fit, or array_like of shape (N, n)
        A series (its observed spectra), one fit per sample (the posterior-mean noise-free
        curve of each, on the axis of the first fit), or the spectra as rows (with ``x``).
    t : array_like, shape (N,), or str
        The property per sample; with a SpectrumSeries, also a column of its properties.
    x : array_like, shape (n,), optional
        The axis, for an array of spectra only.
    n_bins : int or None
        Number of contiguous bins of (nearly) equal point counts (default 60); ``None`` keeps
        every point (one length scale per point: ill-posed when points far outnumber samples).
    region : (float, float), optional
        Use only the axis points inside ``(xmin, xmax)``.
    x_scaling : {"shared", "per_feature"}
        ``"shared"``: bins centred and divided by one scale (importance in raw intensity units,
        as a GP on the raw spectra). ``"per_feature"``: every bin standardised (importance free
        of the bins' spreads).
    n_restarts_optimizer : int
        Extra optimiser starts of the GP (the ARD marginal likelihood has many optima).
    seed : int
        Seed of the restarts, in ``[0, 2**32)``.

    Returns
    -------
    RegionImportance

    Raises
    ------
    TypeError
        Non-numeric spectra or property, an array of spectra without ``x``.
    ValueError
        Mismatched shapes, fewer than 2 samples, non-finite values, more bins than points, a
        region with fewer than 2 points, an unknown ``x_scaling``, a seed outside
        ``[0, 2**32)``.
    """
    from gp_property.features import check_region

    seed = v.check_seed("seed", seed)
    v.check_choice("x_scaling", x_scaling, X_SCALINGS)
    n_restarts_optimizer = v.check_positive_int(
        "n_restarts_optimizer", n_restarts_optimizer, minimum=0
    )
    axis, values, t, source = _spectra(spectra, t, x)
    v.check_finite("spectra", values)
    t = v.as_float_array("t", t)
    v.check_finite("t", t)
    if values.shape[0] < 2:
        v.fail("spectra", "hold at least 2 samples", f"{values.shape[0]}")
    if t.size != values.shape[0]:
        v.fail("t", f"have one value per spectrum ({values.shape[0]})", f"length {t.size}")
    mask = check_region(region, axis)
    axis, values = axis[mask], values[:, mask]
    groups = _bins(axis.size, n_bins)
    binned = np.column_stack([values[:, group].mean(axis=1) for group in groups])
    template = PropertyGP(
        ard_kernel(len(groups), x_scaling),
        x_scaling=x_scaling,
        n_restarts_optimizer=n_restarts_optimizer,
        random_state=seed,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gp = template.fit(binned, t)
    v.warn_again(caught)
    length = np.atleast_1d(gp.kernel_.k1.k2.length_scale).astype(float)
    weight = 1.0 / length**2
    bin_importance = weight / weight.sum()
    counts = np.array([group.size for group in groups])
    importance = np.repeat(bin_importance / counts, counts)
    middles = [0.5 * (axis[a[-1]] + axis[b[0]]) for a, b in itertools.pairwise(groups)]
    edges = np.array([axis[0], *middles, axis[-1]])
    return RegionImportance(
        x=axis,
        importance=importance,
        bin_edges=edges,
        bin_importance=bin_importance,
        length_scale=length,
        spectra=values,
        source=source,
        regressor=gp,
        x_scaling=x_scaling,
    )
