"""A Gaussian-mixture reference distribution for tempering from near the posterior.

Replica exchange normally tempers from the prior, p_β ∝ p(θ) p(y|θ)^β. When the data carry
thousands of nats of information (a 1000-point IR band at 1 % noise), the path from the prior to
the posterior is long: it needs more temperatures than a ladder can afford and round trips
become rare. Tempering instead from a normalised reference q(θ) close to the posterior,

    p_β(θ) ∝ q(θ)^(1-β) [p(θ) p(y|θ)]^β,

gives the same stepping-stone product with q in place of the prior and
w(θ) = log p(θ) + log p(y|θ) - log q(θ) in place of the log likelihood (the generalised
stepping-stone sampler of Fan et al. 2011). Since ∫ q = 1 the product is log Z itself, and the
path is only as long as q is far from the posterior.

Here q is a mixture of Laplace approximations at the distinct starting optima, each component's
covariance the β = 1 Laplace covariance (P + H)^-1 built in the prior-whitened eigenbasis (never
wider than the prior's local scale), its weight the Laplace evidence of that optimum with a
floor (a Laplace weight can be off by a few nats; a mode it underrates must still be visited).
At β = 0 the sampler replaces HMC by exact independent draws from q, so replicas cross between
the mixture's components there and carry them up the ladder.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy.stats import chi2

from deconv import _jax
from deconv import _validation as v

Array = jax.Array

WEIGHT_FLOOR = 5.0  # nats: no component weighs less than exp(-5) times the heaviest
SAME_MODE_QUANTILE = 0.99  # optima within this chi-square quantile of a component merge into it


class Reference(NamedTuple):
    """Gaussian mixture over flat parameter vectors (all arrays: it crosses jit as data)."""

    means: Array  # (J, d)
    roots: Array  # (J, d, d) covariance square roots, Σ_j = R_j R_jᵀ
    inverse_roots: Array  # (J, d, d) R_j^-1
    log_weights: Array  # (J,) normalised
    log_norms: Array  # (J,) log weight - log |det R_j| - d/2 log 2π


def log_density(x: Array, reference: Reference) -> Array:
    """log q(x) of the mixture at one flat point."""
    whitened = jnp.einsum("jab,jb->ja", reference.inverse_roots, x[None, :] - reference.means)
    return jax.nn.logsumexp(reference.log_norms - 0.5 * jnp.sum(whitened**2, axis=1))


def draw(key: Array, reference: Reference, n: int) -> Array:
    """``n`` independent draws (n, d) from the mixture."""
    k_component, k_normal = jax.random.split(key)
    component = jax.random.categorical(k_component, reference.log_weights, shape=(n,))
    z = jax.random.normal(k_normal, (n, reference.means.shape[1]), reference.means.dtype)
    return reference.means[component] + jnp.einsum("nab,nb->na", reference.roots[component], z)


def laplace_log_evidence(log_targets: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """log p(θ) p(y|θ) + log |det R| at every point (``roots`` R: square roots of the Laplace
    covariances), -inf where either is not finite: the Laplace evidence up to the d/2 log 2π
    that all points share."""
    finite = np.isfinite(log_targets) & np.all(np.isfinite(roots), axis=(1, 2))
    log_dets = [np.linalg.slogdet(r)[1] if ok else 0.0 for r, ok in zip(roots, finite, strict=True)]
    return np.where(finite, log_targets + np.asarray(log_dets), -np.inf)


def floored(log_weights: np.ndarray) -> np.ndarray:
    """Log weights raised to at least ``WEIGHT_FLOOR`` nat below the heaviest (-inf kept)."""
    floor = np.max(log_weights) - WEIGHT_FLOOR
    return np.where(np.isfinite(log_weights), np.maximum(log_weights, floor), -np.inf)


def build(points: np.ndarray, log_targets: np.ndarray, roots: np.ndarray) -> Reference:
    """The mixture over the distinct optima among ``points`` (n, d).

    ``log_targets`` are log p(θ) + log p(y|θ) there and ``roots`` (n, d, d) square roots of the
    Laplace covariances (P + H)^-1, non-finite where there is none. Points are taken best
    first; one within the ``SAME_MODE_QUANTILE`` ellipsoid of a kept component joins it.
    """
    dim = points.shape[1]
    radius = chi2.ppf(SAME_MODE_QUANTILE, dim)
    evidence = laplace_log_evidence(log_targets, roots)
    means, kept_roots, inverses, log_dets, log_evidence = [], [], [], [], []
    for i in np.argsort(-log_targets):
        if not np.isfinite(evidence[i]):
            continue
        kept = zip(means, inverses, strict=True)
        if any(np.sum((inv @ (points[i] - m)) ** 2) < radius for m, inv in kept):
            continue
        means.append(points[i])
        kept_roots.append(roots[i])
        inverses.append(np.linalg.inv(roots[i]))
        log_evidence.append(evidence[i])
        log_dets.append(evidence[i] - log_targets[i])
    if not means:
        v.fail("init", "contain a point with a finite Laplace approximation (reference)", points)
    log_evidence = np.asarray(log_evidence)
    log_weights = floored(log_evidence)
    log_weights = log_weights - np.logaddexp.reduce(log_weights)
    log_norms = log_weights - np.asarray(log_dets) - 0.5 * dim * math.log(2.0 * math.pi)
    arrays = (means, kept_roots, inverses, log_weights, log_norms)
    return Reference(*(jnp.asarray(np.asarray(a, dtype=float)) for a in arrays))


@dataclasses.dataclass(frozen=True, eq=False)
class Path:
    """The two densities of the reference path, in the form the sampler takes.

    ``base(theta, data)`` is log q and ``excess(theta, data)`` is log p(θ) + log p(y|θ) - log q,
    with ``data = (user_data, reference)``; ``takes_data`` says whether the user's densities take
    ``user_data`` as their second argument. Instances are kept per pair of user densities so
    that a compiled sampler is reused across data sets.
    """

    log_prior: Callable[..., Array]
    log_likelihood: Callable[..., Array]
    takes_data: bool

    def _user(self, theta: Any, user_data: Any) -> Array:
        if self.takes_data:
            return self.log_prior(theta, user_data) + self.log_likelihood(theta, user_data)
        return self.log_prior(theta) + self.log_likelihood(theta)

    def base(self, theta: Any, data: tuple[Any, Reference]) -> Array:
        return log_density(ravel_pytree(theta)[0], data[1])

    def excess(self, theta: Any, data: tuple[Any, Reference]) -> Array:
        user_data, reference = data
        return self._user(theta, user_data) - log_density(ravel_pytree(theta)[0], reference)


_PATHS: dict[tuple[Any, Any], Path] = {}
_jax.keeps_programs(_PATHS.clear)


def path(log_prior: Callable, log_likelihood: Callable, takes_data: bool) -> Path:
    """The reference path of a pair of densities (kept when they take data, so reused)."""
    if not takes_data:
        return Path(log_prior, log_likelihood, False)
    return _PATHS.setdefault((log_prior, log_likelihood), Path(log_prior, log_likelihood, True))


def sampler_of(log_base: Callable, data: Any) -> Callable[[Array, int], Array] | None:
    """Exact sampler of the β = 0 distribution when ``log_base`` is a reference path's."""
    owner = getattr(log_base, "__self__", None)
    if not isinstance(owner, Path):
        return None
    reference = data[1]
    return lambda key, n: draw(key, reference, n)


