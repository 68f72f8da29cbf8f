"""WBIC = E_β[-log p(y|θ)] at β = 1/log n (Watanabe 2013): a cheap screen of F, not a decision."""

from __future__ import annotations

import math
import time
import warnings

import jax.numpy as jnp
import numpy as np

from deconv import _validation as _v
from deconv.exceptions import EvidenceWarning
from deconv.tempering.adaptation import _cold_tuning_jit, _initial_log_step, warmup_schedule
from deconv.tempering.diagnostics import ACCEPT_MIN
from deconv.tempering.estimators import _as_batches, _ess, _standard_error
from deconv.tempering.programs import _execute
from deconv.tempering.results import WBICResult
from deconv.tempering.settings import _config
from deconv.tempering.setup import _prepare, _start_log_weights, _tile
from deconv.tempering.states import Array, LogDensity, PyTree
from deconv.tempering.summary import _evaluation_count, _unravel_draws


def wbic(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    init: PyTree,
    *,
    n_data: int,
    key: Array,
    n_warmup: int = 500,
    n_samples: int = 1000,
    n_independent: int = 4,
    trajectory_length: float = 1.5,
    max_leapfrog: int = 32,
    target_accept: float = 0.75,
    data: PyTree = None,
) -> WBICResult:
    """WBIC = E_β[-log p(y|θ)] at β = 1/log(n_data), a cheap screen of F (Watanabe 2013).

    Parameters
    ----------
    log_prior, log_likelihood, init, key
        As in :func:`~deconv.tempering.launch.replica_exchange`.
    n_data : int
        Number of data points n (at least 2).
    n_warmup, n_samples, n_independent, trajectory_length, max_leapfrog, target_accept, data
        As in :func:`~deconv.tempering.launch.replica_exchange`, for the single tempered chain
        of each run.

    Returns
    -------
    WBICResult
        WBIC, its standard error across runs, and diagnostics.

    Warns
    -----
    EvidenceWarning
        If the HMC acceptance is below ``ACCEPT_MIN``.

    Notes
    -----
    WBIC agrees with F to O_p(sqrt(log n)) for regular and singular models alike, but in
    prototypes it was 5-20 nats off and collapsed when chains stuck in one mode: use it to
    screen candidate models, and :func:`~deconv.tempering.launch.replica_exchange` to decide.
    """
    start = time.perf_counter()
    n_data = _v.check_positive_int("n_data", n_data, minimum=2)
    beta = 1.0 / math.log(n_data)
    n_independent = _v.check_positive_int("n_independent", n_independent)
    n_warmup = _v.check_positive_int("n_warmup", n_warmup, minimum=10)
    problem = _prepare(log_prior, log_likelihood, init, data)
    cfg = _config(
        n_temperatures=1,
        n_independent=n_independent,
        n_samples=n_samples,
        trajectory_length=trajectory_length,
        max_leapfrog=max_leapfrog,
        target_accept=target_accept,
        preconditioner="gradient",
        swap_rounds=1,
    )
    x0 = _tile(problem.points, cfg.n_independent, 1, _start_log_weights(problem))
    log_step = jnp.full(1, _initial_log_step(x0.shape[-1]))
    tuning = _cold_tuning_jit(np.array([beta]), log_step, problem.laplace)
    schedule = warmup_schedule(n_warmup, adapt_ladder=False, adapt_metric=True)
    carry, trace, compile_time = _execute(
        log_prior, log_likelihood, cfg, key, x0, problem.template, tuning, schedule,
        problem.laplace, data, cache=data is not None,
    )  # fmt: skip
    log_lik = np.asarray(trace.log_lik)[:, :, 0]  # (S, R)
    accept_rate = float(np.mean(trace.accept))
    if not accept_rate >= ACCEPT_MIN:
        warnings.warn(
            f"WBIC may be unreliable: HMC acceptance {accept_rate:.3f} < {ACCEPT_MIN} "
            "(the densities may be non-smooth or non-finite)",
            EvidenceWarning,
            stacklevel=2,
        )
    runs = -log_lik.mean(axis=0)
    value = float(-log_lik.mean())
    se = _standard_error(-_as_batches(log_lik[:, :, None]).mean(axis=0))
    evals = _evaluation_count(carry, problem)
    return WBICResult(
        wbic=value,
        wbic_se=se,
        free_energy=value,
        free_energy_se=se,
        log_z=-value,
        beta=beta,
        wbic_runs=runs,
        accept_rate=accept_rate,
        step_size=float(np.exp(carry.tuning.log_step[0])),
        ess=_ess(log_lik),
        n_likelihood_evals=evals,
        n_gradient_evals=evals,
        wall_time=time.perf_counter() - start,
        compile_time=compile_time,
        samples=_unravel_draws(problem.template, trace.top),
    )
