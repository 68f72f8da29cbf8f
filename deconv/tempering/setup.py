"""Before sampling (NumPy, outside jit): starting points checked and weighted, the Laplace model at
the best start and the ladder it predicts."""

from __future__ import annotations

import concurrent.futures
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy.special import erfcinv

from deconv import _ahead, _reference
from deconv import _validation as _v
from deconv.tempering.adaptation import _laplace_root_jit
from deconv.tempering.states import Array, LaplaceModel, LogDensity, PyTree, flat_densities

_MAX_AUTO_TEMPERATURES = 64


_MIN_AUTO_TEMPERATURES = 4


_TEMPERATURE_QUANTUM = 4


class _Problem(NamedTuple):
    """What the public functions prepare before sampling."""

    points: np.ndarray  # (n_init, d) flat starting points
    template: PyTree  # one point with the user's structure
    laplace: LaplaceModel
    n_setup_evals: int  # gradient-evaluation equivalents spent here
    log_targets: np.ndarray | None = None  # (n_init,) log p(θ) + log p(y|θ) at the starts
    roots: np.ndarray | None = None  # (n_init, d, d) β = 1 Laplace covariance roots there


def _inspect_points(
    log_prior: LogDensity, log_likelihood: LogDensity, template: PyTree, data: PyTree, points: Array
) -> tuple[Array, ...]:
    """Log target, whether a sampler can move from there (log target, position and gradient
    finite), prior gradient and both negative Hessians at every start."""
    flat = flat_densities(log_prior, log_likelihood, template, data)

    def one(x: Array) -> tuple[Array, ...]:
        value = flat.log_prior(x) + flat.log_lik(x)
        grad_prior = jax.grad(flat.log_prior)(x)
        grad = grad_prior + jax.grad(flat.log_lik)(x)
        usable = jnp.isfinite(value) & jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(grad))
        hessians = (-jax.hessian(flat.log_prior)(x), -jax.hessian(flat.log_lik)(x))
        return value, usable, grad_prior, *hessians

    return jax.vmap(one)(points)


_inspect_jit = jax.jit(_inspect_points, static_argnums=(0, 1))


def _padded_size(n_points: int, minimum: int = 8) -> int:
    """``n_points`` rounded up to a power of two, at least ``minimum``."""
    return max(minimum, 1 << (n_points - 1).bit_length())


def _padded(points: np.ndarray) -> np.ndarray:
    """The starts, repeated up to :func:`_padded_size`: a new number of MAP optima then seldom
    means a new compilation of the set-up (2 s per structure)."""
    size = _padded_size(len(points))
    return np.concatenate([points, np.repeat(points[:1], size - len(points), axis=0)])


def compile_setup_ahead(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    template: PyTree,
    data: PyTree,
    compiler: concurrent.futures.Executor,
    n_points: int = 8,
) -> None:
    """Trace here, and compile on ``compiler``, the Laplace set-up that
    :func:`~deconv.tempering.launch.replica_exchange`
    will run on up to ``n_points`` starts like ``template`` (densities taking ``data``)."""
    points, template = _init_points(jax.tree_util.tree_map(lambda a: a[None], template))
    padded = np.zeros((_padded_size(n_points), points.shape[1]))
    arguments = (template, data, jnp.asarray(padded))
    _ahead.submit(_inspect_jit, (log_prior, log_likelihood), arguments, compiler)


def _prepare(
    log_prior: LogDensity, log_likelihood: LogDensity, init: PyTree, data: PyTree = None
) -> _Problem:
    """Validate the starts, pick the best one and build the Laplace model there."""
    points, template = _init_points(init)
    if data is None:  # closures: a throw-away jit, not one cached forever by function identity
        inspect = jax.jit(functools.partial(_inspect_points, log_prior, log_likelihood))
    else:
        inspect = _ahead.caller(_inspect_jit, (log_prior, log_likelihood))
    arrays = inspect(template, data, jnp.asarray(_padded(points)))
    values, usable, grads, h_prior, h_lik = (np.asarray(a)[: len(points)] for a in arrays)
    if not np.any(usable):
        n_value = int(np.sum(~np.isfinite(values)))
        rule = (
            "contain a point of finite log prior, log likelihood and gradient (of the "
            f"{len(values)} starts, {n_value} have a non-finite log prior + log likelihood and "
            f"{len(values) - n_value} a non-finite gradient or position)"
        )
        _v.fail("init", rule, values)
    # A replica started where the log target or its gradient is not finite never moves, yet
    # its finite log likelihood would still be swapped along the ladder and enter log Z.
    n_setup = points.shape[0] * (1 + points.shape[1])
    kept = (a[usable] for a in (points, values, grads, h_prior, h_lik))
    points, values, grads, h_prior, h_lik = kept
    best = int(np.argmax(values))
    laplace = _laplace(points[best], grads[best], h_prior[best], h_lik[best])
    roots = _posterior_roots(points, h_prior, h_lik)
    return _Problem(points, template, laplace, n_setup, values, roots)


