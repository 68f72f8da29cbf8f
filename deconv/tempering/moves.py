"""The moves of one sweep: preconditioned HMC for every replica, exact refreshes of the β = 0
replica, independence jumps from the optima's Laplace mixture, and neighbour swaps with round-
trip counting."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from deconv import _reference
from deconv.tempering.states import (
    Array,
    Config,
    Densities,
    Noise,
    Replicas,
    Tuning,
    Walkers,
    _evaluate,
    _grad_target,
    _log_target,
    _select,
)

# mode_jumps: the share of the ladder, from β = 1 down, whose replicas try a jump every sweep
# (Nagata K = 5: accepted at 1e-3 at β = 1 and never below β ~ 0.5; K = 3: 0.17 at β = 1,
# under 1e-3 below β ~ 0.1)
JUMP_SHARE = 0.25


def _leapfrog(
    flat: Densities,
    state: Replicas,
    momentum: Array,
    beta: Array,
    step: Array,
    root: Array,
    steps: tuple[Array, Array],
) -> tuple[Replicas, Array]:
    """Leapfrog in whitened coordinates u (θ = θ0 + root @ u).

    ``steps = (n, n_loop)``: this replica makes ``n`` steps; the loop runs ``n_loop`` >= n times
    (the maximum over the vmapped replicas) and leaves the state alone after step ``n``.
    """
    n, n_loop = steps

    def body(i: Array, carry: tuple[Replicas, Array]) -> tuple[Replicas, Array]:
        s, p = carry
        p_half = p + 0.5 * step * (root.T @ _grad_target(s, beta))
        s_new = _evaluate(flat, s.x + step * (root @ p_half))
        p_new = p_half + 0.5 * step * (root.T @ _grad_target(s_new, beta))
        return _select(i < n, (s_new, p_new), (s, p))

    return jax.lax.fori_loop(0, n_loop, body, (state, momentum))


def _hmc(
    flat: Densities,
    noise: Noise,
    state: Replicas,
    beta: Array,
    step: Array,
    root: Array,
    steps: tuple[Array, Array],
) -> tuple[Replicas, Array]:
    """One HMC transition targeting p(θ) p(y|θ)^β; returns the state and acceptance prob."""
    proposal, p_end = _leapfrog(flat, state, noise.momentum, beta, step, root, steps)
    h_start = -_log_target(state, beta) + 0.5 * noise.momentum @ noise.momentum
    h_end = -_log_target(proposal, beta) + 0.5 * p_end @ p_end
    log_ratio = jnp.where(jnp.isfinite(h_end), h_start - h_end, -jnp.inf)
    accept = jnp.log(noise.accept) < log_ratio
    return _select(accept, proposal, state), jnp.exp(jnp.minimum(log_ratio, 0.0))


def _trajectory(cfg: Config, log_step: Array, u: Array) -> tuple[Array, Array]:
    """Steps per temperature and step sizes for a trajectory of jittered length.

    The length is ``cfg.trajectory_length`` × U(0.5, 1.5), shared by all replicas of a sweep;
    each temperature covers it in ceil(length / its adapted step) steps. If that exceeds
    ``cfg.max_leapfrog`` the trajectory is cut short instead: the step used never exceeds the
    adapted one, so the step-size adaptation keeps control of the acceptance.
    """
    length = cfg.trajectory_length * (0.5 + u)
    step = jnp.exp(log_step)
    n = jnp.clip(jnp.ceil(length / step), 1, cfg.max_leapfrog)
    return n.astype(jnp.int32), jnp.minimum(length / n, step)


def _hmc_all(
    flat: Densities, cfg: Config, noise: Noise, reps: Replicas, tuning: Tuning
) -> tuple[Replicas, Array, Array]:
    """HMC for every replica of every run: states (R, L, ...) -> (R, L, ...).

    Returns the states, the acceptance probabilities and the number of gradient evaluations.
    """
    n, step = _trajectory(cfg, tuning.log_step, noise.length)
    n_loop = jnp.max(n)

    def one(z: Noise, s: Replicas, b: Array, e: Array, r: Array, k: Array) -> Any:
        return _hmc(flat, z, s, b, e, r, (k, n_loop))

    over_slots = jax.vmap(one, in_axes=(Noise(0, 0, None, None), 0, 0, 0, 0, 0))
    over_runs = jax.vmap(over_slots, in_axes=(Noise(0, 0, None, None), 0, None, None, None, None))
    reps, accept = over_runs(noise, reps, tuning.betas, step, tuning.sqrt_cov, n)
    return reps, accept, reps.log_lik.shape[0] * n.size * n_loop


def _refresh_base(flat: Densities, key: Array, t: Array, reps: Replicas) -> Replicas:
    """Replace every run's β = 0 replica by an exact, independent draw of the base density.

    A valid move (it leaves the base distribution invariant whatever the current state), and
    the one that lets replicas change between the components of a mixture reference."""
    fresh = flat.draw_base(jax.random.fold_in(jax.random.fold_in(key, t), 1), reps.x.shape[0])
    fresh = jax.vmap(lambda x: _evaluate(flat, x))(fresh)
    return jax.tree_util.tree_map(lambda a, b: a.at[:, 0].set(b), reps, fresh)


def _jump_all(
    flat: Densities, jumps: _reference.Reference, key: Array, t: Array, reps: Replicas, betas: Array
) -> tuple[Replicas, Array]:
    """Independence Metropolis-Hastings for every replica, proposals drawn from the mixture of
    Laplace approximations at the distinct optima: exact at any temperature, and the move that
    carries a replica between optima that HMC cannot connect near β = 1."""
    n_runs, n_temps, dim = reps.x.shape
    k_draw, k_u = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, t), 2))
    proposal = _reference.draw(k_draw, jumps, n_runs * n_temps).reshape(n_runs, n_temps, dim)
    new = jax.vmap(jax.vmap(lambda x: _evaluate(flat, x)))(proposal)
    log_q = jax.vmap(jax.vmap(lambda x: _reference.log_density(x, jumps)))
    gain = _log_target(new, betas) - log_q(proposal)
    log_ratio = gain - (_log_target(reps, betas) - log_q(reps.x))
    tiny = jnp.finfo(reps.x.dtype).tiny
    u = jax.random.uniform(k_u, (n_runs, n_temps), reps.x.dtype, minval=tiny)
    accept = jnp.log(u) < jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)

    def choose(a: Array, b: Array) -> Array:
        return jnp.where(accept.reshape(accept.shape + (1,) * (a.ndim - 2)), a, b)

    return jax.tree_util.tree_map(choose, new, reps), accept.astype(reps.x.dtype)


def _jump_slots(n_temps: int) -> int:
    """How many slots, from β = 1 down, try a jump each sweep (at least one)."""
    return max(1, math.ceil(n_temps * JUMP_SHARE))


def _jump_top(
    flat: Densities, jumps: _reference.Reference, key: Array, t: Array, reps: Replicas, betas: Array
) -> tuple[Replicas, Array]:
    """:func:`_jump_all` for the slots nearest β = 1 only (where the optima's mixture can be
    accepted at all); NaN in the returned acceptances of the other slots."""
    first = reps.log_lik.shape[1] - _jump_slots(reps.log_lik.shape[1])
    top = jax.tree_util.tree_map(lambda a: a[:, first:], reps)
    top, accepted = _jump_all(flat, jumps, key, t, top, betas[first:])
    reps = jax.tree_util.tree_map(lambda a, b: a.at[:, first:].set(b), reps, top)
    skipped = jnp.full((reps.log_lik.shape[0], first), jnp.nan, accepted.dtype)
    return reps, jnp.concatenate([skipped, accepted], axis=1)


def _swap_log_ratio(log_lik: Array, betas: Array) -> Array:
    """log acceptance of exchanging slots l and l+1, for all l: (β_{l+1}-β_l)(ℓ_l - ℓ_{l+1})."""
    diff = log_lik[:-1] - log_lik[1:]
    log_ratio = (betas[1:] - betas[:-1]) * diff
    return jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)


def _swap(
    u: Array, reps: Replicas, walkers: Walkers, betas: Array, parity: Array
) -> tuple[Replicas, Walkers, Array]:
    """Attempt swaps of the pairs (l, l+1) with l % 2 == parity, for one run (u: uniforms)."""
    log_ratio = _swap_log_ratio(reps.log_lik, betas)
    pairs = jnp.arange(log_ratio.shape[0])
    do = (jnp.log(u) < log_ratio) & (pairs % 2 == parity)
    shift = do.astype(jnp.int32)
    perm = jnp.arange(betas.shape[0]) + jnp.pad(shift, (0, 1)) - jnp.pad(shift, (1, 0))
    reps = jax.tree_util.tree_map(lambda a: a[perm], reps)
    walkers = _count_trips(walkers._replace(at_slot=walkers.at_slot[perm]))
    return reps, walkers, jnp.exp(jnp.minimum(log_ratio, 0.0))


def _count_trips(walkers: Walkers) -> Walkers:
    """Update labels' phases after a swap; a label back at β=0 from β=1 completes a trip."""
    top, bottom = walkers.at_slot[-1], walkers.at_slot[0]
    phase = walkers.phase
    phase = phase.at[top].set(jnp.where(phase[top] == 1, 2, phase[top]))
    trips = walkers.trips + (phase[bottom] == 2)
    phase = phase.at[bottom].set(1)
    return Walkers(walkers.at_slot, phase, trips)


def _swap_all(
    u: Array, reps: Replicas, walkers: Walkers, betas: Array, parity: Array
) -> tuple[Replicas, Walkers, Array]:
    return jax.vmap(_swap, in_axes=(0, 0, 0, None, None))(u, reps, walkers, betas, parity)
