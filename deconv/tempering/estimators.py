"""log Z from the sampled log likelihoods (NumPy): stepping stone, Bennett's acceptance ratio,
thermodynamic integration, effective sample sizes and batch-means standard errors."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logsumexp


def _log_mean_exp(values: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    count = np.prod([values.shape[a] for a in np.atleast_1d(axis)])
    return logsumexp(values, axis=axis) - np.log(count)


def stepping_stone(log_lik: np.ndarray, betas: np.ndarray) -> tuple[float, np.ndarray]:
    """Pooled and per-run stepping-stone log Z from log-likelihoods of shape (S, R, L)."""
    weights = np.diff(betas)[None, None, :] * log_lik[:, :, :-1]
    weights = np.where(np.isnan(weights), -np.inf, weights)
    pooled = float(np.sum(_log_mean_exp(weights, axis=(0, 1))))
    runs = np.sum(_log_mean_exp(weights, axis=0), axis=-1)
    return pooled, runs


def _bar_pair(forward: np.ndarray, backward: np.ndarray) -> float:
    """Bennett's acceptance ratio for log(Z_b / Z_a) from w = log q_b/q_a at draws of a and b.

    Solves Σ_a σ(w - r - c) = Σ_b σ(r - w + c), c = log(N_a / N_b), for r (Shirts et al. 2003;
    the left side falls and the right side rises with r).
    """
    forward, backward = forward[np.isfinite(forward)], backward[np.isfinite(backward)]
    if forward.size == 0 or backward.size == 0:
        return -math.inf
    shift = math.log(forward.size / backward.size)

    def excess(r: float) -> float:
        left = np.sum(expit(forward - r - shift))
        return float(left - np.sum(expit(r - backward + shift)))

    low = min(forward.min(), backward.min()) - 50.0
    high = max(forward.max(), backward.max()) + 50.0
    # draws far in a tail (e.g. reference draws where the target is tiny) widen the bracket to
    # ~1e10 or more; the default 100 iterations then do not reach xtol
    return float(brentq(excess, low, high, xtol=1e-10, maxiter=2000))


def _bennett(log_lik: np.ndarray, betas: np.ndarray) -> float:
    """log Z by Bennett's acceptance ratio between neighbours, draws pooled: (S, R, L)."""
    pooled = log_lik.reshape(-1, betas.size)
    gaps = np.diff(betas)
    pairs = (_bar_pair(g * pooled[:, i], g * pooled[:, i + 1]) for i, g in enumerate(gaps))
    return float(sum(pairs))


def _thermodynamic_integration(log_lik: np.ndarray, betas: np.ndarray) -> float:
    mean = np.mean(np.where(np.isfinite(log_lik), log_lik, np.nan), axis=(0, 1))
    return float(np.sum(0.5 * (mean[1:] + mean[:-1]) * np.diff(betas)))


def _ess(chains: np.ndarray) -> float:
    """Effective sample size of one scalar, chains of shape (S, R), summed over chains.

    Geyer's initial positive sequence on the FFT autocorrelation of each chain.
    """
    n = chains.shape[0]
    if not np.all(np.isfinite(chains)):
        return float("nan")
    centred = chains - chains.mean(axis=0)
    spectrum = np.fft.rfft(centred, n=2 * n, axis=0)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), axis=0)[:n] / n
    total = 0.0
    for r in range(chains.shape[1]):
        if not acov[0, r] > 0:
            total += n
            continue
        rho = acov[:, r] / acov[0, r]
        pairs = rho[: n - n % 2].reshape(-1, 2).sum(axis=1)
        positive = np.cumprod(pairs > 0).astype(bool)
        tau = -1.0 + 2.0 * np.sum(pairs[positive])
        total += n / max(tau, 1.0 / n)
    return float(total)


_MIN_GROUPS = 16  # runs x batches behind a standard error


def _as_batches(log_lik: np.ndarray) -> np.ndarray:
    """(S, R, L) draws regrouped as (S / B, R B, L): each run cut into B contiguous batches.

    B = ceil(16 / R), so that the standard error rests on at least 16 nearly independent
    estimates (4 runs alone gave a standard error whose own scatter was 44 % of its value over
    12 seeds; 4 runs x 4 batches gave 18 % with the same calibration).
    """
    n_draws, n_runs, n_temps = log_lik.shape
    n_batches = max(1, min(-(-_MIN_GROUPS // n_runs), n_draws))
    size = n_draws // n_batches
    batches = log_lik[: size * n_batches].reshape(n_batches, size, n_runs, n_temps)
    return batches.transpose(1, 0, 2, 3).reshape(size, n_batches * n_runs, n_temps)


def _standard_error(groups: np.ndarray) -> float:
    """Standard error of a mean from estimates on independent groups (runs or batches)."""
    if not np.all(np.isfinite(groups)):
        return math.inf
    return float(np.std(groups, ddof=1) / math.sqrt(groups.size))
