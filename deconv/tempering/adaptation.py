"""Warm-up adaptation, all pure JAX: the ladder (log-gap updates and re-spacing at equal swap
rejection), the step sizes (Robbins-Monro) and the dense preconditioners (three windows), and
the schedule as arrays."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from deconv.tempering.states import (
    Array,
    Config,
    KernelState,
    LaplaceModel,
    Moments,
    Schedule,
    StepInfo,
    Tuning,
    _grad_target,
    _select,
)

_LADDER_END = 0.6  # fraction of the warm-up during which the ladder adapts


_WINDOWS = ((0.05, 0.15), (0.15, 0.4), (0.4, 0.7))  # preconditioner windows (warm-up fractions)


_RESPACE = (0.05, 0.1, 0.2, 0.35)  # re-spacings of the ladder (warm-up fractions, at their end)


_LADDER_GAIN = 0.3  # initial gain of the log-gap updates


_LADDER_DECAY = 30.0  # sweeps over which that gain halves


_STEP_GAIN = 0.5  # initial gain of the log step-size updates


_STEP_FLOOR = 0.02  # gain floor of the step-size updates


def _betas_from_gaps(log_gaps: Array) -> Array:
    """Ladder with β_1 = 0 and β_L = 1 exactly from unnormalised log-gaps."""
    gaps = jax.nn.softmax(log_gaps)
    betas = jnp.concatenate([jnp.zeros(1, gaps.dtype), jnp.cumsum(gaps)])
    return betas.at[-1].set(1.0)


def _laplace_root(laplace: LaplaceModel, betas: Array) -> Array:
    """Square roots of the Laplace covariances (P + β H)^-1, one per temperature: (L, d, d)."""
    scale = 1.0 / jnp.sqrt(1.0 + betas[:, None] * laplace.eigenvalues[None, :])
    return laplace.basis[None, :, :] * scale[:, None, :]


_laplace_root_jit = jax.jit(_laplace_root)  # outside the sampler: one program, not a dozen


def _adapt_ladder(tuning: Tuning, swap: Array, t: Array, laplace: LaplaceModel) -> Tuning:
    """Move log-gaps by gain × (acceptance - mean acceptance); refresh the preconditioner."""
    rate = swap.mean(axis=0)
    gain = _LADDER_GAIN * _LADDER_DECAY / (_LADDER_DECAY + t)
    log_gaps = tuning.log_gaps + gain * (rate - rate.mean())
    betas = _betas_from_gaps(log_gaps)
    root = jnp.where(tuning.from_draws, tuning.sqrt_cov, _laplace_root(laplace, betas))
    return tuning._replace(log_gaps=log_gaps, betas=betas, sqrt_cov=root)


def _respace_ladder(
    tuning: Tuning, swap_sum: Array, n_sweeps: Array, laplace: LaplaceModel
) -> Tuning:
    """Temperatures at equal steps of the cumulative swap rejection (communication barrier).

    The rejection rate of each pair since the last re-spacing estimates the barrier between
    its temperatures; interpolating β linearly in the cumulative barrier gives every pair the
    same share. Unlike the log-gap updates, one re-spacing recovers from an initial ladder that
    is far off (e.g. a Laplace ladder with nearly all temperatures crowded near β = 0).
    """
    rate = jnp.clip(swap_sum / jnp.maximum(n_sweeps, 1.0), 0.0, 1.0)
    rejection = jnp.clip(1.0 - rate, 1e-3, 1.0)
    barrier = jnp.concatenate([jnp.zeros(1), jnp.cumsum(rejection)])
    targets = jnp.linspace(0.0, barrier[-1], tuning.betas.shape[0])
    betas = jnp.interp(targets, barrier, tuning.betas).at[0].set(0.0).at[-1].set(1.0)
    gaps = jnp.maximum(jnp.diff(betas), 1e-300)
    root = jnp.where(tuning.from_draws, tuning.sqrt_cov, _laplace_root(laplace, betas))
    return tuning._replace(log_gaps=jnp.log(gaps), betas=betas, sqrt_cov=root)


def _adapt_step(cfg: Config, tuning: Tuning, accept: Array) -> Tuning:
    """Robbins-Monro on log step size, per temperature, pooled over runs.

    The step is capped at the longest trajectory, beyond which it would have no effect.
    """
    gain = _STEP_GAIN / (1.0 + tuning.step_count / 10.0) + _STEP_FLOOR
    log_step = tuning.log_step + gain * (accept.mean(axis=0) - cfg.target_accept)
    log_step = jnp.minimum(log_step, math.log(1.5 * cfg.trajectory_length))
    return tuning._replace(log_step=log_step, step_count=tuning.step_count + 1)


def _empty_moments(n_temps: int, dim: int) -> Moments:
    vec, mat = jnp.zeros((n_temps, dim)), jnp.zeros((n_temps, dim, dim))
    return Moments(jnp.zeros(()), vec, mat, vec, mat)


def _accumulate(moments: Moments, x: Array, grads: Array) -> Moments:
    """Add the positions and log-target gradients (R, L, d) of one sweep, pooled over runs."""
    return Moments(
        moments.count + grads.shape[0],
        moments.sum_x + x.sum(axis=0),
        moments.outer_x + jnp.einsum("rli,rlj->lij", x, x),
        moments.sum_g + grads.sum(axis=0),
        moments.outer_g + jnp.einsum("rli,rlj->lij", grads, grads),
    )


def _regularised(second: Array) -> Array:
    """Shrink (L, d, d) second moments 10 % towards their diagonal (keeps them well posed)."""
    diag = jnp.diagonal(second, axis1=1, axis2=2)
    second = 0.9 * second + 0.1 * jax.vmap(jnp.diag)(diag)
    return second + 1e-12 * diag.mean(axis=1)[:, None, None] * jnp.eye(second.shape[-1])


def _sym_power(matrix: Array, power: float) -> Array:
    """matrix^power of symmetric positive-definite matrices (L, d, d) by eigendecomposition."""
    w, v = jnp.linalg.eigh(matrix)
    w = jnp.maximum(w, 1e-300)
    return jnp.einsum("lij,lj,lkj->lik", v, w**power, v)


def _preconditioner_root(kind: str, moments: Moments, fallback: Array) -> Array:
    """Square root M^(1/2) of a covariance-like preconditioner M per temperature (L, d, d).

    ``"gradient"``: M = (E[g gᵀ])^-1, the inverse mean curvature (Fisher identity); blind to the
    distance between modes, but dominated by sharp regions. ``"draws"``: M = Cov(θ), dominated by
    wide regions and by the distance between modes. ``"geometric"``: the matrix geometric mean of
    the two, M Cov(g) M = Cov(θ), the affine map that minimises the Fisher divergence of the
    whitened target from a standard normal (as in nutpie); equal to both for a Gaussian.
    """
    n = jnp.maximum(moments.count, 1.0)
    mean_x, mean_g = moments.sum_x / n, moments.sum_g / n
    cov_x = _regularised(moments.outer_x / n - mean_x[:, :, None] * mean_x[:, None, :])
    if kind == "gradient":
        cov_g = _regularised(moments.outer_g / n)
        root = _sym_power(cov_g, -0.5)
    elif kind == "draws":
        root = _sym_power(cov_x, 0.5)
    else:
        cov_g = _regularised(moments.outer_g / n - mean_g[:, :, None] * mean_g[:, None, :])
        half = _sym_power(cov_g, 0.5)
        inner = jnp.einsum("lij,ljk,lkm->lim", half, cov_x, half)
        inv_half = _sym_power(cov_g, -0.5)
        mean = jnp.einsum("lij,ljk,lkm->lim", inv_half, _sym_power(inner, 0.5), inv_half)
        root = _sym_power(0.5 * (mean + jnp.swapaxes(mean, 1, 2)), 0.5)
    ok = jnp.all(jnp.isfinite(root), axis=(1, 2)) & (moments.count > 2)
    return jnp.where(ok[:, None, None], root, fallback)


def adapt(
    cfg: Config,
    schedule: Schedule,
    laplace: LaplaceModel,
    carry: KernelState,
    info: StepInfo,
    t: Array,
) -> KernelState:
    """All warm-up adaptation after sweep ``t`` (the state and ``info`` that
    :func:`~deconv.tempering.kernel.step` returned for it), pure: the step sizes towards
    ``cfg.target_accept``, the ladder while ``t < schedule.ladder_end`` (and re-spaced at
    ``schedule.respace``), the preconditioners at the end of each of ``schedule.windows``.
    Call it during the warm-up only; ``laplace`` gives the preconditioners that follow the
    ladder before the first window ends (:func:`~deconv.tempering.states.flat_laplace` for an
    identity metric)."""
    swap = info.swap
    tuning = _adapt_step(cfg, carry.tuning, info.accept)
    swap_sum, swap_sweeps = carry.swap_sum, carry.swap_sweeps
    if cfg.n_temperatures > 2:
        adapted = _adapt_ladder(tuning, swap, t, laplace)
        tuning = _select(t < schedule.ladder_end, adapted, tuning)
        swap_sum, swap_sweeps = swap_sum + swap.mean(axis=0), swap_sweeps + 1.0
        due = jnp.any(t == schedule.respace)
        tuning = jax.lax.cond(
            due, lambda tn: _respace_ladder(tn, swap_sum, swap_sweeps, laplace), lambda tn: tn,
            tuning,
        )  # fmt: skip
        swap_sum = jnp.where(due, 0.0, swap_sum)
        swap_sweeps = jnp.where(due, 0.0, swap_sweeps)
    grads = jax.vmap(jax.vmap(_grad_target), (0, None))(carry.reps, tuning.betas)
    moments = _accumulate(carry.moments, carry.reps.x, grads)
    lo, hi = schedule.windows[:, 0], schedule.windows[:, 1]
    collecting = jnp.any((t >= lo) & (t < hi))
    moments = _select(collecting, moments, carry.moments)
    at_end = jnp.any((t == hi - 1) & (hi > 0))

    def switch(args: tuple[Tuning, Moments]) -> tuple[Tuning, Moments]:
        tuning, moments = args
        switched = tuning._replace(
            sqrt_cov=_preconditioner_root(cfg.preconditioner, moments, tuning.sqrt_cov),
            log_step=jnp.full_like(tuning.log_step, _initial_log_step(moments.sum_x.shape[-1])),
            step_count=jnp.zeros(()),
            from_draws=jnp.ones((), bool),
        )
        return switched, _empty_moments(*moments.sum_x.shape)

    tuning, moments = jax.lax.cond(at_end, switch, lambda args: args, (tuning, moments))
    return carry._replace(
        tuning=tuning, moments=moments, swap_sum=swap_sum, swap_sweeps=swap_sweeps
    )


def warmup_schedule(n_warmup: int, *, adapt_ladder: bool, adapt_metric: bool) -> Schedule:
    """Ladder adaptation for the first ``_LADDER_END`` of the warm-up, metric windows in
    ``_WINDOWS`` (those of at least 3 sweeps); either can be switched off (warm starts)."""
    bounds = [(int(lo * n_warmup), int(hi * n_warmup)) for lo, hi in _WINDOWS]
    windows = [(lo, hi) if hi - lo >= 3 and adapt_metric else (-1, -1) for lo, hi in bounds]
    ladder_end = int(_LADDER_END * n_warmup) if adapt_ladder else 0
    respace = [int(f * n_warmup) - 1 for f in _RESPACE]
    respace = [t if adapt_ladder and t >= 5 else -1 for t in respace]
    return Schedule(
        jnp.asarray(n_warmup, jnp.int32),
        jnp.asarray(ladder_end, jnp.int32),
        jnp.asarray(windows, jnp.int32),
        jnp.asarray(respace, jnp.int32),
    )


def initial_tuning(betas: np.ndarray, log_step: Array, laplace: LaplaceModel) -> Tuning:
    """Initial tuning: the ladder ``betas`` (from exactly 0 to exactly 1), log step sizes per
    temperature, and the preconditioners of the Laplace model that follow the ladder."""
    betas = jnp.asarray(betas)
    gaps = jnp.diff(betas)
    log_gaps = jnp.log(jnp.where(gaps > 0, gaps, 1.0))
    root = _laplace_root(laplace, betas)
    return Tuning(log_gaps, betas, log_step, root, jnp.zeros(()), jnp.zeros((), bool))


_cold_tuning_jit = jax.jit(initial_tuning)


def _initial_log_step(dim: int) -> float:
    """A step of ~d^(-1/4) in whitened units suits near-Gaussian targets."""
    return math.log(1.2 * dim ** (-0.25))
