"""Per-sample feature draws from the posteriors of a fitted series.

A series is fitted sample by sample under one candidate model; :func:`feature_draws` turns the
N posteriors into an array of S paired draws of d features per sample, shape (S, N, d), the input
of :func:`gp_property.likelihood.property_log_likelihood`.

Peaks are matched across samples by their index: the model orders the centres, so peak k is the
k-th lowest centre in every draw of every sample.
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
FEATURES = (*PEAK_FEATURES, "area_ratio", "projection")


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
    """

    values: np.ndarray
    names: list[str]
    sample_ids: list[str]
    pairing: str

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
    return names


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
        warnings.warn(note, SpecbayesWarning, stacklevel=3)
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
        loading is positive). Default: all peak areas.
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
        Fits of different models, unknown feature names, peak indices out of range, too many
        components, a negative seed.
    """
    fits = _check_fits(fits)
    seed = v.check_seed("seed", seed)
    names = _check_features(features)
    chosen = _check_peaks(peaks, fits[0].model.n_peaks)
    if "projection" in names:
        n_components = _check_n_components(n_components, len(fits), fits[0].spectrum.n_points)
    ids = _sample_ids(fits, sample_ids)
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
