"""The state that crosses jit: settings, replicas, tuning, traces and random numbers as NamedTuples
of arrays, and the two log densities as functions of one flat vector."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from deconv import _ahead, _jax, _reference  # noqa: F401  (_jax: float64 unless the user opted out)

Array = jax.Array


PyTree = Any


LogDensity = Callable[[PyTree], Array]


class Config(NamedTuple):
    """Static sampler settings (hashable: part of the jit cache key)."""

    n_temperatures: int
    n_independent: int
    n_samples: int
    trajectory_length: float
    max_leapfrog: int
    target_accept: float
    preconditioner: str
    swap_rounds: int
    exact_base: bool = False  # β = 0 replicas are refreshed by exact draws (reference path)
    mode_jumps: bool = False  # independence moves from the optima's Laplace mixture each sweep


class Schedule(NamedTuple):
    """Warm-up schedule, as arrays: a new warm-up length or switch does not recompile."""

    n_warmup: Array  # () sweeps of warm-up
    ladder_end: Array  # () the ladder adapts while t < ladder_end
    windows: Array  # (W, 2) preconditioner windows [start, end); (-1, -1) when unused
    respace: Array  # (C,) sweeps after which the ladder is re-spaced; -1 when unused


class Replicas(NamedTuple):
    """Replica states, one per temperature slot (leading axis L, plus runs outside)."""

    x: Array  # (L, d) flat positions
    log_prior: Array  # (L,)
    log_lik: Array  # (L,)
    grad_prior: Array  # (L, d)
    grad_lik: Array  # (L, d)


class Walkers(NamedTuple):
    """Labels for round-trip counting (per run)."""

    at_slot: Array  # (L,) label of the replica in each slot
    phase: Array  # (L,) per label: 0 unseen, 1 left β=0, 2 reached β=1 after β=0
    trips: Array  # () completed round trips


class Tuning(NamedTuple):
    """Adapted quantities, shared by all runs."""

    log_gaps: Array  # (L-1,) log(β_{l+1} - β_l) up to a constant
    betas: Array  # (L,)
    log_step: Array  # (L,)
    sqrt_cov: Array  # (L, d, d) preconditioner square root
    step_count: Array  # () sweeps since the step-size gain was reset
    from_draws: Array  # () bool: the preconditioner comes from draws (no longer Laplace)


class Moments(NamedTuple):
    """Running sums for the preconditioner (per slot, pooled over runs) in one window."""

    count: Array  # ()
    sum_x: Array  # (L, d) sum of positions
    outer_x: Array  # (L, d, d) sum of x xᵀ
    sum_g: Array  # (L, d) sum of gradients g of the log target
    outer_g: Array  # (L, d, d) sum of g gᵀ


class LaplaceModel(NamedTuple):
    """Laplace model at the best starting point (all arrays; crosses jit)."""

    centre: Array  # (d,)
    basis: Array  # (d, d) columns: prior-whitened eigenvectors of H
    eigenvalues: Array  # (d,) generalised eigenvalues λ of (H, P)
    offset: Array  # (d,) prior mean minus centre in the eigenbasis


def flat_laplace(dim: int) -> LaplaceModel:
    """A Laplace model that knows nothing of the target: identity preconditioners at every
    temperature (for a warm start, or a user's own density without a Laplace set-up)."""
    zeros = jnp.zeros(dim)
    return LaplaceModel(zeros, jnp.eye(dim), zeros, zeros)


class Trace(NamedTuple):
    """Per-sweep output of the sampling phase."""

    log_lik: Array  # (R, L)
    top: Array  # (R, d)
    accept: Array  # (R, L)
    swap: Array  # (R, L-1)
    jump: Array  # (R, L) 1 if the replica's jump was accepted, 0 if not, NaN if none was tried


class StepInfo(NamedTuple):
    """What one sweep of the kernel did (per run and temperature), beside the new state."""

    accept: Array  # (R, L) HMC acceptance probabilities
    swap: Array  # (R, L-1) mean swap acceptance of each neighbouring pair over the rounds
    jumped: Array  # (R, L) 1 if a jump was accepted, 0 if not, NaN where none was tried


class Noise(NamedTuple):
    """All random numbers of one sweep, drawn in two calls (RNG graphs compile slowly on CPU)."""

    momentum: Array  # (R, L, d) standard normal
    accept: Array  # (R, L) uniform: HMC acceptance
    swap: Array  # (rounds, R, L) uniform: swap acceptance (slot l decides pair l, l+1)
    length: Array  # () uniform: trajectory-length jitter


def _draw_noise(key: Array, t: Array, shape: tuple[int, ...], rounds: int = 1) -> Noise:
    """The random numbers of sweep ``t`` for replicas of shape (R, L, d), ``rounds`` of swaps."""
    k_normal, k_uniform = jax.random.split(jax.random.fold_in(key, t))
    momentum = jax.random.normal(k_normal, shape)
    size = math.prod(shape[:-1])
    tiny = jnp.finfo(momentum.dtype).tiny
    uniform = jax.random.uniform(k_uniform, ((1 + rounds) * size + 1,), momentum.dtype, minval=tiny)
    accept = uniform[:size].reshape(shape[:-1])
    swap = uniform[size:-1].reshape(rounds, *shape[:-1])
    return Noise(momentum, accept, swap, uniform[-1])


def _internal_key(key: Array) -> Array:
    """An RBG key derived from the user's key (RBG compiles far faster than threefry on CPU)."""
    is_typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    data = np.asarray(jax.random.key_data(key) if is_typed else key).ravel()
    words = np.random.default_rng(data.astype(np.uint64)).integers(0, 2**32, 4, dtype=np.uint32)
    return jax.random.wrap_key_data(jnp.asarray(words), impl="rbg")


class Densities(NamedTuple):
    """The two log densities as functions of a flat vector, and an exact sampler of the β = 0
    distribution where there is one (the reference path; see :mod:`deconv._reference`)."""

    log_prior: Callable[[Array], Array]
    log_lik: Callable[[Array], Array]
    draw_base: Callable[[Array, int], Array] | None = None


def flat_densities(
    log_prior: LogDensity, log_likelihood: LogDensity, template: PyTree, data: PyTree = None
) -> Densities:
    """Flat-vector densities; with ``data`` the user's functions take it as second argument."""
    _, unravel = ravel_pytree(template)
    if data is None:
        return Densities(lambda x: log_prior(unravel(x)), lambda x: log_likelihood(unravel(x)))
    # Jitted inner functions: the sampler evaluates the densities at several places (HMC,
    # jumps, start), and each would otherwise trace the model again (NumPyro, in Python).
    prior = jax.jit(lambda x, d: log_prior(unravel(x), d))
    likelihood = jax.jit(lambda x, d: log_likelihood(unravel(x), d))
    return Densities(
        lambda x: prior(x, data),
        lambda x: likelihood(x, data),
        _reference.sampler_of(log_prior, data),
    )


def _select(condition: Array, new: Any, old: Any) -> Any:
    """Branch-free choice between two pytrees of the same structure."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), new, old)


def _finite(value: Array) -> Array:
    """Map NaN and +inf to -inf so that bad points are rejected, never accepted."""
    return jnp.where(jnp.isfinite(value), value, -jnp.inf)


def _evaluate(flat: Densities, x: Array) -> Replicas:
    """Values and gradients of both log densities at one point."""
    lp, glp = jax.value_and_grad(flat.log_prior)(x)
    ll, gll = jax.value_and_grad(flat.log_lik)(x)
    return Replicas(x, _finite(lp), _finite(ll), glp, gll)


def _log_target(state: Replicas, beta: Array) -> Array:
    """log p(θ) + β log p(y|θ), with 0 · (-inf) read as 0."""
    return state.log_prior + jnp.where(beta > 0, beta * state.log_lik, 0.0)


def _grad_target(state: Replicas, beta: Array) -> Array:
    return state.grad_prior + jnp.where(beta > 0, beta * state.grad_lik, 0.0)


class KernelState(NamedTuple):
    key: Array
    reps: Replicas
    walkers: Walkers
    tuning: Tuning
    moments: Moments
    n_grad: Array  # () gradient evaluations so far
    swap_sum: Array  # (L-1,) swap acceptance summed since the last re-spacing (runs pooled)
    swap_sweeps: Array  # () sweeps in that sum
