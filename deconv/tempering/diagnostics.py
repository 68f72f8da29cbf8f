"""When to distrust a run: the mixing and precision checks behind ``EvidenceWarning``, and the rule
that flags an independent run whose log Z is an outlier by orders of magnitude."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from deconv import _reference
from deconv.exceptions import EvidenceWarning
from deconv.tempering.results import EvidenceResult
from deconv.tempering.setup import _Problem

SWAP_RATE_MIN = 0.1
"""Smallest acceptable mean swap acceptance between neighbouring temperatures."""


SE_MAX = 0.3
"""Largest acceptable standard error of log Z (nats) before a warning."""


ACCEPT_MIN = 0.1
"""Smallest acceptable mean HMC acceptance at any temperature during sampling."""


DRIFT_MAX = 6.0
"""Largest acceptable change of log Z between the two halves of sampling, in standard errors."""


OUTLIER_FLOOR = 50.0
"""Nats: with three or more runs, a run's log Z is outlying when it is farther than the larger
of this and ``OUTLIER_SCALES`` robust standard deviations from the runs' median."""


OUTLIER_SCALES = 20.0
"""Robust standard deviations (1.4826 times the median absolute deviation) of the outlier rule."""


OUTLIER_GAP = 1e3
"""Nats: two runs whose log Z differ by more than this hold an outlier (see ``outlying_runs``)."""


MAX_REDOS = 2
"""Times an outlying run is redone (a new key) before it is dropped."""


_DRIFT_FLOOR = 1e-6  # nats: a drift below this is rounding (a reference equal to the posterior)


MIXING_CHECKS = ("swap_rate", "acceptance", "round_trips")
"""Diagnostics that fail when the replicas do not mix (a ladder, step sizes or metric that do
not fit the posterior), as opposed to a run that is merely short (``se``, ``drift``)."""


def diagnostic_problems(result: EvidenceResult) -> dict[str, str]:
    """The diagnostics a replica-exchange run fails, by check, with a message for each.

    Checks: ``"swap_rate"`` (< :data:`SWAP_RATE_MIN` between some neighbours),
    ``"acceptance"`` (mean HMC acceptance < :data:`ACCEPT_MIN` at some temperature),
    ``"round_trips"`` (no replica travelled β=0 -> 1 -> 0), ``"se"`` (standard error of log Z >
    :data:`SE_MAX`) and ``"drift"`` (log Z moved by > :data:`DRIFT_MAX` standard errors between
    the halves of the sampling phase). An empty dict means every check passed.
    """
    problems = {}
    if result.swap_rates.size and float(np.min(result.swap_rates)) < SWAP_RATE_MIN:
        worst = int(np.argmin(result.swap_rates))
        problems["swap_rate"] = (
            f"swap rate {result.swap_rates[worst]:.3f} < {SWAP_RATE_MIN} between β="
            f"{result.betas[worst]:.3g} and β={result.betas[worst + 1]:.3g} (add temperatures)"
        )
    low = np.flatnonzero(~(result.accept_rates >= ACCEPT_MIN))
    if low.size:
        worst = int(low[np.argmin(np.nan_to_num(result.accept_rates[low], nan=-1.0))])
        problems["acceptance"] = (
            f"HMC acceptance {result.accept_rates[worst]:.3f} < {ACCEPT_MIN} at β="
            f"{result.betas[worst]:.3g} ({low.size} of {result.betas.size} temperatures; "
            "the densities may be non-smooth or non-finite there)"
        )
    if result.round_trips == 0:
        problems["round_trips"] = (
            "no replica travelled β=0 -> 1 -> 0 during sampling (sample longer)"
        )
    if not result.log_z_se <= SE_MAX:
        problems["se"] = f"standard error of log Z {result.log_z_se:.3g} > {SE_MAX} nat"
    halves = result.log_z_halves
    drift = abs(halves[1] - halves[0]) if np.all(np.isfinite(halves)) else 0.0
    if drift > DRIFT_MAX * result.log_z_se and drift > _DRIFT_FLOOR:
        problems["drift"] = (
            f"log Z moved by {drift:.3g} nat between the halves of the sampling phase "
            f"(> {DRIFT_MAX:g} standard errors: not stationary, sample longer)"
        )
    return problems


def poorly_mixed(result: EvidenceResult) -> bool:
    """Whether the run fails a mixing check (:data:`MIXING_CHECKS`): its replicas did not
    travel the ladder, so its log Z may be far off, not merely noisy."""
    return any(check in MIXING_CHECKS for check in diagnostic_problems(result))


def _warn(result: EvidenceResult) -> None:
    problems = diagnostic_problems(result)
    if problems:
        warnings.warn(
            "replica-exchange evidence may be unreliable: " + "; ".join(problems.values()),
            EvidenceWarning,
            stacklevel=4,
        )


def outlying_runs(log_z_runs: Any, anchor: float | None = None) -> np.ndarray:
    """Which independent runs' log Z are outliers by orders of magnitude (a failed run).

    Parameters
    ----------
    log_z_runs : array_like
        The runs' stepping-stone log Z, shape ``(n_runs,)``.
    anchor : float, optional
        An independent approximation of log Z (the Laplace log evidence at the best start),
        which decides between two runs far apart.

    Returns
    -------
    numpy.ndarray
        Boolean mask, True for an outlying run: a non-finite log Z; with three or more finite
        runs, one farther from their median than max(:data:`OUTLIER_FLOOR`,
        :data:`OUTLIER_SCALES` × 1.4826 × median absolute deviation); with two finite runs that
        differ by more than :data:`OUTLIER_GAP`, the one farther from ``anchor`` (the lower one
        without a finite anchor). A single finite run is never outlying.
    """
    runs = np.asarray(log_z_runs, dtype=float)
    outlying = ~np.isfinite(runs)
    finite = np.flatnonzero(~outlying)
    values = runs[finite]
    if finite.size >= 3:
        median = np.median(values)
        scale = 1.4826 * np.median(np.abs(values - median))
        far = np.abs(values - median) > max(OUTLIER_FLOOR, OUTLIER_SCALES * scale)
        outlying[finite[far]] = True
    elif finite.size == 2 and abs(values[1] - values[0]) > OUTLIER_GAP:
        if anchor is not None and np.isfinite(anchor):
            outlying[finite[np.argmax(np.abs(values - anchor))]] = True
        else:
            outlying[finite[np.argmin(values)]] = True
    return outlying


def _anchor(problem: _Problem) -> float | None:
    """The Laplace log evidence at the best start (None where the set-up has none)."""
    if problem.log_targets is None or problem.roots is None:
        return None
    evidence = _reference.laplace_log_evidence(problem.log_targets, problem.roots)
    if not np.any(np.isfinite(evidence)):
        return None
    return float(np.max(evidence) + 0.5 * problem.points.shape[1] * math.log(2.0 * math.pi))
