"""The tempering kernel: ``init`` and ``step`` (pure, jittable, state as NamedTuples, as in blackjax
and numpyro), and the fused loop of warm-up and sampling that
:func:`~deconv.tempering.launch.replica_exchange` compiles
once per structure.

Running the kernel on one's own log density, with a warm-up that adapts the step sizes, the
ladder and the metric (``tests/test_tempering_kernel.py`` runs this and checks log Z against
the conjugate answer)::

    import jax, jax.numpy as jnp
    from deconv import tempering

    def log_prior(x):  # of a flat vector; must be proper
        return jnp.sum(jax.scipy.stats.norm.logpdf(x, 0.0, 1.0))

    def log_likelihood(x):
        return jnp.sum(jax.scipy.stats.norm.logpdf(1.0, x, 0.1))

    densities = tempering.flat_densities(log_prior, log_likelihood, jnp.zeros(2))
    cfg = tempering.Config(n_temperatures=8, n_independent=4, n_samples=1500,
                           trajectory_length=1.5, max_leapfrog=32, target_accept=0.75,
                           preconditioner="gradient", swap_rounds=4)
    schedule = tempering.warmup_schedule(300, adapt_ladder=True, adapt_metric=True)
    laplace = tempering.flat_laplace(2)  # identity metric until the first window ends
    tuning = tempering.initial_tuning(jnp.linspace(0, 1, 8) ** 3, jnp.full(8, -1.0), laplace)
    state = tempering.init(densities, jax.random.key(0), jnp.zeros((4, 8, 2)), tuning)

    @jax.jit
    def sweep(state, t):
        state, info = tempering.step(cfg, densities, state, t)
        adapted = tempering.adapt(cfg, schedule, laplace, state, info, t)
        return jax.lax.cond(t < 300, lambda: adapted, lambda: state), info

    draws = []
    for t in range(300 + 1500):
        state, info = sweep(state, t)
        if t >= 300:
            draws.append(state.reps.log_lik)  # (runs, temperatures)
    log_z, per_run = tempering.stepping_stone(jnp.stack(draws), state.tuning.betas)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from deconv import _reference
from deconv import _validation as _v
from deconv.tempering.adaptation import _empty_moments, adapt
from deconv.tempering.moves import _hmc_all, _jump_slots, _jump_top, _refresh_base, _swap_all
from deconv.tempering.states import (
    Array,
    Config,
    Densities,
    KernelState,
    LaplaceModel,
    LogDensity,
    Noise,
    PyTree,
    Replicas,
    Schedule,
    StepInfo,
    Trace,
    Tuning,
    Walkers,
    _draw_noise,
    _evaluate,
    flat_densities,
)


def init(densities: Densities, key: Array, positions: Array, tuning: Tuning) -> KernelState:
    """The kernel's state at ``positions``, pure and jittable.

    Parameters
    ----------
    densities : Densities
        The two log densities of a flat vector (:func:`~deconv.tempering.states.flat_densities`).
    key : jax.Array
        PRNG key of the whole run; sweep ``t`` folds ``t`` into it, so a run is reproducible
        from its key (:func:`~deconv.tempering.launch.replica_exchange` passes an RBG key, which
        compiles faster on CPU).
    positions : jax.Array
        Replica positions, shape ``(R, L, d)``: R independent runs of L temperatures.
    tuning : Tuning
        Ladder, step sizes and preconditioners
        (:func:`~deconv.tempering.adaptation.initial_tuning`); shared by the runs.
    """
    n_runs, n_temps, dim = positions.shape
    reps = jax.vmap(jax.vmap(lambda x: _evaluate(densities, x)))(positions)
    labels = jnp.broadcast_to(jnp.arange(n_temps), (n_runs, n_temps))
    zeros = jnp.zeros((n_runs, n_temps), jnp.int32)
    walkers = Walkers(labels, zeros, jnp.zeros(n_runs, jnp.int32))
    moments = _empty_moments(n_temps, dim)
    swap_sum = jnp.zeros(max(n_temps - 1, 0))
    evals = jnp.array(n_runs * n_temps)
    return KernelState(key, reps, walkers, tuning, moments, evals, swap_sum, jnp.zeros(()))


def step(
    cfg: Config,
    densities: Densities,
    state: KernelState,
    t: Array,
    jumps: _reference.Reference | None = None,
) -> tuple[KernelState, StepInfo]:
    """Sweep ``t``: one HMC trajectory for every replica (an exact draw at β = 0 on a
    reference path, and a jump from the optima's mixture ``jumps`` at the top of the ladder
    if ``cfg.mode_jumps``), then ``cfg.swap_rounds`` rounds of neighbour swaps alternating
    even and odd pairs. Pure and jittable (``cfg`` static); the tuning is left alone
    (:func:`~deconv.tempering.adaptation.adapt` adapts it during a warm-up)."""
    noise = _draw_noise(state.key, t, state.reps.x.shape, cfg.swap_rounds)
    reps, accept, evals = _hmc_all(densities, cfg, noise, state.reps, state.tuning)
    if cfg.exact_base and densities.draw_base is not None:
        reps = _refresh_base(densities, state.key, t, reps)
        evals = evals + reps.log_lik.shape[0]
    jumped = jnp.full(reps.log_lik.shape, jnp.nan)  # NaN: no jump tried this sweep
    if cfg.mode_jumps:
        if jumps is None:
            _v.fail("jumps", "be the mixture to jump from when cfg.mode_jumps is set", jumps)
        reps, jumped = _jump_top(densities, jumps, state.key, t, reps, state.tuning.betas)
        evals = evals + reps.log_lik.shape[0] * _jump_slots(cfg.n_temperatures)
    walkers, swap = state.walkers, jnp.zeros((reps.log_lik.shape[0], 0))
    if cfg.n_temperatures > 1:
        reps, walkers, swap = _swap_rounds(cfg, noise, reps, walkers, state.tuning.betas, t)
    state = state._replace(reps=reps, walkers=walkers, n_grad=state.n_grad + evals)
    return state, StepInfo(accept, swap, jumped)


def _swap_rounds(
    cfg: Config, noise: Noise, reps: Replicas, walkers: Walkers, betas: Array, t: Array
) -> tuple[Replicas, Walkers, Array]:
    """``cfg.swap_rounds`` rounds of swaps; the swap acceptances averaged over the rounds."""

    def one_round(j: int, carried: tuple) -> tuple:
        reps, walkers, total = carried
        u = noise.swap[j][:, :-1]
        parity = (t * cfg.swap_rounds + j) % 2
        reps, walkers, swap = _swap_all(u, reps, walkers, betas, parity)
        return reps, walkers, total + swap

    zero = jnp.zeros((reps.log_lik.shape[0], cfg.n_temperatures - 1))
    reps, walkers, swap = jax.lax.fori_loop(0, cfg.swap_rounds, one_round, (reps, walkers, zero))
    return reps, walkers, swap / cfg.swap_rounds


def _run(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    cfg: Config,
    key: Array,
    x0: Array,
    template: PyTree,
    tuning: Tuning,
    schedule: Schedule,
    laplace: LaplaceModel,
    data: PyTree,
    jumps: _reference.Reference,
) -> tuple[KernelState, Trace]:
    """Warm-up then sampling of all runs; everything inside this one jitted function.

    The warm-up length and what it adapts are arrays (``schedule``), the data too: one
    compilation serves every warm-up length, cold or warm start, and data set of a structure.
    """
    flat = flat_densities(log_prior, log_likelihood, template, data)
    carry = init(flat, key, x0, tuning)
    n_warmup = schedule.n_warmup

    # One loop over warm-up and sampling, so that the sweep is traced and compiled once.
    def sweep(t: Array, state: tuple[KernelState, Trace]) -> tuple[KernelState, Trace]:
        c, trace = state
        walkers = c.walkers
        fresh = jnp.where(t == n_warmup, jnp.zeros_like(walkers.trips), walkers.trips)
        c = c._replace(walkers=walkers._replace(trips=fresh))
        c, info = step(cfg, flat, c, t, jumps)
        c = jax.lax.cond(
            t < n_warmup, lambda c: adapt(cfg, schedule, laplace, c, info, t), lambda c: c, c
        )
        # Warm-up sweeps write row 0, which the first sampling sweep overwrites.
        row = jnp.maximum(t - n_warmup, 0)
        record = Trace(c.reps.log_lik, c.reps.x[:, -1, :], *info)
        trace = jax.tree_util.tree_map(lambda buf, v: buf.at[row].set(v), trace, record)
        return c, trace

    record = Trace(
        carry.reps.log_lik,
        carry.reps.x[:, -1, :],
        jnp.zeros(carry.reps.log_lik.shape),
        jnp.zeros((*carry.reps.log_lik.shape[:-1], carry.reps.log_lik.shape[-1] - 1)),
        jnp.zeros(carry.reps.log_lik.shape),
    )
    trace = jax.tree_util.tree_map(lambda v: jnp.zeros((cfg.n_samples, *v.shape), v.dtype), record)
    return jax.lax.fori_loop(0, n_warmup + cfg.n_samples, sweep, (carry, trace))


_run_jit = jax.jit(_run, static_argnums=(0, 1, 2))
