"""The public tempering kernel: ``init``/``step``/``adapt`` run by hand on a user's own log
density give the evidence of a conjugate Gaussian model, and the loop the package compiles is
that same kernel (its trace equals the hand-run one)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from deconv import tempering
from deconv.tempering.kernel import _run_jit
from deconv.tempering.paths import _standard_jit

DIM, PRIOR_SD, NOISE_SD, DATUM = 2, 1.0, 0.1, 1.0
N_TEMPS, N_RUNS = 8, 4


def log_prior(x: jax.Array) -> jax.Array:
    return jnp.sum(jax.scipy.stats.norm.logpdf(x, 0.0, PRIOR_SD))


def log_likelihood(x: jax.Array) -> jax.Array:
    return jnp.sum(jax.scipy.stats.norm.logpdf(DATUM, x, NOISE_SD))


def _exact_log_z() -> float:
    return DIM * float(stats.norm.logpdf(DATUM, 0.0, np.hypot(PRIOR_SD, NOISE_SD)))


def _config(n_samples: int) -> tempering.Config:
    return tempering.Config(
        n_temperatures=N_TEMPS, n_independent=N_RUNS, n_samples=n_samples, trajectory_length=1.5,
        max_leapfrog=32, target_accept=0.75, preconditioner="gradient", swap_rounds=4,
    )  # fmt: skip


def _start(densities: tempering.Densities) -> tempering.KernelState:
    betas = jnp.linspace(0.0, 1.0, N_TEMPS) ** 3
    tuning = tempering.initial_tuning(betas, jnp.full(N_TEMPS, -1.0), tempering.flat_laplace(DIM))
    return tempering.init(densities, jax.random.key(0), jnp.zeros((N_RUNS, N_TEMPS, DIM)), tuning)


def test_the_kernel_run_by_hand_gives_the_conjugate_evidence() -> None:
    densities = tempering.flat_densities(log_prior, log_likelihood, jnp.zeros(DIM))
    n_warmup, n_samples = 300, 1500
    cfg = _config(n_samples)
    schedule = tempering.warmup_schedule(n_warmup, adapt_ladder=True, adapt_metric=True)
    laplace = tempering.flat_laplace(DIM)

    @jax.jit
    def sweep(state: tempering.KernelState, t: jax.Array) -> tuple:
        state, info = tempering.step(cfg, densities, state, t)
        adapted = tempering.adapt(cfg, schedule, laplace, state, info, t)
        return jax.lax.cond(t < n_warmup, lambda: adapted, lambda: state), info

    state, log_lik = _start(densities), []
    for t in range(n_warmup + n_samples):
        state, info = sweep(state, jnp.asarray(t))
        if t >= n_warmup:
            log_lik.append(np.asarray(state.reps.log_lik))
    assert float(np.mean(info.accept)) > 0.5  # the step sizes adapted
    log_lik = np.stack(log_lik)  # (S, R, L)
    log_z, per_run = tempering.stepping_stone(log_lik, np.asarray(state.tuning.betas))
    se = float(np.std(per_run, ddof=1) / np.sqrt(N_RUNS))
    # measured (key 0): log Z - exact = -0.026 with se 0.034
    assert abs(log_z - _exact_log_z()) < max(4 * se, 0.05)


def test_the_compiled_loop_is_the_kernel() -> None:
    """``_run`` (what replica_exchange compiles) without a warm-up records, sweep by sweep,
    the log likelihoods that ``step`` gives by hand from the same state."""
    densities = tempering.flat_densities(log_prior, log_likelihood, jnp.zeros(DIM))
    n_samples = 50
    cfg = _config(n_samples)
    start = _start(densities)
    idle = tempering.warmup_schedule(0, adapt_ladder=False, adapt_metric=False)
    laplace = tempering.flat_laplace(DIM)
    positions = jnp.zeros((N_RUNS, N_TEMPS, DIM))
    template, jumps = jnp.zeros(DIM), _standard_jit(DIM, 1)
    _, trace = _run_jit(
        log_prior, log_likelihood, cfg, start.key, positions, template, start.tuning, idle,
        laplace, None, jumps,
    )  # fmt: skip
    sweep = jax.jit(lambda state, t: tempering.step(cfg, densities, state, t))
    state, by_hand = start, []
    for t in range(n_samples):
        state, _ = sweep(state, jnp.asarray(t))
        by_hand.append(np.asarray(state.reps.log_lik))
    np.testing.assert_allclose(np.asarray(trace.log_lik), np.stack(by_hand), rtol=1e-10, atol=0)
