"""Which path to temper along: from the prior, or from a Laplace mixture at the starting optima
(the reference path), and the optima's mixture that the jump move proposes from."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from deconv import _reference
from deconv.tempering.setup import (
    _MAX_AUTO_TEMPERATURES,
    _ladder_size,
    _length_grid,
    _padded_size,
    _Problem,
)
from deconv.tempering.states import Array, LaplaceModel, LogDensity, PyTree, _internal_key

_REFERENCE_DRAWS = 256  # draws of the reference that size its ladder


# "auto" takes the reference only if its predicted ladder is at most this long: a longer one
# means the reference is far from the posterior, typically several modes, some of which the
# starts miss. Scenario (b), sample 0, K = 3: the reference path predicted 64+ temperatures and
# read F = -722.3 (se 0.09, no warning) where a long prior-path run reads -729.5 (se 0.15).
_MAX_AUTO_REFERENCE_TEMPERATURES = 16


class _Path(NamedTuple):
    """The densities, data, Laplace model and default ladder size of the path to sample."""

    log_base: LogDensity
    log_excess: LogDensity
    data: PyTree
    laplace: LaplaceModel
    n_temperatures: int | None  # the auto size (None: from the prior path's Laplace model)
    reference: str


def _prior_path_size(problem: _Problem, target_swap: float) -> int:
    """Auto ladder size of the prior path, uncapped."""
    return _ladder_size(_length_grid(problem.laplace)[1][-1], target_swap)


def _excess_spread(path: _reference.Path, template: PyTree, data: PyTree, key: Array) -> float:
    """Robust sd (half the 16-84 % range) of log p(θ) p(y|θ) / q(θ) over draws of q."""
    points = _reference.draw(key, data[1], _REFERENCE_DRAWS)
    if path.takes_data:
        values = _excess_jit(path, template, data, points)
    else:  # closures: a throw-away jit, not one cached forever by function identity
        values = jax.jit(functools.partial(_excess_values, path))(template, data, points)
    values = np.asarray(values)
    values = values[np.isfinite(values)]
    if values.size < _REFERENCE_DRAWS // 2:
        return math.inf
    low, high = np.percentile(values, [16.0, 84.0])
    return 0.5 * float(high - low)


def _excess_values(path: _reference.Path, template: PyTree, data: PyTree, points: Array) -> Array:
    _, unravel = ravel_pytree(template)
    return jax.vmap(lambda x: path.excess(unravel(x), data))(points)


_excess_jit = jax.jit(_excess_values, static_argnums=0)


def _jump_mixture(problem: _Problem) -> _reference.Reference:
    """The optima's Laplace mixture for the jump move, padded to a power of two (at least 8)
    components; a standard normal where no optimum has a finite Laplace approximation (the
    move is then rarely accepted, and still exact)."""
    size = _padded_size(len(problem.points))
    try:
        mixture = _reference.build(problem.points, problem.log_targets, problem.roots)
    except ValueError:
        return _standard_jit(problem.points.shape[1], size)
    return _evened_padded_jit(mixture, size)


_standard_jit = jax.jit(_reference.standard, static_argnums=(0, 1))


_evened_padded_jit = jax.jit(
    lambda mixture, size: _reference.padded(_reference.evened(mixture), size), static_argnums=1
)


def _reference_path(
    log_prior: LogDensity, log_likelihood: LogDensity, problem: _Problem, data: PyTree
) -> tuple[_reference.Path, PyTree, LaplaceModel]:
    """The reference path's densities, their data and the Laplace model of its best mode."""
    mixture = _reference.build(problem.points, problem.log_targets, problem.roots)
    path = _reference.path(log_prior, log_likelihood, takes_data=data is not None)
    zeros = jnp.zeros(problem.points.shape[1])
    return path, (data, mixture), LaplaceModel(mixture.means[0], mixture.roots[0], zeros, zeros)


def _choose_path(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    problem: _Problem,
    data: PyTree,
    *,
    reference: str,
    target_swap: float,
    key: Array,
) -> _Path:
    """The prior path or the reference path: as asked, or (``"auto"``) the prior path unless
    its predicted ladder exceeds the largest auto ladder and the reference path's is short
    (at most ``_MAX_AUTO_REFERENCE_TEMPERATURES``; the prior path's size from its Laplace model,
    the reference path's from the spread of log p(θ) p(y|θ) / q(θ) over draws of q)."""
    prior_path = _Path(log_prior, log_likelihood, data, problem.laplace, None, "prior")
    if reference == "prior":
        return prior_path
    prior_size = _prior_path_size(problem, target_swap)
    if reference == "auto" and prior_size <= _MAX_AUTO_TEMPERATURES:
        return prior_path
    path, path_data, laplace = _reference_path(log_prior, log_likelihood, problem, data)
    draw_key = jax.random.fold_in(_internal_key(key), 1 << 20)
    size = _ladder_size(_excess_spread(path, problem.template, path_data, draw_key), target_swap)
    if reference == "auto" and size > min(prior_size, _MAX_AUTO_REFERENCE_TEMPERATURES):
        return prior_path
    size = min(size, _MAX_AUTO_TEMPERATURES)
    return _Path(path.base, path.excess, path_data, laplace, size, "laplace")
