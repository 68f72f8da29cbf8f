"""From a finished run's final state and trace to an :class:`EvidenceResult`."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from deconv import _reference
from deconv.tempering.estimators import (
    _as_batches,
    _bennett,
    _ess,
    _standard_error,
    _thermodynamic_integration,
    stepping_stone,
)
from deconv.tempering.results import EvidenceResult, SamplerState
from deconv.tempering.setup import _Problem
from deconv.tempering.states import Array, KernelState, PyTree, Trace


def _unravel_draws(template: PyTree, draws: Array) -> PyTree:
    """Draws (S, R, d) -> pytree with a leading axis of S * R draws (run-major)."""
    flat = np.swapaxes(np.asarray(draws), 0, 1).reshape(-1, draws.shape[-1])
    leaves, treedef = jax.tree_util.tree_flatten(template)
    ends = np.cumsum([np.size(leaf) for leaf in leaves])
    columns = np.split(flat, ends[:-1], axis=1)
    unravelled = [
        c.reshape(-1, *np.shape(leaf)).astype(jnp.result_type(leaf))
        for c, leaf in zip(columns, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, unravelled)


def _evaluation_count(carry: KernelState, problem: _Problem) -> int:
    """Gradient evaluations of the sampler plus the Hessians (one per dimension) at the starts."""
    return int(carry.n_grad) + problem.n_setup_evals


def _jump_rates(jumped: np.ndarray) -> np.ndarray:
    """Accepted fraction of the jumps tried, per temperature (zeros where none was tried)."""
    tried = np.isfinite(jumped)
    counts = tried.sum(axis=(0, 1))
    accepted = np.where(tried, jumped, 0.0).sum(axis=(0, 1))
    return np.where(counts > 0, accepted / np.maximum(counts, 1), 0.0)


def _summarise(
    carry: KernelState,
    trace: Trace,
    problem: _Problem,
    compile_time: float,
    start: float,
    reference: str,
    jumps: _reference.Reference | None,
) -> EvidenceResult:
    betas = np.asarray(carry.tuning.betas)
    log_lik = np.asarray(trace.log_lik)  # (S, R, L)
    log_z, runs = stepping_stone(log_lik, betas)
    se = _standard_error(stepping_stone(_as_batches(log_lik), betas)[1])
    if runs.size > 1:
        se = max(se, _standard_error(runs))
    evals = _evaluation_count(carry, problem)
    halves = np.array_split(log_lik, 2, axis=0)
    return EvidenceResult(
        log_z=log_z,
        log_z_se=se,
        free_energy=-log_z,
        free_energy_se=se,
        log_z_runs=runs,
        log_z_bridge=_bennett(log_lik, betas),
        log_z_ti=_thermodynamic_integration(log_lik, betas),
        betas=betas,
        swap_rates=np.asarray(trace.swap).mean(axis=(0, 1)),
        round_trips=int(np.sum(carry.walkers.trips)),
        accept_rates=np.asarray(trace.accept).mean(axis=(0, 1)),
        jump_rates=_jump_rates(np.asarray(trace.jump)),
        step_sizes=np.exp(np.asarray(carry.tuning.log_step)),
        ess=np.array([_ess(log_lik[:, :, i]) for i in range(betas.size)]),
        n_likelihood_evals=evals,
        n_gradient_evals=evals,
        wall_time=time.perf_counter() - start,
        compile_time=compile_time,
        samples=_unravel_draws(problem.template, trace.top),
        log_z_halves=np.array([stepping_stone(half, betas)[0] for half in halves]),
        state=SamplerState(
            np.asarray(carry.reps.x),
            betas,
            np.asarray(carry.tuning.log_step),
            np.asarray(carry.tuning.sqrt_cov),
            reference,
            jumps,
        ),
        reference=reference,
    )