def _clip_psd(matrix: np.ndarray, floor: float) -> np.ndarray:
    w, v = np.linalg.eigh(matrix)
    return (v * np.maximum(w, floor)) @ v.T


def _laplace(
    x: np.ndarray, grad: np.ndarray, precision: np.ndarray, curvature: np.ndarray
) -> LaplaceModel:
    """Generalised eigen-decomposition of the likelihood curvature against the prior's.

    ``precision`` and ``curvature`` are the negative Hessians of log prior and log likelihood
    at ``x``, ``grad`` the gradient of the log prior there.
    """
    precision, curvature = 0.5 * (precision + precision.T), 0.5 * (curvature + curvature.T)
    top = max(float(np.max(np.abs(np.linalg.eigvalsh(precision)))), 1e-300)
    prior_root = np.linalg.cholesky(_clip_psd(precision, 1e-9 * top))
    whiten = np.linalg.inv(prior_root)  # P^-1 = whiten.T @ whiten
    lam, vec = np.linalg.eigh(whiten @ curvature @ whiten.T)
    lam = np.clip(lam, 0.0, None)
    basis = whiten.T @ vec
    offset = vec.T @ (whiten @ grad)
    if not (np.all(np.isfinite(basis)) and np.all(np.isfinite(lam))):
        basis, lam, offset = np.eye(x.size), np.zeros(x.size), np.zeros(x.size)
    return LaplaceModel(*(jnp.asarray(a) for a in (x, basis, lam, np.nan_to_num(offset))))


def _energy_sd(laplace: LaplaceModel, betas: np.ndarray) -> np.ndarray:
    """sd of log p(y|θ) under the Laplace model of p_β (prior mean offset included)."""
    lam = np.asarray(laplace.eigenvalues)[None, :]
    shrink = 1.0 / (1.0 + betas[:, None] * lam)
    offset = np.asarray(laplace.offset)[None, :] * shrink
    var = 0.5 * lam**2 * shrink**2 + lam**2 * shrink * offset**2
    return np.sqrt(var.sum(axis=1))


def _length_grid(laplace: LaplaceModel) -> tuple[np.ndarray, np.ndarray]:
    """β grid and thermodynamic length ℓ(β) on it (trapezoid rule on a log grid)."""
    lam_max = max(float(np.max(laplace.eigenvalues)), 1.0)
    grid = np.concatenate([[0.0], np.logspace(-3.0 - math.log10(lam_max), 0.0, 4000)])
    sd = _energy_sd(laplace, grid)
    length = np.concatenate([[0.0], np.cumsum(0.5 * (sd[1:] + sd[:-1]) * np.diff(grid))])
    return grid, length


def _ladder_size(length: float, target_swap: float) -> int:
    """Temperatures for a path of thermodynamic length ``length`` at swap rate ``target_swap``,
    rounded up to a multiple of _TEMPERATURE_QUANTUM (similar problems, e.g. the spectra of a
    series, then share a ladder size, hence one compiled sampler); not capped."""
    step = 2.0 * float(erfcinv(target_swap))
    if not length / step < 1e9:  # an infinite or absurd path: larger than any usable ladder
        return 10**9
    size = math.ceil(length / step) + 1
    size = _TEMPERATURE_QUANTUM * math.ceil(size / _TEMPERATURE_QUANTUM)
    return max(size, _MIN_AUTO_TEMPERATURES)


