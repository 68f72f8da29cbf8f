"""What a replica-exchange or WBIC run returns: the result records and the state a warm start
resumes from."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from deconv.tempering.states import PyTree


@dataclasses.dataclass(frozen=True)
class EvidenceResult:
    """Free-energy estimate from replica exchange with its diagnostics.

    Attributes
    ----------
    log_z, log_z_se : float
        Stepping-stone estimate of log Z (draws of all runs pooled per factor) and its standard
        error (the larger of batch means over independent runs, each cut into contiguous
        batches, and the standard error between the runs' own estimates).
    free_energy, free_energy_se : float
        F = -log Z and its standard error.
    log_z_runs : numpy.ndarray
        Per-run stepping-stone estimates, shape ``(n_independent,)``.
    log_z_bridge : float
        Cross-check from Bennett's acceptance ratio between neighbouring temperatures (same
        draws, both directions); it should agree with ``log_z`` within a few ``log_z_se``.
    log_z_ti : float
        Thermodynamic-integration estimate (trapezoid rule on the final ladder), a cross-check
        that is biased when the ladder is coarse.
    betas : numpy.ndarray
        Final inverse-temperature ladder, ``betas[0] == 0`` and ``betas[-1] == 1``.
    swap_rates : numpy.ndarray
        Mean (Rao-Blackwellised) swap acceptance of each neighbouring pair, shape ``(L - 1,)``.
    round_trips : int
        Number of completed walks β=0 → 1 → 0 of labelled replicas during sampling, all runs.
    accept_rates : numpy.ndarray
        Mean HMC acceptance probability per temperature during sampling, shape ``(L,)``.
    step_sizes : numpy.ndarray
        Final HMC step size per temperature (in preconditioned units).
    ess : numpy.ndarray
        Effective sample size of log p(y|θ) per temperature, summed over runs.
    n_likelihood_evals, n_gradient_evals : int
        Evaluations of ``log_likelihood`` and of its gradient (each gradient evaluation also
        gives the value; the Hessian at the start counts as one evaluation per dimension). All
        replicas of a sweep integrate in lockstep for as many leapfrog steps as the temperature
        that needs most, so this counts runs × temperatures × that number per sweep.
    wall_time, compile_time : float
        Seconds for the whole call and for compiling the sampler (part of ``wall_time``).
    samples : pytree
        Draws at β = 1 of all runs, leaves with a leading draw axis of length
        ``n_independent * n_samples``, run-major (reshape to ``(n_independent, n_samples, ...)``
        for per-chain diagnostics).
    log_z_halves : numpy.ndarray
        Stepping-stone log Z from the first and from the second half of the sampling phase (all
        runs pooled); a difference of more than ``DRIFT_MAX`` standard errors means the replicas
        were still drifting (e.g. out of the starting optima) and triggers a warning.
    state : SamplerState
        Final positions and tuning, to warm-start a run on similar data (``warm_start``).
    reference : str
        Where the ladder started: ``"prior"`` (β = 0 samples the prior) or ``"laplace"`` (β = 0
        samples a Laplace mixture at the starting optima; see ``replica_exchange``).
    jump_rates : numpy.ndarray
        Acceptance of the jumps from the optima's mixture per temperature during sampling,
        shape ``(L,)``; zeros where none was tried (below the top ``JUMP_SHARE`` of the ladder,
        or without jumps: see ``mode_jumps`` of ``replica_exchange``).
    n_runs_redone, n_runs_dropped : int
        Independent runs redone because their log Z was outlying
        (:func:`~deconv.tempering.diagnostics.outlying_runs`; one
        run redone twice counts twice), and runs dropped because it stayed so; the result
        holds ``n_independent - n_runs_dropped`` runs.
    """

    log_z: float
    log_z_se: float
    free_energy: float
    free_energy_se: float
    log_z_runs: np.ndarray
    log_z_bridge: float
    log_z_ti: float
    betas: np.ndarray
    swap_rates: np.ndarray
    round_trips: int
    accept_rates: np.ndarray
    step_sizes: np.ndarray
    ess: np.ndarray
    n_likelihood_evals: int
    n_gradient_evals: int
    wall_time: float
    compile_time: float
    samples: PyTree = dataclasses.field(repr=False)
    log_z_halves: np.ndarray = dataclasses.field(
        default_factory=lambda: np.full(2, np.nan), repr=False
    )
    state: SamplerState | None = dataclasses.field(default=None, repr=False)
    reference: str = "prior"
    jump_rates: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False)
    n_runs_redone: int = 0
    n_runs_dropped: int = 0


class SamplerState(NamedTuple):
    """Where a replica-exchange run ended: enough to warm-start a run on similar data.

    Attributes
    ----------
    positions : numpy.ndarray
        Final replica positions, shape ``(n_independent, L, d)`` (flat unconstrained vectors).
    betas : numpy.ndarray
        The adapted ladder, shape ``(L,)``.
    log_step : numpy.ndarray
        Log HMC step size per temperature, shape ``(L,)``.
    sqrt_cov : numpy.ndarray
        Square root of the preconditioner per temperature, shape ``(L, d, d)``.
    reference : str
        The path the ladder belongs to: ``"prior"`` or ``"laplace"`` (see ``replica_exchange``).
    jumps : optional
        The mixture the run's jumps were proposed from (``mode_jumps``), reused by a warm start;
        None without jumps.
    """

    positions: np.ndarray
    betas: np.ndarray
    log_step: np.ndarray
    sqrt_cov: np.ndarray
    reference: str = "prior"
    jumps: Any = None


@dataclasses.dataclass(frozen=True)
class WBICResult:
    """Widely applicable Bayesian information criterion (a screen of F, not a decision).

    Attributes
    ----------
    wbic, wbic_se : float
        WBIC = E_β[-log p(y|θ)] at β = 1/log(n_data), and its standard error across runs.
    free_energy, free_energy_se : float
        The same numbers under the name of the quantity they approximate.
    log_z : float
        ``-wbic``.
    beta : float
        The inverse temperature used.
    wbic_runs : numpy.ndarray
        Per-run estimates.
    accept_rate, step_size : float
        HMC acceptance during sampling and final step size.
    ess : float
        Effective sample size of log p(y|θ), summed over runs.
    n_likelihood_evals, n_gradient_evals : int
        As in :class:`EvidenceResult`.
    wall_time, compile_time : float
        Seconds for the call and for compiling.
    samples : pytree
        Draws from the tempered posterior (not the posterior) with a leading draw axis.
    """

    wbic: float
    wbic_se: float
    free_energy: float
    free_energy_se: float
    log_z: float
    beta: float
    wbic_runs: np.ndarray
    accept_rate: float
    step_size: float
    ess: float
    n_likelihood_evals: int
    n_gradient_evals: int
    wall_time: float
    compile_time: float
    samples: PyTree = dataclasses.field(repr=False)
