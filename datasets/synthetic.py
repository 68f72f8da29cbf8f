"""Synthetic spectra with known ground truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from deconv import _validation as v
from deconv.spectrum import Spectrum

PEAK_COLUMNS = ("centre", "fwhm", "height")


@dataclass(frozen=True)
class GroundTruth:
    """What generated a synthetic spectrum.

    Attributes
    ----------
    peaks : pandas.DataFrame
        One row per peak, sorted by centre: ``centre``, ``fwhm``, ``height``, ``area`` and the
        shape's extra parameters (``eta``).
    shape : str
        Line shape name.
    baseline : numpy.ndarray
        Polynomial coefficients in powers of ``(x - x[0])``, lowest order first (empty where
        the background is not a polynomial: see ``background``).
    noise_sd : float
        Standard deviation of the added Gaussian noise.
    clean : numpy.ndarray
        Noise-free spectrum on the ascending axis.
    background : numpy.ndarray, optional
        The noise-free background on the ascending axis, where it is not the polynomial
        ``baseline`` (:func:`smooth_background`).
    """

    peaks: pd.DataFrame
    shape: str
    baseline: np.ndarray
    noise_sd: float
    clean: np.ndarray
    background: np.ndarray | None = None


@dataclass(frozen=True)
class Synthetic:
    """A synthetic spectrum and its ground truth."""

    spectrum: Spectrum
    truth: GroundTruth


def _peak_table(peaks: Any, shape: str) -> pd.DataFrame:
    table = pd.DataFrame(peaks)
    missing = [c for c in PEAK_COLUMNS if c not in table.columns]
    if missing:
        v.fail("peaks", f"have columns {PEAK_COLUMNS}", f"missing {missing}")
    if shape == "pseudo_voigt" and "eta" not in table.columns:
        table["eta"] = 0.5
    if shape == "voigt" and "fwhm_lorentz" not in table.columns:
        v.fail("peaks", "have a 'fwhm_lorentz' column for Voigt peaks", list(table.columns))
    return table.sort_values("centre").reset_index(drop=True).astype(float)


def peak_curves(x: np.ndarray, peaks: pd.DataFrame, shape: str) -> np.ndarray:
    """Each peak of ``peaks`` (height parametrisation) on ``x``, shape ``(K, n)``."""
    from deconv import lineshapes

    line = lineshapes.get_lineshape(shape)
    curves = []
    for row in peaks.itertuples(index=False):
        extra = {name: getattr(row, name) for name in line.extra_params}
        profile = line.profile(x, row.centre, row.fwhm, *extra.values())
        peak = lineshapes.peak_value(shape, row.fwhm, **extra)
        curves.append(np.asarray(row.height * profile / peak))
    return np.array(curves)


def synthetic_spectrum(
    x: Sequence[float] | np.ndarray,
    peaks: Mapping[str, Sequence[float]] | pd.DataFrame,
    *,
    shape: str = "pseudo_voigt",
    baseline: Sequence[float] = (),
    noise_sd: float = 0.0,
    seed: int = 0,
    name: str = "synthetic",
    x_unit: str = "",
    y_unit: str = "",
) -> Synthetic:
    """Build a spectrum from known peaks, a polynomial baseline and Gaussian noise.

    Parameters
    ----------
    x : array_like
        Axis (any monotonic order; descending is kept as the spectrum's display order).
    peaks : mapping or DataFrame
        Columns ``centre``, ``fwhm``, ``height`` (and ``eta`` for pseudo-Voigt, default 0.5;
        ``fwhm_lorentz`` for Voigt, where ``fwhm`` is the Gaussian FWHM).
    shape : str
        Line shape of every peak.
    baseline : sequence of float
        Polynomial coefficients in powers of ``(x - min(x))``, lowest order first.
    noise_sd : float
        Standard deviation of the Gaussian noise (0 for a noiseless spectrum).
    seed : int
        Seed of ``numpy.random.default_rng`` for the noise.

    Returns
    -------
    Synthetic
        ``spectrum`` and ``truth`` (with areas computed from heights and widths).
    """
    from deconv import lineshapes

    x_given = v.as_float_array("x", x)
    table = _peak_table(peaks, shape)
    x_sorted = np.sort(x_given)
    curves = peak_curves(x_sorted, table, shape)
    coefficients = np.asarray(baseline, dtype=float)
    background = (
        np.polynomial.polynomial.polyval(x_sorted - x_sorted[0], coefficients)
        if coefficients.size
        else np.zeros_like(x_sorted)
    )
    clean = curves.sum(axis=0) + background
    extra = {name: table[name].to_numpy() for name in lineshapes.get_lineshape(shape).extra_params}
    table["area"] = np.asarray(
        lineshapes.height_to_area(
            shape, table["height"].to_numpy(), table["fwhm"].to_numpy(), **extra
        )
    )
    noise_sd = v.check_positive_float("noise_sd", noise_sd, allow_zero=True)
    noise = np.random.default_rng(seed).normal(0.0, noise_sd, x_sorted.size) if noise_sd else 0.0
    y = clean + noise
    descending = x_given[0] > x_given[-1]
    spectrum = Spectrum(
        x_sorted[::-1] if descending else x_sorted,
        y[::-1] if descending else y,
        name=name,
        x_unit=x_unit,
        y_unit=y_unit,
    )
    truth = GroundTruth(table, shape, coefficients, noise_sd, clean)
    return Synthetic(spectrum, truth)


# -- the benchmark of Nagata, Sugita and Okada (2012) -------------------------------------------

NAGATA_HEIGHTS = (0.587, 1.522, 1.183)
NAGATA_CENTRES = (1.210, 1.455, 1.703)
NAGATA_PRECISIONS = (95.689, 146.837, 164.469)


def nagata2012(seed: int = 0) -> Synthetic:
    """The three-Gaussian benchmark of Nagata, Sugita and Okada (2012).

    ``x = 0, 0.01, ..., 3`` (301 points); ``y = sum_k a_k exp(-b_k (x - mu_k)**2 / 2)`` plus
    ``0.1 * numpy.random.RandomState(seed).randn(301)``: seed 0 is the exact data set used in
    the literature's reference runs. Fit it with ``priors="nagata2012"``.
    """
    x = np.linspace(0.0, 3.0, 301)
    heights, centres = np.array(NAGATA_HEIGHTS), np.array(NAGATA_CENTRES)
    precisions = np.array(NAGATA_PRECISIONS)
    clean = np.sum(
        heights[:, None] * np.exp(-precisions[:, None] * (x - centres[:, None]) ** 2 / 2), axis=0
    )
    noise = 0.1 * np.random.RandomState(seed).randn(301)
    fwhm = np.sqrt(8 * np.log(2) / precisions)
    table = pd.DataFrame(
        {
            "centre": centres,
            "fwhm": fwhm,
            "height": heights,
            "precision": precisions,
            "area": heights * np.sqrt(2 * np.pi / precisions),
        }
    )
    spectrum = Spectrum(x, clean + noise, name=f"nagata2012 (seed {seed})")
    return Synthetic(spectrum, GroundTruth(table, "gaussian", np.zeros(0), 0.1, clean))


# -- an IR-like carbonyl band ------------------------------------------------------------------

IR_PEAKS = {
    "centre": (1718.0, 1757.0, 1784.0),
    "fwhm": (26.0, 22.0, 16.0),
    "height": (0.55, 1.0, 0.10),
    "eta": (0.3, 0.4, 0.5),
}
IR_BASELINE = (0.05, 4.0e-4)


def ir_carbonyl(seed: int = 0, *, noise: float = 0.01, n_points: int = 1000) -> Synthetic:
    """An IR-like carbonyl band: three pseudo-Voigt peaks on a linear baseline.

    1650-1850 cm^-1 on a descending axis (as IR spectrometers write it), a main peak at
    1757 cm^-1, a half-height neighbour at 1718 cm^-1 and a weak shoulder (10 % of the main
    height) at 1784 cm^-1 overlapping the main peak; Gaussian noise with standard deviation
    ``noise`` times the maximum of the noise-free spectrum.
    """
    v.check_positive_float("noise", noise, allow_zero=True)
    x = np.linspace(1850.0, 1650.0, v.check_positive_int("n_points", n_points, minimum=10))
    clean = synthetic_spectrum(x, IR_PEAKS, shape="pseudo_voigt", baseline=IR_BASELINE)
    noise_sd = noise * float(np.max(clean.truth.clean))
    return synthetic_spectrum(
        x,
        IR_PEAKS,
        shape="pseudo_voigt",
        baseline=IR_BASELINE,
        noise_sd=noise_sd,
        seed=seed,
        name=f"ir_carbonyl (seed {seed}, noise {noise:g})",
        x_unit="wavenumber / cm^-1",
        y_unit="absorbance",
    )


# -- peaks on a smooth background that no low-order polynomial follows ---------------------------

SMOOTH_PEAKS = {"centre": (4.0, 4.6, 6.5), "fwhm": (0.35, 0.3, 0.4), "height": (1.0, 0.5, 0.7)}
"""Three Gaussian peaks on 0-10: a pair 0.6 apart (about two FWHM) and one alone."""
SMOOTH_BACKGROUNDS = ("sigmoid", "hump", "both")


def smooth_background(
    seed: int = 0, *, kind: str = "both", noise: float = 0.01, n_points: int = 300
) -> Synthetic:
    """Three Gaussian peaks (:data:`SMOOTH_PEAKS`) on a smooth background with known truth.

    The background, drawn from ``seed``, is a sigmoid step (height 0.3-0.6 of the tallest
    peak, centre 3-7, logistic width 0.8-1.5: a 10-90 % rise over 3.5-6.6), a broad
    Gaussian hump (height 0.2-0.5, centre 2-8, sd 1.5-3), or both on a gentle slope, on 0-10
    with ``n_points`` points; Gaussian noise of sd ``noise`` times the tallest peak. A cubic
    follows neither a step nor a hump over the range, a spline baseline does
    (:class:`deconv.baselines.SplineBaseline`), and pre-correction leaves part of them under
    the peaks. (A step as sharp as a peak is not smooth: no smooth background separates it
    from the peak it sits under; its known form, a :class:`deconv.CustomBaseline`, is the
    route there.) ``truth.background`` holds the background.
    """
    v.check_choice("kind", kind, SMOOTH_BACKGROUNDS)
    noise = v.check_positive_float("noise", noise)
    n_points = v.check_positive_int("n_points", n_points, minimum=50)
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 10.0, n_points)
    step = rng.uniform(0.3, 0.6) / (
        1.0 + np.exp(-(x - rng.uniform(3.0, 7.0)) / rng.uniform(0.8, 1.5))
    )
    hump = rng.uniform(0.2, 0.5) * np.exp(
        -0.5 * ((x - rng.uniform(2.0, 8.0)) / rng.uniform(1.5, 3.0)) ** 2
    )
    slope = rng.uniform(-0.02, 0.02) * (x - 5.0)
    background = slope + {"sigmoid": step, "hump": hump, "both": step + hump}[kind]
    peaks = _peak_table(SMOOTH_PEAKS, "gaussian")
    curves = peak_curves(x, peaks, "gaussian")
    peaks["area"] = peaks["height"] * peaks["fwhm"] * np.sqrt(np.pi / (4.0 * np.log(2.0)))
    clean = curves.sum(axis=0) + background
    noise_sd = noise * float(peaks["height"].max())
    y = clean + rng.normal(0.0, noise_sd, n_points)
    spectrum = Spectrum(x, y, name=f"smooth_background ({kind}, seed {seed}, noise {noise:g})")
    truth = GroundTruth(peaks, "gaussian", np.zeros(0), noise_sd, clean, background)
    return Synthetic(spectrum, truth)