def _auto_ladder(
    laplace: LaplaceModel, n_temperatures: int | None, target_swap: float
) -> np.ndarray:
    """Temperatures at equal thermodynamic-length steps of the Laplace model."""
    grid, length = _length_grid(laplace)
    if n_temperatures is None:
        n_temperatures = min(_ladder_size(length[-1], target_swap), _MAX_AUTO_TEMPERATURES)
    if length[-1] <= 0:
        return np.linspace(0.0, 1.0, n_temperatures)
    targets = np.linspace(0.0, length[-1], n_temperatures)
    keep = np.concatenate([[True], np.diff(length) > 0])
    betas = np.interp(targets, length[keep], grid[keep])
    betas[0], betas[-1] = 0.0, 1.0
    return np.maximum.accumulate(betas)


def _posterior_root(x: np.ndarray, precision: np.ndarray, curvature: np.ndarray) -> np.ndarray:
    """Square root of the β = 1 Laplace covariance (P + H)^-1 at ``x`` (the Laplace model's
    whitened eigenbasis, H's negative eigenvalues cut); NaN where the Hessians are not finite."""
    if not (np.all(np.isfinite(precision)) and np.all(np.isfinite(curvature))):
        return np.full_like(precision, np.nan)
    laplace = _laplace(x, np.zeros_like(x), precision, curvature)
    return np.asarray(_laplace_root_jit(laplace, np.ones(1))[0])


def _posterior_roots(
    points: np.ndarray, precisions: np.ndarray, curvatures: np.ndarray
) -> np.ndarray:
    """:func:`_posterior_root` at every start, shape (n, d, d)."""
    starts = zip(points, precisions, curvatures, strict=True)
    return np.asarray(
        [_posterior_root(x, precision, curvature) for x, precision, curvature in starts]
    )


def _init_points(init: PyTree) -> tuple[np.ndarray, PyTree]:
    """Flat starting points (n_init, d) and one template point of the pytree structure."""
    leaves = jax.tree_util.tree_leaves(init)
    if not leaves:
        _v.fail("init", "be a pytree with at least one array leaf", init, error=TypeError)
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else 0 for leaf in leaves}
    if len(sizes) != 1 or min(sizes) < 1:
        _v.fail("init", "have leaves sharing one leading axis of starting points", sizes)
    batch = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.result_type(float)), init)
    template = jax.tree_util.tree_map(lambda a: a[0], batch)
    points = jax.vmap(lambda tree: ravel_pytree(tree)[0])(batch)
    return np.asarray(points), template


def _tile(
    points: np.ndarray, n_runs: int, n_temps: int, log_weights: np.ndarray | None = None
) -> np.ndarray:
    """Starting positions (R, L, d).

    Without weights the points are cycled over runs and temperatures. With weights, each run's
    L slots go to the points in proportion to exp(log_weights) (systematic allocation, its
    offset shifted from run to run), the heaviest point at the top of the ladder.
    """
    if log_weights is None or not np.any(np.isfinite(log_weights)):
        index = np.arange(n_runs * n_temps) % points.shape[0]
        return points[index].reshape(n_runs, n_temps, -1)
    order = np.argsort(-log_weights, kind="stable")  # heaviest first
    weights = np.exp(log_weights[order] - np.max(log_weights))
    cumulative = np.cumsum(weights / weights.sum())
    offsets = (np.arange(n_runs)[:, None] + 0.5) / n_runs
    u = (np.arange(n_temps)[None, :] + offsets) / n_temps
    index = np.minimum(np.searchsorted(cumulative, u, side="right"), points.shape[0] - 1)
    return points[order[index[:, ::-1]]]  # reversed: the heaviest fills the top slots


def _start_log_weights(problem: _Problem) -> np.ndarray | None:
    """Laplace log evidence of every start, floored as the reference mixture's weights are
    (see the module notes on starting points); None where it cannot be computed."""
    if problem.log_targets is None or problem.roots is None:
        return None
    log_weights = _reference.laplace_log_evidence(problem.log_targets, problem.roots)
    if not np.any(np.isfinite(log_weights)):
        return None
    return _reference.floored(log_weights)


def _check_betas(betas: Any) -> np.ndarray:
    ladder = _v.as_float_array("betas", betas)
    _v.check_finite("betas", ladder)
    if ladder.size < 2 or ladder[0] != 0.0 or ladder[-1] != 1.0 or np.any(np.diff(ladder) <= 0):
        _v.fail("betas", "increase strictly from exactly 0 to exactly 1 (at least 2 values)", betas)
    return ladder
