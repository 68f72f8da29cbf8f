"""Per-sample feature draws from the posteriors of a fitted series.

A series is fitted sample by sample under one candidate model; :func:`feature_draws` turns the
N posteriors into an array of S paired draws of d features per sample, shape (S, N, d), the input
of :func:`gp_property.likelihood.property_log_likelihood`.

Peaks are matched across samples by their index: the model orders the centres, so peak k is the
k-th lowest centre in every draw of every sample.

Two inputs hand the GP a whole spectrum instead of peak features (the seed paper's method,
Okubo et al. 2026): ``"predictive_spectrum"``, a posterior predictive draw ``Y ~ p(Y | theta)``
(a posterior draw of theta, then fresh noise from the likelihood), and ``"noise_free_spectrum"``,
the mean curve of the same posterior draw of theta (no noise); either on the whole axis or on an
x ``region``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deconv import _validation as v
from deconv.exceptions import SpecbayesWarning
from deconv.results import Fit
from gp_property._pairing import pairing_indices

PEAK_FEATURES = ("area", "height", "centre", "fwhm")
SPECTRUM_FEATURES = ("predictive_spectrum", "noise_free_spectrum")
FEATURES = (*PEAK_FEATURES, "area_ratio", "projection", *SPECTRUM_FEATURES)


@dataclass(frozen=True, eq=False)
class FeatureDraws:
    """Paired posterior draws of the features of every sample of a series.

    Attributes
    ----------
    values : ndarray, shape (S, N, d)
        Draw s of the d features of sample i is ``values[s, i]``.
    names : list of str
        Feature names, e.g. ``["area[1]", "area[2]"]`` (peaks 1-based, in centre order).
    sample_ids : list of str
        One id per sample, in the order of the fits.
    pairing : str
        How the draws were paired (and truncated, when samples had different draw counts).
    x : ndarray or None
        The axis points of a spectrum input (``"predictive_spectrum"``,
        ``"noise_free_spectrum"``), one per feature; ``None`` for peak features.
    """

    values: np.ndarray
    names: list[str]
    sample_ids: list[str]
    pairing: str
    x: np.ndarray | None = None

    @property
    def n_draws(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.values.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.values.shape[2])

    def mean(self) -> np.ndarray:
        """Posterior-mean features, shape (N, d)."""
        return self.values.mean(axis=0)


def _model_key(fit: Fit) -> tuple[str, str]:
    """K, shape and baseline (through the label) and the noise model."""
    return fit.model.label, fit.model.noise


def _check_fits(fits: Any) -> list[Fit]:
    if isinstance(fits, Fit) or not isinstance(fits, Sequence) or len(fits) == 0:
        v.fail("fits", "be a non-empty sequence of Fit objects", fits, error=TypeError)
    for i, fit in enumerate(fits):
        if not isinstance(fit, Fit):
            v.fail(
                "fits",
                "hold only Fit objects",
                f"{type(fit).__name__} at index {i}",
                error=TypeError,
            )
    first = _model_key(fits[0])
    for i, fit in enumerate(fits):
        if _model_key(fit) != first:
            v.fail(
                "fits",
                f"all share the model of fits[0] ({first[0]}, {first[1]} noise)",
                f"{fit.model.label}, {fit.model.noise} noise at index {i}",
            )
    return list(fits)


def _check_features(features: Any) -> tuple[str, ...]:
    names = (features,) if isinstance(features, str) else tuple(features)
    if not names:
        v.fail("features", f"name at least one of {FEATURES}", features)
    for name in names:
        v.check_choice("features", name, FEATURES)
    if len(set(names)) != len(names):
        v.fail("features", "not repeat a feature", features)
    if len(names) > 1 and set(names) & set(SPECTRUM_FEATURES):
        v.fail("features", f"name a spectrum input {SPECTRUM_FEATURES} alone", features)
    return names


def is_spectrum_input(names: Sequence[str]) -> bool:
    """Whether checked feature names are a whole-spectrum input."""
    return bool(set(names) & set(SPECTRUM_FEATURES))


def check_region_for(names: Sequence[str], region: Any, x: np.ndarray) -> np.ndarray:
    """:func:`check_region` for the checked feature ``names``: a region needs a spectrum
    input."""
    if region is not None and not is_spectrum_input(names):
        v.fail(
            "region",
            "be None unless features is 'predictive_spectrum' or 'noise_free_spectrum'",
            region,
        )
    return check_region(region, x)


def check_region(region: Any, x: np.ndarray) -> np.ndarray:
    """The mask of the points of ``x`` inside ``region = (xmin, xmax)`` (ends included);
    ``None`` keeps every point. At least 2 points must fall inside."""
    if region is None:
        return np.ones(x.size, dtype=bool)
    if isinstance(region, str) or not isinstance(region, Sequence) or len(region) != 2:
        v.fail("region", "be a pair (xmin, xmax)", region, error=TypeError)
    bounds = v.as_float_array("region", list(region))
    v.check_finite("region", bounds)
    low, high = bounds
    if not low < high:
        v.fail("region", "have xmin < xmax", region)
    mask = (x >= low) & (x <= high)
    if mask.sum() < 2:
        v.fail("region", f"hold at least 2 points of the axis [{x.min():g}, {x.max():g}]", region)
    return mask


def _check_peaks(peaks: Any, n_peaks: int, model: str | None = None) -> np.ndarray:
    """1-based peak indices -> 0-based positions, for a model of ``n_peaks`` peaks (its label
    ``model``, if given, is named in the error)."""
    under = "" if model is None else f" (the peaks of {model})"
    if peaks is None:
        return np.arange(n_peaks)
    chosen = [peaks] if isinstance(peaks, int | np.integer) else list(peaks)
    if not chosen:
        v.fail("peaks", "name at least one peak", peaks)
    for peak in chosen:
        if isinstance(peak, bool) or not isinstance(peak, int | np.integer):
            v.fail("peaks", "hold integer peak indices", peaks, error=TypeError)
        if not 1 <= peak <= n_peaks:
            v.fail("peaks", f"hold 1-based peak indices between 1 and {n_peaks}{under}", peaks)
    if len(set(chosen)) != len(chosen):
        v.fail("peaks", "not repeat a peak", peaks)
    return np.asarray(chosen, dtype=np.intp) - 1


def _sample_ids(fits: list[Fit], sample_ids: Any) -> list[str]:
    if sample_ids is None:
        names = [str(fit.spectrum.name) for fit in fits]
        return names if len(set(names)) == len(names) else [str(i) for i in range(len(fits))]
    ids = v.check_unique_ids("sample_ids", list(sample_ids))
    if len(ids) != len(fits):
        v.fail("sample_ids", f"have one id per fit ({len(fits)})", f"{len(ids)} ids")
    return ids


def _posterior(fit: Fit, name: str) -> np.ndarray:
    """A per-peak posterior quantity flattened to (draws, K), chains first."""
    values = fit.idata.posterior[name].transpose("chain", "draw", "peak").to_numpy()
    return values.reshape(-1, values.shape[-1])


def _peak_block(fit: Fit, name: str, peaks: np.ndarray, index: np.ndarray) -> np.ndarray:
    if name == "area_ratio":
        area = _posterior(fit, "area")[index]
        return area[:, peaks] / area.sum(axis=1, keepdims=True)
    return _posterior(fit, name)[index][:, peaks]


class _Projection:
    """Principal components of the posterior-mean curves of all samples (on one shared axis)."""

    def __init__(self, fits: list[Fit], n_components: int) -> None:
        self.x = fits[0].spectrum.x
        means = np.stack([self.curves(fit).mean(axis=0) for fit in fits])
        self.centre = means.mean(axis=0)
        _, _, vt = np.linalg.svd(means - self.centre, full_matrices=False)
        basis = vt[:n_components]
        signs = np.sign(basis[np.arange(n_components), np.abs(basis).argmax(axis=1)])
        self.basis = basis * signs[:, np.newaxis]

    def curves(self, fit: Fit) -> np.ndarray:
        return fit.predict(self.x, n_draws=None)["total"]

    def project(self, fit: Fit, index: np.ndarray) -> np.ndarray:
        return (self.curves(fit)[index] - self.centre) @ self.basis.T


class _Spectra:
    """Whole-spectrum inputs on the (shared) axis of the first fit, restricted to a region."""

    def __init__(self, fits: list[Fit], feature: str, region: Any) -> None:
        self.feature = feature
        x = fits[0].spectrum.x
        self.mask = check_region(region, x)
        self.x = x[self.mask]
        if feature == "predictive_spectrum":
            for i, fit in enumerate(fits):
                if not np.array_equal(fit.spectrum.x, x):
                    v.fail(
                        "fits",
                        "share the axis of fits[0] for 'predictive_spectrum'",
                        f"another axis at index {i}",
                    )
                if "posterior_predictive" not in fit.idata.groups():
                    v.fail(
                        "fits",
                        "carry posterior predictive draws (idata.posterior_predictive['y']) "
                        "for 'predictive_spectrum'",
                        f"none at index {i}",
                    )
                predictive = fit.idata.posterior_predictive["y"]
                if predictive.sizes["chain"] * predictive.sizes["draw"] != fit.n_draws:
                    v.fail(
                        "fits",
                        "carry one predictive draw per posterior draw for 'predictive_spectrum'",
                        f"{predictive.sizes['chain'] * predictive.sizes['draw']} predictive "
                        f"and {fit.n_draws} posterior draws at index {i}",
                    )

    def draws(self, fit: Fit, index: np.ndarray) -> np.ndarray:
        if self.feature == "predictive_spectrum":
            y = fit.idata.posterior_predictive["y"].transpose("chain", "draw", ...).to_numpy()
            return y.reshape(-1, y.shape[-1])[index][:, self.mask]
        return fit.predict(self.x, n_draws=None)["total"][index]

    def names(self) -> list[str]:
        return [f"{self.feature}(x={x:.6g})" for x in self.x]


def _names(features: tuple[str, ...], peaks: np.ndarray, n_components: int) -> list[str]:
    names = []
    for feature in features:
        count = range(n_components) if feature == "projection" else peaks
        names += [f"{feature}[{k + 1}]" for k in count]
    return names


def _check_n_components(n_components: Any, n_samples: int, n_points: int) -> int:
    n_components = v.check_positive_int("n_components", n_components)
    limit = min(n_samples - 1, n_points)
    if n_components > limit:
        v.fail(
            "n_components",
            f"be <= min(number of samples - 1, points per spectrum) = {limit}",
            n_components,
        )
    return n_components


def _pair(
    counts: list[int], n_draws: int | None, pairing: str, seed: int
) -> tuple[np.ndarray, str]:
    index = pairing_indices(counts, n_pairs=n_draws, pairing=pairing, seed=seed, name="n_draws")
    text = f"{pairing} pairing of {index.shape[1]} draws per sample"
    if min(counts) != max(counts):
        note = (
            f"samples have {min(counts)} to {max(counts)} posterior draws; "
            f"pairing uses at most the minimum, {min(counts)}"
        )
        warnings.warn(note, SpecbayesWarning, stacklevel=v.caller_stacklevel())
        text += f" ({note})"
    return index, text


def feature_draws(
    fits: Sequence[Fit],
    *,
    features: str | Sequence[str] = ("area",),
    peaks: int | Sequence[int] | None = None,
    n_draws: int | None = None,
    pairing: str = "index",
    seed: int = 0,
    n_components: int = 2,
    region: Sequence[float] | None = None,
    sample_ids: Sequence[Any] | None = None,
) -> FeatureDraws:
    """Paired posterior draws of spectral features for every sample of a series.

    Parameters
    ----------
    fits : sequence of deconv Fit
        One fit per sample, all under the same model (K, shape, baseline, noise).
    features : str or sequence of str
        Any of ``"area"``, ``"height"``, ``"centre"``, ``"fwhm"`` (per chosen peak, user units),
        ``"area_ratio"`` (each chosen peak's area over the total area of all K peaks) and
        ``"projection"`` (the noise-free predicted spectrum projected on the first
        ``n_components`` principal components of the posterior-mean curves of all samples,
        evaluated on the axis of the first sample; component signs fixed so that the largest
        loading is positive), or one whole-spectrum input, alone:
        ``"predictive_spectrum"`` (the posterior predictive draw ``Y ~ p(Y | theta)`` of each
        posterior draw of theta, noise included, as stored in the fit's
        ``idata.posterior_predictive["y"]``; all fits on one axis) or ``"noise_free_spectrum"``
        (the noise-free mean curve of each posterior draw, peaks plus baseline, evaluated on
        the axis of the first fit). Default: all peak areas.
    peaks : int or sequence of int, optional
        1-based peak indices (centre order); default all peaks.
    n_draws : int, optional
        Use at most this many paired draws.
    pairing : {"index", "random"}
        ``"index"``: pair s holds draw s of every sample (chains flattened in order; thinned
        evenly when ``n_draws`` is smaller). ``"random"``: an independent random permutation of
        each sample's draws. With unequal draw counts the minimum is used and a
        :class:`~deconv.exceptions.SpecbayesWarning` says so.
    seed : int
        Seed of the random pairing, in ``[0, 2**32)``.
    n_components : int
        Number of principal components for ``"projection"``.
    region : (float, float), optional
        ``(xmin, xmax)``: a spectrum input keeps only the axis points inside (ends included);
        default the whole axis. Only with a spectrum input.
    sample_ids : sequence, optional
        Unique ids; default the spectrum names (or ``"0", "1", ...`` when those repeat).

    Returns
    -------
    FeatureDraws

    Raises
    ------
    TypeError
        ``fits`` is not a sequence of Fit objects.
    ValueError
        Fits of different models, unknown feature names, a spectrum input beside other
        features, peak indices out of range, too many components, a region without a spectrum
        input or with fewer than 2 axis points, fits on different axes or without predictive
        draws for ``"predictive_spectrum"``, a negative seed.
    """
    fits = _check_fits(fits)
    seed = v.check_seed("seed", seed)
    names = _check_features(features)
    chosen = _check_peaks(peaks, fits[0].model.n_peaks)
    check_region_for(names, region, fits[0].spectrum.x)
    if "projection" in names:
        n_components = _check_n_components(n_components, len(fits), fits[0].spectrum.n_points)
    ids = _sample_ids(fits, sample_ids)
    if is_spectrum_input(names):
        spectra = _Spectra(fits, names[0], region)
        index, text = _pair([fit.n_draws for fit in fits], n_draws, pairing, seed)
        blocks = [spectra.draws(fit, rows) for fit, rows in zip(fits, index, strict=True)]
        values = np.stack(blocks, axis=1)
        return FeatureDraws(values, spectra.names(), ids, text, x=spectra.x.copy())
    index, text = _pair([fit.n_draws for fit in fits], n_draws, pairing, seed)
    projection = _Projection(fits, n_components) if "projection" in names else None
    per_sample = []
    for fit, rows in zip(fits, index, strict=True):
        blocks = [
            projection.project(fit, rows)
            if name == "projection"
            else _peak_block(fit, name, chosen, rows)
            for name in names
        ]
        per_sample.append(np.concatenate(blocks, axis=1))
    values = np.stack(per_sample, axis=1)
    return FeatureDraws(values, _names(names, chosen, n_components), ids, text)