def padded(reference: Reference, size: int) -> Reference:
    """The mixture with weightless components appended up to ``size`` (a fixed shape crosses
    jit without recompiling for each number of optima)."""
    n_extra = size - reference.means.shape[0]
    if n_extra <= 0:
        return reference
    dim = reference.means.shape[1]
    eye = jnp.broadcast_to(jnp.eye(dim), (n_extra, dim, dim))
    empty = jnp.full(n_extra, -jnp.inf)
    extra = Reference(jnp.zeros((n_extra, dim)), eye, eye, empty, empty)
    return Reference(*(jnp.concatenate(pair) for pair in zip(reference, extra, strict=True)))


def standard(dim: int, size: int) -> Reference:
    """A standard normal as a mixture of ``size`` equal components (a placeholder of the same
    shapes where no mixture can be built)."""
    eye = jnp.broadcast_to(jnp.eye(dim), (size, dim, dim))
    log_weights = jnp.full(size, -math.log(size))
    log_norms = log_weights - 0.5 * dim * math.log(2.0 * math.pi)
    return Reference(jnp.zeros((size, dim)), eye, eye, log_weights, log_norms)


def evened(reference: Reference) -> Reference:
    """The same components with equal weights (weightless ones kept weightless): a defensive
    proposal that draws every optimum's component as often, whatever its Laplace weight."""
    present = jnp.isfinite(reference.log_weights)
    log_even = jnp.where(present, -jnp.log(jnp.sum(present)), -jnp.inf)
    log_norms = jnp.where(present, reference.log_norms - reference.log_weights + log_even, -jnp.inf)
    return reference._replace(log_weights=log_even, log_norms=log_norms)
