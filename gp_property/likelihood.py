"""Property log-likelihood of a candidate model, averaged over paired posterior draws.

For a series of N samples with measured property ``t`` and features ``z_i`` of each sample's
fitted spectrum,

    L_prop(M) = E[ p(t | Z) ] ~= (1/S) sum_s N(t; m, K(Z_s) + noise)

where ``Z_s`` pairs one posterior draw of every sample. Two hyperparameter policies:

- ``"fixed"`` (the default, specbayes' own): the Gaussian process that gives ``p(t | Z)`` has its
  hyperparameters fitted once, by maximum marginal likelihood on the posterior-mean features,
  and then held fixed across draws; the standardisation of features and property is fixed with
  them (:data:`POLICY`).
- ``"per_draw"`` (the seed paper's, Okubo et al. 2026): empirical Bayes on every draw, i.e. the
  hyperparameters (and the feature standardisation) are refitted by maximum marginal likelihood
  on each ``Z_s`` and ``l_s`` is that fit's maximised log marginal likelihood
  (:data:`PER_DRAW_POLICY`). This is optimistic: each draw gets the hyperparameters that make it
  look best, so the average over draws is biased upwards.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgError, cholesky, solve_triangular
from sklearn.base import clone
from sklearn.gaussian_process.kernels import Kernel

from deconv import _validation as v
from gp_property._pairing import pairing_indices
from gp_property.regressor import PropertyGP

if TYPE_CHECKING:
    from gp_property.features import FeatureDraws

POLICY = (
    "hyperparameters fitted by maximum marginal likelihood on posterior-mean features, "
    "then held fixed across draws"
)
PER_DRAW_POLICY = (
    "hyperparameters refitted by maximum marginal likelihood on every paired draw (empirical "
    "Bayes per draw, as Okubo et al. 2026); optimistic: each draw gets the hyperparameters that "
    "make it look best, so the average over draws is biased upwards"
)
POLICIES = {"fixed": POLICY, "per_draw": PER_DRAW_POLICY}
LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True, eq=False)
class PropertyLikelihood:
    """The property log-likelihood ``log L_prop`` of one candidate model.

    Attributes
    ----------
    log_likelihood : float
        ``log (1/S) sum_s N(t; m, K(Z_s) + noise)`` in the property's own units (nats).
    se : float
        Monte Carlo standard error of ``log_likelihood`` (delta method on the mean of the
        likelihood ratios ``w_s = exp(l_s - max l)``: ``sd(w) / (sqrt(S) mean(w))``); NaN for a
        single draw, where it cannot be estimated.
    per_draw : ndarray, shape (S,)
        ``l_s = log N(t; m, K(Z_s) + noise)`` for each paired draw.
    kernel : sklearn Kernel
        The kernel with the fixed, fitted hyperparameters (on standardised units); under the
        ``"per_draw"`` policy, that of the draw with the largest ``l_s``.
    policy : str
        How the hyperparameters were chosen, in words (:data:`POLICY` or
        :data:`PER_DRAW_POLICY`).
    n_draws : int
        Number S of paired draws averaged.
    regressor : PropertyGP
        The GP fitted on the posterior-mean features (for predictions and parity plots); under
        the ``"per_draw"`` policy, the GP of the draw with the largest ``l_s``.
    feature_names : list of str or None
        Names of the features, when known.
    policy_name : {"fixed", "per_draw"}
        The policy's short name.
    hyperparameters : ndarray, shape (S, n_theta), or None
        Under ``"per_draw"``: the log hyperparameters (``kernel_.theta``) refitted on each draw.
    """

    log_likelihood: float
    se: float
    per_draw: np.ndarray = field(repr=False)
    kernel: Kernel
    policy: str
    n_draws: int
    regressor: PropertyGP = field(repr=False)
    feature_names: list[str] | None = None
    policy_name: str = "fixed"
    hyperparameters: np.ndarray | None = field(default=None, repr=False)


def _standardisation(name: str, value: Any, n_features: int) -> np.ndarray:
    """A per-feature vector of length ``n_features`` (a scalar is repeated)."""
    array = v.as_float_array(name, np.atleast_1d(value))
    if array.size == 1:
        array = np.repeat(array, n_features)
    v.check_same_length(name, array, "the feature axis of Z", n_features)
    v.check_finite(name, array)
    return array


def _check_density_inputs(
    Z: Any, t: Any, kernel: Any, x_mean: Any, x_scale: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(kernel, Kernel):
        v.fail("kernel", "be a scikit-learn Kernel", kernel, error=TypeError)
    Z = v.as_float_array("Z", Z, ndim=3 if np.ndim(Z) == 3 else 2)
    v.check_finite("Z", Z)
    t = v.as_float_array("t", t)
    v.check_finite("t", t)
    if Z.shape[-2] != t.size:
        v.fail("t", f"have one value per row of Z ({Z.shape[-2]})", f"length {t.size}")
    x_mean = _standardisation("x_mean", x_mean, Z.shape[-1])
    x_scale = _standardisation("x_scale", x_scale, Z.shape[-1])
    if np.any(x_scale <= 0):
        v.fail("x_scale", "be > 0 for every feature", x_scale)
    return Z, t, x_mean, x_scale


def _log_normal(residual: np.ndarray, cov: np.ndarray, draw: int) -> float:
    """``log N(residual; 0, cov)`` through a Cholesky factor."""
    try:
        lower = cholesky(cov, lower=True, check_finite=False)
    except LinAlgError:
        v.fail(
            "kernel",
            "give a positive-definite K(Z) + alpha*I (add a WhiteKernel or raise alpha)",
            f"a singular matrix at draw {draw}",
        )
    a = solve_triangular(lower, residual, lower=True, check_finite=False)
    n = residual.size
    return float(-0.5 * (a @ a) - np.sum(np.log(np.diag(lower))) - 0.5 * n * LOG_2PI)


def gp_log_density(
    Z: Any,
    t: Any,
    kernel: Kernel,
    *,
    x_mean: Any,
    x_scale: Any,
    y_mean: float,
    y_scale: float,
    alpha: float = 0.0,
) -> float | np.ndarray:
    """Exact GP log density of a property vector for fixed hyperparameters, in original units.

    With ``Zs = (Z - x_mean) / x_scale`` (row by row) and ``C = kernel(Zs) + alpha I``,

        t ~ N(y_mean 1, y_scale^2 C),  so
        log p(t | Z) = log N((t - y_mean) / y_scale; 0, C) - N log(y_scale).

    These are the conventions of :class:`~gp_property.regressor.PropertyGP`: pass its
    ``kernel_``, ``x_scaler_.mean_``, ``x_scaler_.scale_``, ``y_mean_``, ``y_std_`` and
    ``alpha``. The standardisation is applied as given, never recomputed from ``Z``.

    Parameters
    ----------
    Z : array_like, shape (N, d) or (S, N, d)
        Features of the N samples, or S draws of them.
    t : array_like, shape (N,)
        The property, in its own units.
    kernel : sklearn Kernel
        Covariance on standardised features, hyperparameters fixed (a ``WhiteKernel`` term adds
        its noise on the diagonal).
    x_mean, x_scale : array_like, shape (d,) or scalar
        Feature standardisation.
    y_mean, y_scale : float
        Property standardisation (``y_scale > 0``).
    alpha : float
        Extra diagonal jitter in standardised units.

    Returns
    -------
    float, or ndarray of shape (S,) for three-dimensional ``Z``.

    Raises
    ------
    TypeError
        ``kernel`` is not a scikit-learn kernel, or non-numeric input.
    ValueError
        Mismatched shapes, non-finite values, non-positive scales, or a covariance that is not
        positive definite.
    """
    Z, t, x_mean, x_scale = _check_density_inputs(Z, t, kernel, x_mean, x_scale)
    y_scale = v.check_positive_float("y_scale", y_scale)
    y_mean = float(y_mean)
    if not np.isfinite(y_mean):
        v.fail("y_mean", "be finite", y_mean)
    alpha = v.check_positive_float("alpha", alpha, allow_zero=True)
    residual = (t - y_mean) / y_scale
    jacobian = t.size * math.log(y_scale)
    draws = Z if Z.ndim == 3 else Z[np.newaxis]
    jitter = alpha * np.eye(t.size)
    out = np.array(
        [
            _log_normal(residual, kernel((z - x_mean) / x_scale) + jitter, s) - jacobian
            for s, z in enumerate(draws)
        ]
    )
    return out if Z.ndim == 3 else float(out[0])


def log_mean_exp(per_draw: np.ndarray) -> tuple[float, float]:
    """``log mean exp(l)`` and its delta-method Monte Carlo standard error.

    With ``w_s = exp(l_s - max l)``: the estimate is ``max l + log mean(w)`` (the log-sum-exp
    form, exact when all ``l_s`` are equal) and the standard error is
    ``sd(w) / (sqrt(S) mean(w))`` (``ddof=1``; NaN when ``S = 1``).
    """
    top = float(np.max(per_draw))
    w = np.exp(per_draw - top)
    mean = float(np.mean(w))
    se = float(np.std(w, ddof=1) / (math.sqrt(w.size) * mean)) if w.size > 1 else math.nan
    return top + math.log(mean), se


def _unpack_draws(feature_draws: Any) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
    names = getattr(feature_draws, "names", None)
    ids = getattr(feature_draws, "sample_ids", None)
    values = getattr(feature_draws, "values", feature_draws)
    values = v.as_float_array("feature_draws", values, ndim=3)
    v.check_finite("feature_draws", values)
    if values.shape[1] < 2:
        v.fail("feature_draws", "hold at least 2 samples (axis 1)", f"shape {values.shape}")
    return values, names, ids


def _property_vector(t: Any, n_samples: int, ids: Sequence[str] | None) -> np.ndarray:
    """The property in sample order; a pandas Series is aligned on the sample ids."""
    if isinstance(t, pd.Series) and ids is not None:
        missing = [i for i in ids if i not in t.index]
        if missing:
            v.fail("t", "have a value for every sample id", f"missing {missing[:5]}")
        t = t.loc[list(ids)].to_numpy()
    t = v.as_float_array("t", t)
    v.check_finite("t", t)
    if t.size != n_samples:
        v.fail("t", f"have one value per sample ({n_samples})", f"length {t.size}")
    return t


def _template(regressor: Any, seed: int) -> PropertyGP:
    if regressor is None:
        return PropertyGP(random_state=seed)
    if not isinstance(regressor, PropertyGP):
        v.fail("regressor", "be a PropertyGP (or None)", regressor, error=TypeError)
    return regressor


def _fit_regressor(regressor: PropertyGP, mean_features: np.ndarray, t: np.ndarray) -> Any:
    # PropertyGP's warnings would point at this line: re-emit them at the user's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = clone(regressor).fit(mean_features, t)
    v.warn_again(caught)
    return fitted


def _fixed(regressor: PropertyGP, values: np.ndarray, paired: np.ndarray, t: np.ndarray) -> tuple:
    """Policy "fixed": one fit on the posterior-mean features, densities at those values."""
    gp = _fit_regressor(regressor, values.mean(axis=0), t)
    per_draw = gp_log_density(
        paired,
        t,
        gp.kernel_,
        x_mean=gp.x_scaler_.mean_,
        x_scale=gp.x_scaler_.scale_,
        y_mean=gp.y_mean_,
        y_scale=gp.y_std_,
        alpha=gp.alpha,
    )
    return per_draw, gp, None


def _warn_per_draw(caught: list[warnings.WarningMessage], n_draws: int) -> None:
    """One warning per distinct message of the per-draw fits, with its count."""
    counts: dict[tuple[type, str], int] = {}
    for message in caught:
        entry = (message.category, str(message.message))
        counts[entry] = counts.get(entry, 0) + 1
    for (category, text), count in counts.items():
        warnings.warn(
            f"{text} (in {count} of the {n_draws} per-draw fits)",
            category,
            stacklevel=v.caller_stacklevel(),
        )


def _per_draw(regressor: PropertyGP, paired: np.ndarray, t: np.ndarray) -> tuple:
    """Policy "per_draw": a fresh fit on every paired draw, its maximised log marginal
    likelihood (original units) as ``l_s``."""
    per_draw, thetas, best, best_value = [], [], None, -math.inf
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for z in paired:
            gp = clone(regressor).fit(z, t)
            value = gp.log_marginal_likelihood()
            per_draw.append(value)
            thetas.append(gp.kernel_.theta)
            if value > best_value:
                best, best_value = gp, value
    _warn_per_draw(caught, len(paired))
    return np.asarray(per_draw), best, np.asarray(thetas)


def property_log_likelihood(
    feature_draws: FeatureDraws | np.ndarray,
    t: Any,
    *,
    regressor: PropertyGP | None = None,
    policy: str = "fixed",
    n_pairs: int | None = None,
    pairing: str = "index",
    seed: int = 0,
) -> PropertyLikelihood:
    """Property log-likelihood ``log L_prop`` of one candidate model.

    Policy ``"fixed"`` (default):

    1. Fit the GP hyperparameters (and the feature/property standardisation) once, by maximum
       marginal likelihood on the posterior-mean features (average over all S draws).
    2. Hold them fixed and evaluate ``l_s = log N(t; m, K(Z_s) + noise)`` for each paired draw
       with :func:`gp_log_density`.

    Policy ``"per_draw"`` (the seed paper's empirical Bayes): refit the GP (hyperparameters and
    feature standardisation) on every paired draw ``Z_s`` and take ``l_s`` as its maximised log
    marginal likelihood. Optimistic: each draw gets the hyperparameters that make it look best,
    so the average over draws is biased upwards. One fit per draw: S times the cost.

    Either way, return ``log (1/S) sum_s exp(l_s)`` (log-sum-exp) with its Monte Carlo standard
    error.

    Parameters
    ----------
    feature_draws : FeatureDraws or array_like, shape (S, N, d)
        S paired posterior draws of the d features of the N samples (see
        :func:`gp_property.features.feature_draws`).
    t : array_like, shape (N,), or pandas.Series
        The measured property in sample order; a Series is aligned on the sample ids of a
        :class:`gp_property.features.FeatureDraws`.
    regressor : PropertyGP, optional
        Template regressor (cloned, then fitted); default ``PropertyGP(random_state=seed)``.
        For whole-spectrum inputs pass e.g.
        ``PropertyGP(distance_kernel("rational_quadratic"), x_scaling="shared")``.
    policy : {"fixed", "per_draw"}
        The hyperparameter policy (above); its description is the result's ``policy``.
    n_pairs : int, optional
        Average over at most this many draws (default all S).
    pairing : {"index", "random"}
        ``"index"`` keeps the pairing of ``feature_draws``; ``"random"`` re-pairs by an
        independent random permutation of each sample's draws.
    seed : int
        Seed of the random pairing and of the default regressor's optimiser restarts, in
        ``[0, 2**32)``.

    Returns
    -------
    PropertyLikelihood

    Raises
    ------
    TypeError
        Non-numeric draws or property, or a regressor that is not a :class:`PropertyGP`.
    ValueError
        Wrong shapes, fewer than 2 samples, non-finite values, an unknown pairing or policy, a
        seed outside ``[0, 2**32)``.
    """
    seed = v.check_seed("seed", seed)
    v.check_choice("policy", policy, POLICIES)
    template = _template(regressor, seed)
    values, names, ids = _unpack_draws(feature_draws)
    n_total, n_samples = values.shape[:2]
    t = _property_vector(t, n_samples, ids)
    index = pairing_indices([n_total] * n_samples, n_pairs=n_pairs, pairing=pairing, seed=seed)
    paired = values[index.T, np.arange(n_samples)]
    if policy == "fixed":
        per_draw, gp, thetas = _fixed(template, values, paired, t)
    else:
        per_draw, gp, thetas = _per_draw(template, paired, t)
    log_likelihood, se = log_mean_exp(per_draw)
    return PropertyLikelihood(
        log_likelihood=log_likelihood,
        se=se,
        per_draw=per_draw,
        kernel=gp.kernel_,
        policy=POLICIES[policy],
        n_draws=int(per_draw.size),
        regressor=gp,
        feature_names=None if names is None else list(names),
        policy_name=policy,
        hyperparameters=thetas,
    )
