"""Bayes free energy F = -log Z, with Z = ∫ p(y|θ) p(θ) dθ, by replica exchange and WBIC.

Both estimators are model-agnostic: they take two pure JAX functions of a pytree ``theta`` in an
*unconstrained* parametrisation, ``log_prior(theta)`` (Jacobian of the parametrisation included)
and ``log_likelihood(theta)``, plus starting points (e.g. multi-start optima).

Replica exchange (parallel tempering)
-------------------------------------
Replicas sample the power posteriors p_β(θ) ∝ p(θ) p(y|θ)^β on a ladder 0 = β_1 < ... < β_L = 1.
One *sweep* is a Hamiltonian Monte Carlo trajectory for every replica (``jax.vmap``) followed by
Metropolis swaps of neighbouring replicas, alternating even and odd pairs. The evidence is the
stepping-stone product (Xie et al. 2011)::

    log Z = Σ_l log E_{β_l}[ p(y|θ)^(β_{l+1} - β_l) ],

each factor a log-mean-exp over post-warm-up draws. Bennett's acceptance ratio between neighbours
and thermodynamic integration (trapezoid rule) on the same draws are reported as cross-checks.

Replicas start at the starting points in proportion to each point's Laplace evidence
(log p(θ) p(y|θ) + log |det (P + H)^(-1/2)|, floored 5 nat below the best), the heaviest at the
top of the ladder, not one share per point: a light optimum that holds a few replicas can keep
them for thousands of sweeps (Nagata 2012, K = 4: a peak parked beyond the data's edge held half
of the β = 1 draws and moved F by 0.7 nat).

Tuning, all inside one jitted function (warm-up of ``n_warmup`` sweeps, shared by the runs):

* The initial ladder and the default number of temperatures come from a Laplace model at the best
  starting point: with prior precision P and likelihood curvature H, the generalised eigenvalues
  λ_i of (H, P) give Var_β[log p(y|θ)] in closed form, hence the thermodynamic length
  ℓ(β) = ∫_0^β sd_b[log p(y|θ)] db. Temperatures are placed at equal steps of ℓ; for near-Gaussian
  energies a step Δ gives a swap acceptance of erfc(Δ/2), so ``target_swap`` fixes the step.
* During the first ``_LADDER_END`` of the warm-up the ladder is adapted by stochastic
  approximation on the log-gaps log(β_{l+1} - β_l) (endpoints fixed at 0 and 1 exactly):
  every gap grows or shrinks with the difference between its Rao-Blackwellised swap acceptance
  and the mean acceptance, so the swap rates even out. At the end of 5, 10, 20 and 35 % of the
  warm-up (``_RESPACE``) the ladder is also re-spaced at equal steps of the cumulative swap
  rejection since the previous re-spacing (the communication barrier of non-reversible parallel
  tempering, Syed et al. 2021): the log-gap updates move a gap by a bounded amount per sweep and
  needed ~1000 sweeps to recover from a Laplace ladder crowded near β = 0; a re-spacing does it
  at once.
* HMC uses a dense preconditioner per temperature, re-estimated at the end of three warm-up
  windows (``_WINDOWS``: 5-15 %, 15-40 % and 40-70 % of the warm-up; before the first, the
  Laplace square root of (P + β H)^-1, which follows the ladder). The default
  (``preconditioner="gradient"``) is (E_β[g gᵀ])^-1 with g the gradient of log p_β: by the Fisher
  identity E[g gᵀ] = E[-∇² log p_β], the mean *local* curvature, blind to the distance between
  modes, which a covariance of draws would mistake for a scale. The alternatives, the covariance
  of draws (``"draws"``) and the matrix geometric mean of the two (``"geometric"``: the affine map
  minimising the Fisher divergence to a standard normal, as in nutpie), are kept for cross-checks:
  on the funnel-like posteriors of superfluous peaks (Nagata 2012 with K = 4-5) they are dominated
  by the wide regions and forced steps of 0.02 (draws) or 0.1-0.2 (geometric) at β = 1, i.e.
  5-30 leapfrog steps per trajectory against 2 for the gradient metric, with no smaller spread of
  log Z per gradient evaluation (measurements in ``tests/test_evidence.py``).
* Step sizes are adapted per temperature towards ``target_accept`` (Robbins-Monro on the log step,
  pooled over runs) and restart from 1.2 d^(-1/4) with a fresh gain after every preconditioner
  update (a step adapted to the old metric means nothing in the new one: carrying it over let the
  steps of K = 4 collapse to 1e-11 and cost 5e6 gradient evaluations). The last 30 % of the
  warm-up adapts step sizes only.
* Each sweep draws one trajectory length, U(0.5, 1.5) × ``trajectory_length`` in whitened units
  (fixed lengths resonate with near-Gaussian targets: 6 steps of ~1.05 ≈ 2π halved the ESS), and
  every temperature covers it in ceil(length / step) steps. ``max_leapfrog`` caps that number by
  *shortening* the trajectory, never by enlarging the step (an enlarged step gave acceptance 0 and
  F off by 12 nat at K = 4 with ``max_leapfrog=8``).
* Each sweep ends with ``swap_rounds`` rounds of neighbour swaps alternating even and odd pairs
  (the non-reversible "deterministic even-odd" scheme). Swaps cost no gradient; four rounds
  doubled the round trips at K = 4-5.

Reference path (``reference``): instead of the prior, the β = 0 end can be a normalised mixture q
of Laplace approximations at the distinct starting optima (:mod:`deconv._reference`); replicas
then sample q^(1-β) (p(θ) p(y|θ))^β, the stepping-stone product uses
log p(θ) + log p(y|θ) - log q(θ) in place of the log likelihood and gives log Z directly
(generalised stepping stone, Fan et al. 2011), and the β = 0 replica is refreshed by an exact
draw of q every sweep. Its length is the distance from q to the posterior, not from the prior:
on a 1000-point IR band at 1 % noise (~3000 nats of information) the prior path asked for 176
temperatures and, capped at 64, made no round trip (F 50 nat off), while the reference path
needs 4. It cannot find a mode that no start reaches, so ``"auto"`` uses it only where the
prior path would exceed the largest auto ladder and the reference is close to the posterior
(a predicted ladder of at most 16 temperatures).

``n_independent`` runs of the whole ladder (vmapped over keys, with shared tuning) give the standard
error of log Z: each run is cut into ceil(16 / n_independent) contiguous batches and the
stepping-stone estimate of every batch enters a batch-means standard error. Neighbouring
stepping-stone factors are positively correlated through the swaps (measured: the variance of a
run's log Z was 2.4 times the sum of its factors' variances), so per-temperature ESS would
understate it. The reported standard error is the larger of the batch-means one and the one
between whole runs: batches of one run share its slow components (e.g. which arrangements of
superfluous peaks its replicas carry; on Nagata 2012 with K = 4-5 the batch-means value alone
under-stated the seed-to-seed spread 1.6-3 times). The reported estimate pools the draws of all
runs in each factor.

A run whose log Z is off by orders of magnitude (measured on a real series: one run at
log Z ~ -3e14 next to runs at ~ -1e3, a standard error of 8e13 nat) is not an estimate but a
failure, e.g. a replica stuck where the density is not finite. :func:`outlying_runs` flags
such runs: a non-finite log Z; with three or more runs, one farther from their median than
max(``OUTLIER_FLOOR`` = 50 nat, ``OUTLIER_SCALES`` = 20 robust standard deviations); with two,
the one farther from the Laplace log evidence at the best start (else the lower) when they
differ by more than ``OUTLIER_GAP`` = 1000 nat. A flagged run is redone, up to ``MAX_REDOS``
times, with a new key from the final state of a healthy run, under the run's final ladder,
step sizes and metric and without a warm-up (the same compiled program, so the redone run
pools with the others); one that stays outlying is dropped with an
:class:`~deconv.exceptions.EvidenceWarning`. ``n_runs_redone`` and ``n_runs_dropped`` of the
result count them; at least one run is always kept.

WBIC
----
``wbic`` samples the single power posterior at β = 1/log n and returns
WBIC = E_β[-log p(y|θ)] (Watanabe 2013), a cheap *screen* of F: it is asymptotically equal to F up
to O_p(sqrt(log n)) and was 5-20 nats off F in prototypes. Do not decide between models with it.

Diagnostics thresholds (an :class:`~deconv.exceptions.EvidenceWarning` is emitted when any fails):
a swap rate below ``SWAP_RATE_MIN`` = 0.1, a mean HMC acceptance below ``ACCEPT_MIN`` = 0.1 at any
temperature, no round trip β=0 → 1 → 0 of any replica during sampling, a standard error of log Z
above ``SE_MAX`` = 0.3 nat, or log Z differing between the two halves of the sampling phase by
more than ``DRIFT_MAX`` = 6 standard errors (replicas still drifting out of their starts).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import inspect
import math
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy.optimize import brentq
from scipy.special import erfcinv, expit, logsumexp

from deconv import _ahead, _jax, _reference  # noqa: F401  (_jax: float64 unless the user opted out)
from deconv import _validation as _v
from deconv.exceptions import EvidenceWarning

__all__ = [
    "ACCEPT_MIN",
    "DRIFT_MAX",
    "MIN_SAMPLES",
    "MIN_WARMUP",
    "MIXING_CHECKS",
    "PRECONDITIONERS",
    "REFERENCES",
    "SAMPLER_SETTINGS",
    "SE_MAX",
    "SWAP_RATE_MIN",
    "EvidenceResult",
    "SamplerState",
    "WBICResult",
    "check_sampler",
    "compile_count",
    "diagnostic_problems",
    "outlying_runs",
    "poorly_mixed",
    "replica_exchange",
    "wbic",
]

Array = jax.Array
PyTree = Any
LogDensity = Callable[[PyTree], Array]

SWAP_RATE_MIN = 0.1
"""Smallest acceptable mean swap acceptance between neighbouring temperatures."""
SE_MAX = 0.3
"""Largest acceptable standard error of log Z (nats) before a warning."""
ACCEPT_MIN = 0.1
"""Smallest acceptable mean HMC acceptance at any temperature during sampling."""
DRIFT_MAX = 6.0
"""Largest acceptable change of log Z between the two halves of sampling, in standard errors."""
PRECONDITIONERS = ("gradient", "geometric", "draws")
"""Choices of the HMC preconditioner estimated during warm-up (see ``replica_exchange``)."""
REFERENCES = ("auto", "prior", "laplace")
"""Choices of the β = 0 end of the ladder (see ``replica_exchange``)."""
MIN_SAMPLES = 10
"""Fewest sampling sweeps (``n_samples``) of a replica-exchange run."""
MIN_WARMUP = 10
"""Fewest warm-up sweeps (``n_warmup``) of a cold replica-exchange run (a warm start: 1)."""
OUTLIER_FLOOR = 50.0
"""Nats: with three or more runs, a run's log Z is outlying when it is farther than the larger
of this and ``OUTLIER_SCALES`` robust standard deviations from the runs' median."""
OUTLIER_SCALES = 20.0
"""Robust standard deviations (1.4826 times the median absolute deviation) of the outlier rule."""
OUTLIER_GAP = 1e3
"""Nats: two runs whose log Z differ by more than this hold an outlier (see ``outlying_runs``)."""
MAX_REDOS = 2
"""Times an outlying run is redone (a new key) before it is dropped."""

_LADDER_END = 0.6  # fraction of the warm-up during which the ladder adapts
_WINDOWS = ((0.05, 0.15), (0.15, 0.4), (0.4, 0.7))  # preconditioner windows (warm-up fractions)
_RESPACE = (0.05, 0.1, 0.2, 0.35)  # re-spacings of the ladder (warm-up fractions, at their end)
_LADDER_GAIN = 0.3  # initial gain of the log-gap updates
_LADDER_DECAY = 30.0  # sweeps over which that gain halves
_STEP_GAIN = 0.5  # initial gain of the log step-size updates
_STEP_FLOOR = 0.02  # gain floor of the step-size updates
_DRIFT_FLOOR = 1e-6  # nats: a drift below this is rounding (a reference equal to the posterior)
_MAX_AUTO_TEMPERATURES = 64
# mode_jumps: the share of the ladder, from β = 1 down, whose replicas try a jump every sweep
# (Nagata K = 5: accepted at 1e-3 at β = 1 and never below β ~ 0.5; K = 3: 0.17 at β = 1,
# under 1e-3 below β ~ 0.1)
JUMP_SHARE = 0.25
_MIN_AUTO_TEMPERATURES = 4
_TEMPERATURE_QUANTUM = 4


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


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
        Independent runs redone because their log Z was outlying (:func:`outlying_runs`; one
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


# --------------------------------------------------------------------------------------------
# State crossing jit
# --------------------------------------------------------------------------------------------


class _Config(NamedTuple):
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


class _Schedule(NamedTuple):
    """Warm-up schedule, as arrays: a new warm-up length or switch does not recompile."""

    n_warmup: Array  # () sweeps of warm-up
    ladder_end: Array  # () the ladder adapts while t < ladder_end
    windows: Array  # (W, 2) preconditioner windows [start, end); (-1, -1) when unused
    respace: Array  # (C,) sweeps after which the ladder is re-spaced; -1 when unused


class _Replicas(NamedTuple):
    """Replica states, one per temperature slot (leading axis L, plus runs outside)."""

    x: Array  # (L, d) flat positions
    log_prior: Array  # (L,)
    log_lik: Array  # (L,)
    grad_prior: Array  # (L, d)
    grad_lik: Array  # (L, d)


class _Walkers(NamedTuple):
    """Labels for round-trip counting (per run)."""

    at_slot: Array  # (L,) label of the replica in each slot
    phase: Array  # (L,) per label: 0 unseen, 1 left β=0, 2 reached β=1 after β=0
    trips: Array  # () completed round trips


class _Tuning(NamedTuple):
    """Adapted quantities, shared by all runs."""

    log_gaps: Array  # (L-1,) log(β_{l+1} - β_l) up to a constant
    betas: Array  # (L,)
    log_step: Array  # (L,)
    sqrt_cov: Array  # (L, d, d) preconditioner square root
    step_count: Array  # () sweeps since the step-size gain was reset
    from_draws: Array  # () bool: the preconditioner comes from draws (no longer Laplace)


class _Moments(NamedTuple):
    """Running sums for the preconditioner (per slot, pooled over runs) in one window."""

    count: Array  # ()
    sum_x: Array  # (L, d) sum of positions
    outer_x: Array  # (L, d, d) sum of x xᵀ
    sum_g: Array  # (L, d) sum of gradients g of the log target
    outer_g: Array  # (L, d, d) sum of g gᵀ


class _Laplace(NamedTuple):
    """Laplace model at the best starting point (all arrays; crosses jit)."""

    centre: Array  # (d,)
    basis: Array  # (d, d) columns: prior-whitened eigenvectors of H
    eigenvalues: Array  # (d,) generalised eigenvalues λ of (H, P)
    offset: Array  # (d,) prior mean minus centre in the eigenbasis


class _Trace(NamedTuple):
    """Per-sweep output of the sampling phase."""

    log_lik: Array  # (R, L)
    top: Array  # (R, d)
    accept: Array  # (R, L)
    swap: Array  # (R, L-1)
    jump: Array  # (R, L) 1 if the replica's jump was accepted, 0 if not, NaN if none was tried


class _Noise(NamedTuple):
    """All random numbers of one sweep, drawn in two calls (RNG graphs compile slowly on CPU)."""

    momentum: Array  # (R, L, d) standard normal
    accept: Array  # (R, L) uniform: HMC acceptance
    swap: Array  # (rounds, R, L) uniform: swap acceptance (slot l decides pair l, l+1)
    length: Array  # () uniform: trajectory-length jitter


def _draw_noise(key: Array, t: Array, shape: tuple[int, ...], rounds: int = 1) -> _Noise:
    """The random numbers of sweep ``t`` for replicas of shape (R, L, d), ``rounds`` of swaps."""
    k_normal, k_uniform = jax.random.split(jax.random.fold_in(key, t))
    momentum = jax.random.normal(k_normal, shape)
    size = math.prod(shape[:-1])
    tiny = jnp.finfo(momentum.dtype).tiny
    uniform = jax.random.uniform(k_uniform, ((1 + rounds) * size + 1,), momentum.dtype, minval=tiny)
    accept = uniform[:size].reshape(shape[:-1])
    swap = uniform[size:-1].reshape(rounds, *shape[:-1])
    return _Noise(momentum, accept, swap, uniform[-1])


def _internal_key(key: Array) -> Array:
    """An RBG key derived from the user's key (RBG compiles far faster than threefry on CPU)."""
    is_typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    data = np.asarray(jax.random.key_data(key) if is_typed else key).ravel()
    words = np.random.default_rng(data.astype(np.uint64)).integers(0, 2**32, 4, dtype=np.uint32)
    return jax.random.wrap_key_data(jnp.asarray(words), impl="rbg")


# --------------------------------------------------------------------------------------------
# Densities
# --------------------------------------------------------------------------------------------


class _Flat(NamedTuple):
    """The two log densities as functions of a flat vector, and an exact sampler of the β = 0
    distribution where there is one (the reference path; see :mod:`deconv._reference`)."""

    log_prior: Callable[[Array], Array]
    log_lik: Callable[[Array], Array]
    draw_base: Callable[[Array, int], Array] | None = None


def _flatten(
    log_prior: LogDensity, log_likelihood: LogDensity, template: PyTree, data: PyTree = None
) -> _Flat:
    """Flat-vector densities; with ``data`` the user's functions take it as second argument."""
    _, unravel = ravel_pytree(template)
    if data is None:
        return _Flat(lambda x: log_prior(unravel(x)), lambda x: log_likelihood(unravel(x)))
    # Jitted inner functions: the sampler evaluates the densities at several places (HMC,
    # jumps, start), and each would otherwise trace the model again (NumPyro, in Python).
    prior = jax.jit(lambda x, d: log_prior(unravel(x), d))
    likelihood = jax.jit(lambda x, d: log_likelihood(unravel(x), d))
    return _Flat(
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


def _evaluate(flat: _Flat, x: Array) -> _Replicas:
    """Values and gradients of both log densities at one point."""
    lp, glp = jax.value_and_grad(flat.log_prior)(x)
    ll, gll = jax.value_and_grad(flat.log_lik)(x)
    return _Replicas(x, _finite(lp), _finite(ll), glp, gll)


def _log_target(state: _Replicas, beta: Array) -> Array:
    """log p(θ) + β log p(y|θ), with 0 · (-inf) read as 0."""
    return state.log_prior + jnp.where(beta > 0, beta * state.log_lik, 0.0)


def _grad_target(state: _Replicas, beta: Array) -> Array:
    return state.grad_prior + jnp.where(beta > 0, beta * state.grad_lik, 0.0)


# --------------------------------------------------------------------------------------------
# Local move: preconditioned HMC for one replica
# --------------------------------------------------------------------------------------------


def _leapfrog(
    flat: _Flat,
    state: _Replicas,
    momentum: Array,
    beta: Array,
    step: Array,
    root: Array,
    steps: tuple[Array, Array],
) -> tuple[_Replicas, Array]:
    """Leapfrog in whitened coordinates u (θ = θ0 + root @ u).

    ``steps = (n, n_loop)``: this replica makes ``n`` steps; the loop runs ``n_loop`` >= n times
    (the maximum over the vmapped replicas) and leaves the state alone after step ``n``.
    """
    n, n_loop = steps

    def body(i: Array, carry: tuple[_Replicas, Array]) -> tuple[_Replicas, Array]:
        s, p = carry
        p_half = p + 0.5 * step * (root.T @ _grad_target(s, beta))
        s_new = _evaluate(flat, s.x + step * (root @ p_half))
        p_new = p_half + 0.5 * step * (root.T @ _grad_target(s_new, beta))
        return _select(i < n, (s_new, p_new), (s, p))

    return jax.lax.fori_loop(0, n_loop, body, (state, momentum))


def _hmc(
    flat: _Flat,
    noise: _Noise,
    state: _Replicas,
    beta: Array,
    step: Array,
    root: Array,
    steps: tuple[Array, Array],
) -> tuple[_Replicas, Array]:
    """One HMC transition targeting p(θ) p(y|θ)^β; returns the state and acceptance prob."""
    proposal, p_end = _leapfrog(flat, state, noise.momentum, beta, step, root, steps)
    h_start = -_log_target(state, beta) + 0.5 * noise.momentum @ noise.momentum
    h_end = -_log_target(proposal, beta) + 0.5 * p_end @ p_end
    log_ratio = jnp.where(jnp.isfinite(h_end), h_start - h_end, -jnp.inf)
    accept = jnp.log(noise.accept) < log_ratio
    return _select(accept, proposal, state), jnp.exp(jnp.minimum(log_ratio, 0.0))


def _trajectory(cfg: _Config, log_step: Array, u: Array) -> tuple[Array, Array]:
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
    flat: _Flat, cfg: _Config, noise: _Noise, reps: _Replicas, tuning: _Tuning
) -> tuple[_Replicas, Array, Array]:
    """HMC for every replica of every run: states (R, L, ...) -> (R, L, ...).

    Returns the states, the acceptance probabilities and the number of gradient evaluations.
    """
    n, step = _trajectory(cfg, tuning.log_step, noise.length)
    n_loop = jnp.max(n)

    def one(z: _Noise, s: _Replicas, b: Array, e: Array, r: Array, k: Array) -> Any:
        return _hmc(flat, z, s, b, e, r, (k, n_loop))

    over_slots = jax.vmap(one, in_axes=(_Noise(0, 0, None, None), 0, 0, 0, 0, 0))
    over_runs = jax.vmap(over_slots, in_axes=(_Noise(0, 0, None, None), 0, None, None, None, None))
    reps, accept = over_runs(noise, reps, tuning.betas, step, tuning.sqrt_cov, n)
    return reps, accept, reps.log_lik.shape[0] * n.size * n_loop


# --------------------------------------------------------------------------------------------
# Swaps and round trips
# --------------------------------------------------------------------------------------------


def _refresh_base(flat: _Flat, key: Array, t: Array, reps: _Replicas) -> _Replicas:
    """Replace every run's β = 0 replica by an exact, independent draw of the base density.

    A valid move (it leaves the base distribution invariant whatever the current state), and
    the one that lets replicas change between the components of a mixture reference."""
    fresh = flat.draw_base(jax.random.fold_in(jax.random.fold_in(key, t), 1), reps.x.shape[0])
    fresh = jax.vmap(lambda x: _evaluate(flat, x))(fresh)
    return jax.tree_util.tree_map(lambda a, b: a.at[:, 0].set(b), reps, fresh)


def _jump_all(
    flat: _Flat, jumps: _reference.Reference, key: Array, t: Array, reps: _Replicas, betas: Array
) -> tuple[_Replicas, Array]:
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
    flat: _Flat, jumps: _reference.Reference, key: Array, t: Array, reps: _Replicas, betas: Array
) -> tuple[_Replicas, Array]:
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
    u: Array, reps: _Replicas, walkers: _Walkers, betas: Array, parity: Array
) -> tuple[_Replicas, _Walkers, Array]:
    """Attempt swaps of the pairs (l, l+1) with l % 2 == parity, for one run (u: uniforms)."""
    log_ratio = _swap_log_ratio(reps.log_lik, betas)
    pairs = jnp.arange(log_ratio.shape[0])
    do = (jnp.log(u) < log_ratio) & (pairs % 2 == parity)
    shift = do.astype(jnp.int32)
    perm = jnp.arange(betas.shape[0]) + jnp.pad(shift, (0, 1)) - jnp.pad(shift, (1, 0))
    reps = jax.tree_util.tree_map(lambda a: a[perm], reps)
    walkers = _count_trips(walkers._replace(at_slot=walkers.at_slot[perm]))
    return reps, walkers, jnp.exp(jnp.minimum(log_ratio, 0.0))


def _count_trips(walkers: _Walkers) -> _Walkers:
    """Update labels' phases after a swap; a label back at β=0 from β=1 completes a trip."""
    top, bottom = walkers.at_slot[-1], walkers.at_slot[0]
    phase = walkers.phase
    phase = phase.at[top].set(jnp.where(phase[top] == 1, 2, phase[top]))
    trips = walkers.trips + (phase[bottom] == 2)
    phase = phase.at[bottom].set(1)
    return _Walkers(walkers.at_slot, phase, trips)


def _swap_all(
    u: Array, reps: _Replicas, walkers: _Walkers, betas: Array, parity: Array
) -> tuple[_Replicas, _Walkers, Array]:
    return jax.vmap(_swap, in_axes=(0, 0, 0, None, None))(u, reps, walkers, betas, parity)


# --------------------------------------------------------------------------------------------
# Adaptation
# --------------------------------------------------------------------------------------------


def _betas_from_gaps(log_gaps: Array) -> Array:
    """Ladder with β_1 = 0 and β_L = 1 exactly from unnormalised log-gaps."""
    gaps = jax.nn.softmax(log_gaps)
    betas = jnp.concatenate([jnp.zeros(1, gaps.dtype), jnp.cumsum(gaps)])
    return betas.at[-1].set(1.0)


def _laplace_root(laplace: _Laplace, betas: Array) -> Array:
    """Square roots of the Laplace covariances (P + β H)^-1, one per temperature: (L, d, d)."""
    scale = 1.0 / jnp.sqrt(1.0 + betas[:, None] * laplace.eigenvalues[None, :])
    return laplace.basis[None, :, :] * scale[:, None, :]


_laplace_root_jit = jax.jit(_laplace_root)  # outside the sampler: one program, not a dozen


def _adapt_ladder(tuning: _Tuning, swap: Array, t: Array, laplace: _Laplace) -> _Tuning:
    """Move log-gaps by gain × (acceptance - mean acceptance); refresh the preconditioner."""
    rate = swap.mean(axis=0)
    gain = _LADDER_GAIN * _LADDER_DECAY / (_LADDER_DECAY + t)
    log_gaps = tuning.log_gaps + gain * (rate - rate.mean())
    betas = _betas_from_gaps(log_gaps)
    root = jnp.where(tuning.from_draws, tuning.sqrt_cov, _laplace_root(laplace, betas))
    return tuning._replace(log_gaps=log_gaps, betas=betas, sqrt_cov=root)


def _respace_ladder(
    tuning: _Tuning, swap_sum: Array, n_sweeps: Array, laplace: _Laplace
) -> _Tuning:
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


def _adapt_step(cfg: _Config, tuning: _Tuning, accept: Array) -> _Tuning:
    """Robbins-Monro on log step size, per temperature, pooled over runs.

    The step is capped at the longest trajectory, beyond which it would have no effect.
    """
    gain = _STEP_GAIN / (1.0 + tuning.step_count / 10.0) + _STEP_FLOOR
    log_step = tuning.log_step + gain * (accept.mean(axis=0) - cfg.target_accept)
    log_step = jnp.minimum(log_step, math.log(1.5 * cfg.trajectory_length))
    return tuning._replace(log_step=log_step, step_count=tuning.step_count + 1)


def _empty_moments(n_temps: int, dim: int) -> _Moments:
    vec, mat = jnp.zeros((n_temps, dim)), jnp.zeros((n_temps, dim, dim))
    return _Moments(jnp.zeros(()), vec, mat, vec, mat)


def _accumulate(moments: _Moments, x: Array, grads: Array) -> _Moments:
    """Add the positions and log-target gradients (R, L, d) of one sweep, pooled over runs."""
    return _Moments(
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


def _preconditioner_root(kind: str, moments: _Moments, fallback: Array) -> Array:
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


# --------------------------------------------------------------------------------------------
# The sampler (one jit)
# --------------------------------------------------------------------------------------------


class _Carry(NamedTuple):
    key: Array
    reps: _Replicas
    walkers: _Walkers
    tuning: _Tuning
    moments: _Moments
    n_grad: Array  # () gradient evaluations so far
    swap_sum: Array  # (L-1,) swap acceptance summed since the last re-spacing (runs pooled)
    swap_sweeps: Array  # () sweeps in that sum


def _sweep(
    flat: _Flat, cfg: _Config, carry: _Carry, t: Array, jumps: _reference.Reference
) -> tuple[_Carry, Array, Array, Array]:
    """One HMC move for every replica (and a jump from the optima's mixture), then
    ``cfg.swap_rounds`` rounds of swaps (even/odd)."""
    noise = _draw_noise(carry.key, t, carry.reps.x.shape, cfg.swap_rounds)
    reps, accept, evals = _hmc_all(flat, cfg, noise, carry.reps, carry.tuning)
    if cfg.exact_base and flat.draw_base is not None:
        reps = _refresh_base(flat, carry.key, t, reps)
        evals = evals + reps.log_lik.shape[0]
    jumped = jnp.full(reps.log_lik.shape, jnp.nan)  # NaN: no jump tried this sweep
    if cfg.mode_jumps:
        reps, jumped = _jump_top(flat, jumps, carry.key, t, reps, carry.tuning.betas)
        evals = evals + reps.log_lik.shape[0] * _jump_slots(cfg.n_temperatures)
    walkers, swap = carry.walkers, jnp.zeros((reps.log_lik.shape[0], 0))
    if cfg.n_temperatures > 1:
        betas = carry.tuning.betas

        def one_round(j: int, state: tuple) -> tuple:
            reps, walkers, total = state
            u = noise.swap[j][:, :-1]
            parity = (t * cfg.swap_rounds + j) % 2
            reps, walkers, swap = _swap_all(u, reps, walkers, betas, parity)
            return reps, walkers, total + swap

        zero = jnp.zeros((reps.log_lik.shape[0], cfg.n_temperatures - 1))
        reps, walkers, swap = jax.lax.fori_loop(
            0, cfg.swap_rounds, one_round, (reps, walkers, zero)
        )
        swap = swap / cfg.swap_rounds
    evals = carry.n_grad + evals
    return carry._replace(reps=reps, walkers=walkers, n_grad=evals), accept, swap, jumped


def _adapt(
    cfg: _Config,
    schedule: _Schedule,
    laplace: _Laplace,
    carry: _Carry,
    accept: Array,
    swap: Array,
    t: Array,
) -> _Carry:
    """All warm-up adaptation after sweep ``t`` (called only during the warm-up)."""
    tuning = _adapt_step(cfg, carry.tuning, accept)
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

    def switch(args: tuple[_Tuning, _Moments]) -> tuple[_Tuning, _Moments]:
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


def _schedule(n_warmup: int, *, adapt_ladder: bool, adapt_metric: bool) -> _Schedule:
    """Ladder adaptation for the first ``_LADDER_END`` of the warm-up, metric windows in
    ``_WINDOWS`` (those of at least 3 sweeps); either can be switched off (warm starts)."""
    bounds = [(int(lo * n_warmup), int(hi * n_warmup)) for lo, hi in _WINDOWS]
    windows = [(lo, hi) if hi - lo >= 3 and adapt_metric else (-1, -1) for lo, hi in bounds]
    ladder_end = int(_LADDER_END * n_warmup) if adapt_ladder else 0
    respace = [int(f * n_warmup) - 1 for f in _RESPACE]
    respace = [t if adapt_ladder and t >= 5 else -1 for t in respace]
    return _Schedule(
        jnp.asarray(n_warmup, jnp.int32),
        jnp.asarray(ladder_end, jnp.int32),
        jnp.asarray(windows, jnp.int32),
        jnp.asarray(respace, jnp.int32),
    )


def _run(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    cfg: _Config,
    key: Array,
    x0: Array,
    template: PyTree,
    tuning: _Tuning,
    schedule: _Schedule,
    laplace: _Laplace,
    data: PyTree,
    jumps: _reference.Reference,
) -> tuple[_Carry, _Trace]:
    """Warm-up then sampling of all runs; everything inside this one jitted function.

    The warm-up length and what it adapts are arrays (``schedule``), the data too: one
    compilation serves every warm-up length, cold or warm start, and data set of a structure.
    """
    flat = _flatten(log_prior, log_likelihood, template, data)
    carry = _initial_carry(flat, key, x0, tuning)
    n_warmup = schedule.n_warmup

    # One loop over warm-up and sampling, so that the sweep is traced and compiled once.
    def sweep(t: Array, state: tuple[_Carry, _Trace]) -> tuple[_Carry, _Trace]:
        c, trace = state
        walkers = c.walkers
        fresh = jnp.where(t == n_warmup, jnp.zeros_like(walkers.trips), walkers.trips)
        c = c._replace(walkers=walkers._replace(trips=fresh))
        c, accept, swap, jumped = _sweep(flat, cfg, c, t, jumps)
        c = jax.lax.cond(
            t < n_warmup,
            lambda c: _adapt(cfg, schedule, laplace, c, accept, swap, t),
            lambda c: c,
            c,
        )
        # Warm-up sweeps write row 0, which the first sampling sweep overwrites.
        row = jnp.maximum(t - n_warmup, 0)
        record = _Trace(c.reps.log_lik, c.reps.x[:, -1, :], accept, swap, jumped)
        trace = jax.tree_util.tree_map(lambda buf, v: buf.at[row].set(v), trace, record)
        return c, trace

    record = _Trace(
        carry.reps.log_lik,
        carry.reps.x[:, -1, :],
        jnp.zeros(carry.reps.log_lik.shape),
        jnp.zeros((*carry.reps.log_lik.shape[:-1], carry.reps.log_lik.shape[-1] - 1)),
        jnp.zeros(carry.reps.log_lik.shape),
    )
    trace = jax.tree_util.tree_map(lambda v: jnp.zeros((cfg.n_samples, *v.shape), v.dtype), record)
    return jax.lax.fori_loop(0, n_warmup + cfg.n_samples, sweep, (carry, trace))


def _initial_carry(flat: _Flat, key: Array, x0: Array, tuning: _Tuning) -> _Carry:
    n_runs, n_temps, dim = x0.shape
    reps = jax.vmap(jax.vmap(lambda x: _evaluate(flat, x)))(x0)
    labels = jnp.broadcast_to(jnp.arange(n_temps), (n_runs, n_temps))
    zeros = jnp.zeros((n_runs, n_temps), jnp.int32)
    walkers = _Walkers(labels, zeros, jnp.zeros(n_runs, jnp.int32))
    moments = _empty_moments(n_temps, dim)
    swap_sum = jnp.zeros(max(n_temps - 1, 0))
    evals = jnp.array(n_runs * n_temps)
    return _Carry(key, reps, walkers, tuning, moments, evals, swap_sum, jnp.zeros(()))


def _cold_tuning(betas: np.ndarray, log_step: Array, laplace: _Laplace) -> _Tuning:
    """Initial tuning: the given ladder, Laplace preconditioners that follow it."""
    betas = jnp.asarray(betas)
    gaps = jnp.diff(betas)
    log_gaps = jnp.log(jnp.where(gaps > 0, gaps, 1.0))
    root = _laplace_root(laplace, betas)
    return _Tuning(log_gaps, betas, log_step, root, jnp.zeros(()), jnp.zeros((), bool))


_run_jit = jax.jit(_run, static_argnums=(0, 1, 2))
_cold_tuning_jit = jax.jit(_cold_tuning)


# --------------------------------------------------------------------------------------------
# Laplace model and initial ladder (numpy, outside the sampler)
# --------------------------------------------------------------------------------------------


class _Problem(NamedTuple):
    """What the public functions prepare before sampling."""

    points: np.ndarray  # (n_init, d) flat starting points
    template: PyTree  # one point with the user's structure
    laplace: _Laplace
    n_setup_evals: int  # gradient-evaluation equivalents spent here
    log_targets: np.ndarray | None = None  # (n_init,) log p(θ) + log p(y|θ) at the starts
    roots: np.ndarray | None = None  # (n_init, d, d) β = 1 Laplace covariance roots there


def _inspect_points(
    log_prior: LogDensity, log_likelihood: LogDensity, template: PyTree, data: PyTree, points: Array
) -> tuple[Array, ...]:
    """Log target, whether a sampler can move from there (log target, position and gradient
    finite), prior gradient and both negative Hessians at every start."""
    flat = _flatten(log_prior, log_likelihood, template, data)

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
    """Trace here, and compile on ``compiler``, the Laplace set-up that :func:`replica_exchange`
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
) -> _Laplace:
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
    return _Laplace(*(jnp.asarray(a) for a in (x, basis, lam, np.nan_to_num(offset))))


def _energy_sd(laplace: _Laplace, betas: np.ndarray) -> np.ndarray:
    """sd of log p(y|θ) under the Laplace model of p_β (prior mean offset included)."""
    lam = np.asarray(laplace.eigenvalues)[None, :]
    shrink = 1.0 / (1.0 + betas[:, None] * lam)
    offset = np.asarray(laplace.offset)[None, :] * shrink
    var = 0.5 * lam**2 * shrink**2 + lam**2 * shrink * offset**2
    return np.sqrt(var.sum(axis=1))


def _length_grid(laplace: _Laplace) -> tuple[np.ndarray, np.ndarray]:
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


def _auto_ladder(laplace: _Laplace, n_temperatures: int | None, target_swap: float) -> np.ndarray:
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


# --------------------------------------------------------------------------------------------
# The reference path (tempering from a Laplace mixture instead of the prior)
# --------------------------------------------------------------------------------------------

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
    laplace: _Laplace
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
) -> tuple[_reference.Path, PyTree, _Laplace]:
    """The reference path's densities, their data and the Laplace model of its best mode."""
    mixture = _reference.build(problem.points, problem.log_targets, problem.roots)
    path = _reference.path(log_prior, log_likelihood, takes_data=data is not None)
    zeros = jnp.zeros(problem.points.shape[1])
    return path, (data, mixture), _Laplace(mixture.means[0], mixture.roots[0], zeros, zeros)


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


# --------------------------------------------------------------------------------------------
# Estimators from the trace (numpy)
# --------------------------------------------------------------------------------------------


def _log_mean_exp(values: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    count = np.prod([values.shape[a] for a in np.atleast_1d(axis)])
    return logsumexp(values, axis=axis) - np.log(count)


def _stepping_stone(log_lik: np.ndarray, betas: np.ndarray) -> tuple[float, np.ndarray]:
    """Pooled and per-run stepping-stone log Z from log-likelihoods of shape (S, R, L)."""
    weights = np.diff(betas)[None, None, :] * log_lik[:, :, :-1]
    weights = np.where(np.isnan(weights), -np.inf, weights)
    pooled = float(np.sum(_log_mean_exp(weights, axis=(0, 1))))
    runs = np.sum(_log_mean_exp(weights, axis=0), axis=-1)
    return pooled, runs


def _bar_pair(forward: np.ndarray, backward: np.ndarray) -> float:
    """Bennett's acceptance ratio for log(Z_b / Z_a) from w = log q_b/q_a at draws of a and b.

    Solves Σ_a σ(w - r - c) = Σ_b σ(r - w + c), c = log(N_a / N_b), for r (Shirts et al. 2003;
    the left side falls and the right side rises with r).
    """
    forward, backward = forward[np.isfinite(forward)], backward[np.isfinite(backward)]
    if forward.size == 0 or backward.size == 0:
        return -math.inf
    shift = math.log(forward.size / backward.size)

    def excess(r: float) -> float:
        left = np.sum(expit(forward - r - shift))
        return float(left - np.sum(expit(r - backward + shift)))

    low = min(forward.min(), backward.min()) - 50.0
    high = max(forward.max(), backward.max()) + 50.0
    # draws far in a tail (e.g. reference draws where the target is tiny) widen the bracket to
    # ~1e10 or more; the default 100 iterations then do not reach xtol
    return float(brentq(excess, low, high, xtol=1e-10, maxiter=2000))


def _bennett(log_lik: np.ndarray, betas: np.ndarray) -> float:
    """log Z by Bennett's acceptance ratio between neighbours, draws pooled: (S, R, L)."""
    pooled = log_lik.reshape(-1, betas.size)
    gaps = np.diff(betas)
    pairs = (_bar_pair(g * pooled[:, i], g * pooled[:, i + 1]) for i, g in enumerate(gaps))
    return float(sum(pairs))


def _thermodynamic_integration(log_lik: np.ndarray, betas: np.ndarray) -> float:
    mean = np.mean(np.where(np.isfinite(log_lik), log_lik, np.nan), axis=(0, 1))
    return float(np.sum(0.5 * (mean[1:] + mean[:-1]) * np.diff(betas)))


def _ess(chains: np.ndarray) -> float:
    """Effective sample size of one scalar, chains of shape (S, R), summed over chains.

    Geyer's initial positive sequence on the FFT autocorrelation of each chain.
    """
    n = chains.shape[0]
    if not np.all(np.isfinite(chains)):
        return float("nan")
    centred = chains - chains.mean(axis=0)
    spectrum = np.fft.rfft(centred, n=2 * n, axis=0)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), axis=0)[:n] / n
    total = 0.0
    for r in range(chains.shape[1]):
        if not acov[0, r] > 0:
            total += n
            continue
        rho = acov[:, r] / acov[0, r]
        pairs = rho[: n - n % 2].reshape(-1, 2).sum(axis=1)
        positive = np.cumprod(pairs > 0).astype(bool)
        tau = -1.0 + 2.0 * np.sum(pairs[positive])
        total += n / max(tau, 1.0 / n)
    return float(total)


_MIN_GROUPS = 16  # runs x batches behind a standard error


def _as_batches(log_lik: np.ndarray) -> np.ndarray:
    """(S, R, L) draws regrouped as (S / B, R B, L): each run cut into B contiguous batches.

    B = ceil(16 / R), so that the standard error rests on at least 16 nearly independent
    estimates (4 runs alone gave a standard error whose own scatter was 44 % of its value over
    12 seeds; 4 runs x 4 batches gave 18 % with the same calibration).
    """
    n_draws, n_runs, n_temps = log_lik.shape
    n_batches = max(1, min(-(-_MIN_GROUPS // n_runs), n_draws))
    size = n_draws // n_batches
    batches = log_lik[: size * n_batches].reshape(n_batches, size, n_runs, n_temps)
    return batches.transpose(1, 0, 2, 3).reshape(size, n_batches * n_runs, n_temps)


def _standard_error(groups: np.ndarray) -> float:
    """Standard error of a mean from estimates on independent groups (runs or batches)."""
    if not np.all(np.isfinite(groups)):
        return math.inf
    return float(np.std(groups, ddof=1) / math.sqrt(groups.size))


# --------------------------------------------------------------------------------------------
# Public API helpers
# --------------------------------------------------------------------------------------------


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


def _config(**values: Any) -> _Config:
    ints = {
        "n_samples": MIN_SAMPLES,
        "n_independent": 1,
        "max_leapfrog": 1,
        "swap_rounds": 1,
    }
    for name, minimum in ints.items():
        values[name] = _v.check_positive_int(name, values[name], minimum=minimum)
    length = _v.check_positive_float("trajectory_length", values["trajectory_length"])
    values["trajectory_length"] = length
    values["target_accept"] = _v.check_fraction("target_accept", values["target_accept"])
    _v.check_choice("preconditioner", values["preconditioner"], PRECONDITIONERS)
    return _Config(**values)


def _initial_log_step(dim: int) -> float:
    """A step of ~d^(-1/4) in whitened units suits near-Gaussian targets."""
    return math.log(1.2 * dim ** (-0.25))


_COMPILE_COUNTS: dict[str, int] = {}


def compile_count() -> dict[str, int]:
    """Compilations of the sampler with data passed as an argument, by density name."""
    return dict(_COMPILE_COUNTS)


def _density_name(log_likelihood: LogDensity) -> str:
    return getattr(log_likelihood, "__qualname__", type(log_likelihood).__name__)


class _Launched(NamedTuple):
    """A sampler traced in this thread, compiled (or compiling) and run (or running, or to
    be run by :func:`_run_launched`)."""

    run: Callable[[], tuple[_Carry, _Trace, float]]  # waits for the program and runs it
    outcome: concurrent.futures.Future | None  # of ``run()`` on a background thread
    program: concurrent.futures.Future | None = None  # the compiled sampler (to redo runs)
    args: tuple = ()  # its arguments


def _launch(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    cfg: _Config,
    key: Array,
    x0: np.ndarray,
    template: PyTree,
    tuning: _Tuning,
    schedule: _Schedule,
    laplace: _Laplace,
    data: PyTree,
    *,
    cache: bool,
    jumps: _reference.Reference | None = None,
    background: _ahead.Background | None = None,
) -> _Launched:
    """Trace the sampler here; with ``background``, compile and then run it on its threads
    while the caller goes on (tracing runs NumPyro's global handler stack, so it stays in
    the calling thread).

    With ``cache`` (the user's densities take their data as an argument) the compiled sampler
    is kept, keyed by the density functions, the static settings and the argument shapes, and
    reused for the next data set of that structure. Densities that close over their data are
    compiled afresh on every call.
    """
    if jumps is None:
        jumps = _standard_jit(x0.shape[-1], 1)
    args = (_internal_key(key), jnp.asarray(x0), template, tuning, schedule, laplace, data, jumps)
    start = time.perf_counter()
    static = (log_prior, log_likelihood, cfg)
    compiler = background.compiler if background else None
    program, new = _ahead.submit(_run_jit, static, args, compiler, keep=cache)
    if new and cache:
        name = _density_name(log_likelihood)
        _COMPILE_COUNTS[name] = _COMPILE_COUNTS.get(name, 0) + 1
    run = functools.partial(_run_program, program, args, time.perf_counter() - start)
    return _Launched(run, background.runner.submit(run) if background else None, program, args)


def _run_program(
    program: concurrent.futures.Future, args: tuple, tracing_s: float
) -> tuple[_Carry, _Trace, float]:
    """Wait for the compiled sampler and run it; returns the final carry, the trace and the
    seconds spent on compilation (tracing, and waiting for the program)."""
    start = time.perf_counter()
    compiled = program.result()
    compile_time = tracing_s + time.perf_counter() - start
    carry, trace = compiled(*args)
    jax.block_until_ready(trace)
    return carry, trace, compile_time


def _run_launched(launched: _Launched) -> tuple[_Carry, _Trace, float]:
    """The launched sampler's final carry, trace and compile seconds."""
    if launched.outcome is not None:
        return launched.outcome.result()
    return launched.run()


def _execute(*args: Any, **kwargs: Any) -> tuple[_Carry, _Trace, float]:
    """:func:`_launch` and :func:`_run_launched` in one go."""
    return _run_launched(_launch(*args, **kwargs))


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


def _evaluation_count(carry: _Carry, problem: _Problem) -> int:
    """Gradient evaluations of the sampler plus the Hessians (one per dimension) at the starts."""
    return int(carry.n_grad) + problem.n_setup_evals


MIXING_CHECKS = ("swap_rate", "acceptance", "round_trips")
"""Diagnostics that fail when the replicas do not mix (a ladder, step sizes or metric that do
not fit the posterior), as opposed to a run that is merely short (``se``, ``drift``)."""


def diagnostic_problems(result: EvidenceResult) -> dict[str, str]:
    """The diagnostics a replica-exchange run fails, by check, with a message for each.

    Checks: ``"swap_rate"`` (< :data:`SWAP_RATE_MIN` between some neighbours),
    ``"acceptance"`` (mean HMC acceptance < :data:`ACCEPT_MIN` at some temperature),
    ``"round_trips"`` (no replica travelled β=0 -> 1 -> 0), ``"se"`` (standard error of log Z >
    :data:`SE_MAX`) and ``"drift"`` (log Z moved by > :data:`DRIFT_MAX` standard errors between
    the halves of the sampling phase). An empty dict means every check passed.
    """
    problems = {}
    if result.swap_rates.size and float(np.min(result.swap_rates)) < SWAP_RATE_MIN:
        worst = int(np.argmin(result.swap_rates))
        problems["swap_rate"] = (
            f"swap rate {result.swap_rates[worst]:.3f} < {SWAP_RATE_MIN} between β="
            f"{result.betas[worst]:.3g} and β={result.betas[worst + 1]:.3g} (add temperatures)"
        )
    low = np.flatnonzero(~(result.accept_rates >= ACCEPT_MIN))
    if low.size:
        worst = int(low[np.argmin(np.nan_to_num(result.accept_rates[low], nan=-1.0))])
        problems["acceptance"] = (
            f"HMC acceptance {result.accept_rates[worst]:.3f} < {ACCEPT_MIN} at β="
            f"{result.betas[worst]:.3g} ({low.size} of {result.betas.size} temperatures; "
            "the densities may be non-smooth or non-finite there)"
        )
    if result.round_trips == 0:
        problems["round_trips"] = (
            "no replica travelled β=0 -> 1 -> 0 during sampling (sample longer)"
        )
    if not result.log_z_se <= SE_MAX:
        problems["se"] = f"standard error of log Z {result.log_z_se:.3g} > {SE_MAX} nat"
    halves = result.log_z_halves
    drift = abs(halves[1] - halves[0]) if np.all(np.isfinite(halves)) else 0.0
    if drift > DRIFT_MAX * result.log_z_se and drift > _DRIFT_FLOOR:
        problems["drift"] = (
            f"log Z moved by {drift:.3g} nat between the halves of the sampling phase "
            f"(> {DRIFT_MAX:g} standard errors: not stationary, sample longer)"
        )
    return problems


def poorly_mixed(result: EvidenceResult) -> bool:
    """Whether the run fails a mixing check (:data:`MIXING_CHECKS`): its replicas did not
    travel the ladder, so its log Z may be far off, not merely noisy."""
    return any(check in MIXING_CHECKS for check in diagnostic_problems(result))


def _warn(result: EvidenceResult) -> None:
    problems = diagnostic_problems(result)
    if problems:
        warnings.warn(
            "replica-exchange evidence may be unreliable: " + "; ".join(problems.values()),
            EvidenceWarning,
            stacklevel=4,
        )


def outlying_runs(log_z_runs: Any, anchor: float | None = None) -> np.ndarray:
    """Which independent runs' log Z are outliers by orders of magnitude (a failed run).

    Parameters
    ----------
    log_z_runs : array_like
        The runs' stepping-stone log Z, shape ``(n_runs,)``.
    anchor : float, optional
        An independent approximation of log Z (the Laplace log evidence at the best start),
        which decides between two runs far apart.

    Returns
    -------
    numpy.ndarray
        Boolean mask, True for an outlying run: a non-finite log Z; with three or more finite
        runs, one farther from their median than max(:data:`OUTLIER_FLOOR`,
        :data:`OUTLIER_SCALES` × 1.4826 × median absolute deviation); with two finite runs that
        differ by more than :data:`OUTLIER_GAP`, the one farther from ``anchor`` (the lower one
        without a finite anchor). A single finite run is never outlying.
    """
    runs = np.asarray(log_z_runs, dtype=float)
    outlying = ~np.isfinite(runs)
    finite = np.flatnonzero(~outlying)
    values = runs[finite]
    if finite.size >= 3:
        median = np.median(values)
        scale = 1.4826 * np.median(np.abs(values - median))
        far = np.abs(values - median) > max(OUTLIER_FLOOR, OUTLIER_SCALES * scale)
        outlying[finite[far]] = True
    elif finite.size == 2 and abs(values[1] - values[0]) > OUTLIER_GAP:
        if anchor is not None and np.isfinite(anchor):
            outlying[finite[np.argmax(np.abs(values - anchor))]] = True
        else:
            outlying[finite[np.argmin(values)]] = True
    return outlying


def _anchor(problem: _Problem) -> float | None:
    """The Laplace log evidence at the best start (None where the set-up has none)."""
    if problem.log_targets is None or problem.roots is None:
        return None
    evidence = _reference.laplace_log_evidence(problem.log_targets, problem.roots)
    if not np.any(np.isfinite(evidence)):
        return None
    return float(np.max(evidence) + 0.5 * problem.points.shape[1] * math.log(2.0 * math.pi))


def _run_log_z(trace: _Trace, carry: _Carry) -> np.ndarray:
    return _stepping_stone(np.asarray(trace.log_lik), np.asarray(carry.tuning.betas))[1]


def _replace_runs(
    carry: _Carry, trace: _Trace, new_carry: _Carry, new_trace: _Trace, mask: np.ndarray
) -> tuple[_Carry, _Trace]:
    """``carry`` and ``trace`` with the runs in ``mask`` taken from ``new_carry`` and
    ``new_trace`` (replicas and walkers have their runs first, the trace after its draws);
    the gradient evaluations of both are counted."""

    def take(old: Any, new: Any, axis: int) -> np.ndarray:
        shape = [1] * np.ndim(old)
        shape[axis] = mask.size
        return np.where(mask.reshape(shape), np.asarray(new), np.asarray(old))

    def first(old: Any, new: Any) -> np.ndarray:
        return take(old, new, 0)

    carry = carry._replace(
        reps=jax.tree_util.tree_map(first, carry.reps, new_carry.reps),
        walkers=jax.tree_util.tree_map(first, carry.walkers, new_carry.walkers),
        n_grad=carry.n_grad + new_carry.n_grad,
    )
    return carry, jax.tree_util.tree_map(lambda a, b: take(a, b, 1), trace, new_trace)


def _keep_runs(carry: _Carry, trace: _Trace, kept: np.ndarray) -> tuple[_Carry, _Trace]:
    """``carry`` and ``trace`` of the runs ``kept`` only."""

    def first(a: Any) -> np.ndarray:
        return np.take(np.asarray(a), kept, axis=0)

    carry = carry._replace(
        reps=jax.tree_util.tree_map(first, carry.reps),
        walkers=jax.tree_util.tree_map(first, carry.walkers),
    )
    return carry, jax.tree_util.tree_map(lambda a: np.take(np.asarray(a), kept, axis=1), trace)


def _redo_outlying_runs(
    launched: _Launched, carry: _Carry, trace: _Trace, anchor: float | None
) -> tuple[_Carry, _Trace, int, int]:
    """Redo the runs :func:`outlying_runs` flags, then drop those still flagged (module notes).

    A redo runs the launched program again with a new key, from healthy runs' final
    positions, under the final tuning and without a warm-up; its runs at the flagged places
    replace them. Returns the carry and trace, the runs redone and the runs dropped.
    """
    outlying = outlying_runs(_run_log_z(trace, carry), anchor)
    if not outlying.any() or launched.program is None:
        return carry, trace, 0, 0
    n_runs = outlying.size
    key, x0, template, _, _, *rest = launched.args
    idle = _schedule(0, adapt_ladder=False, adapt_metric=False)
    redone = 0
    for attempt in range(MAX_REDOS):
        healthy = np.flatnonzero(~outlying)
        if healthy.size:
            positions = np.asarray(carry.reps.x)[healthy[np.arange(n_runs) % healthy.size]]
        else:
            positions = np.asarray(x0)
        args = (jax.random.fold_in(key, attempt + 1), jnp.asarray(positions), template,
                carry.tuning, idle, *rest)  # fmt: skip
        again, again_trace, _ = _run_program(launched.program, args, 0.0)
        carry, trace = _replace_runs(carry, trace, again, again_trace, outlying)
        redone += int(outlying.sum())
        outlying = outlying_runs(_run_log_z(trace, carry), anchor)
        if not outlying.any():
            return carry, trace, redone, 0
    if outlying.all():  # nothing to keep instead: the standard error says it
        return carry, trace, redone, 0
    kept = np.flatnonzero(~outlying)
    carry, trace = _keep_runs(carry, trace, kept)
    warnings.warn(
        f"replica exchange: {int(outlying.sum())} of {n_runs} independent runs had an "
        f"outlying log Z after {MAX_REDOS} redos with new keys and were dropped; the estimate "
        f"and its standard error rest on the other {kept.size}",
        EvidenceWarning,
        stacklevel=_v.caller_stacklevel(),
    )
    return carry, trace, redone, int(outlying.sum())


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


class _Pending(NamedTuple):
    """A replica-exchange run set up, its sampler compiled or compiling; ``result()`` runs it."""

    launched: _Launched
    problem: _Problem
    reference: str
    jumps: _reference.Reference | None
    setup_s: float  # seconds the set-up took (part of the result's wall time)

    def result(self) -> EvidenceResult:
        start = time.perf_counter() - self.setup_s
        carry, trace, compile_time = _run_launched(self.launched)
        carry, trace, redone, dropped = _redo_outlying_runs(
            self.launched, carry, trace, _anchor(self.problem)
        )
        result = _summarise(
            carry, trace, self.problem, compile_time, start, self.reference, self.jumps
        )
        result = dataclasses.replace(result, n_runs_redone=redone, n_runs_dropped=dropped)
        _warn(result)
        return result


def replica_exchange(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    init: PyTree,
    *,
    key: Array,
    n_temperatures: int | None = None,
    betas: Any = None,
    n_warmup: int = 500,
    n_samples: int = 4000,
    n_independent: int = 4,
    trajectory_length: float = 1.5,
    max_leapfrog: int = 32,
    target_accept: float = 0.75,
    target_swap: float = 0.5,
    adapt_ladder: bool = True,
    preconditioner: str = "gradient",
    swap_rounds: int = 4,
    reference: str = "auto",
    mode_jumps: bool = True,
    data: PyTree = None,
    warm_start: EvidenceResult | SamplerState | None = None,
) -> EvidenceResult:
    """Estimate log Z = log ∫ p(y|θ) p(θ) dθ by replica exchange and stepping-stone sampling.

    Parameters
    ----------
    log_prior, log_likelihood : callable
        Pure JAX functions of a pytree ``theta`` returning a scalar: the log prior density in the
        unconstrained parametrisation (Jacobian included; must be proper) and log p(y|θ).
        Non-finite values are treated as -inf (rejected moves).
    init : pytree
        Starting points: every leaf has a leading axis of the same length (e.g. several optima of
        a multi-start optimiser). Replicas start from these in proportion to their Laplace
        evidence (the heaviest at the top of the ladder); starting anywhere does not bias
        replica exchange in the limit, but a light optimum holding many replicas can hold them
        for longer than the run. With the replicas this concentrated, warm-ups much shorter
        than the default tune the ladder poorly (150 sweeps: F 60 nat off on a K = 3 IR band;
        ``docs/benchmarks.md``).
    key : jax.Array
        PRNG key.
    n_temperatures : int, optional
        Number L of temperatures. Default: from the thermodynamic length of a Laplace model at
        the best start so that the predicted swap acceptance is ``target_swap``, rounded up to
        a multiple of 4 (so that similar problems share one compiled sampler) and clipped to
        [4, 64]; on the reference path (``reference``), from the spread of log p(θ)p(y|θ)/q(θ)
        over draws of q, with the same rounding and clipping, and an evenly spaced ladder.
    betas : array_like, optional
        Initial ladder, strictly increasing from exactly 0 to exactly 1; overrides
        ``n_temperatures``. It is still adapted unless ``adapt_ladder=False``.
    n_warmup, n_samples : int
        Sweeps of warm-up (adaptation, discarded) and of sampling. A sweep is one HMC trajectory
        per replica followed by one round of neighbour swaps.
    n_independent : int
        Independent runs of the whole ladder (vmapped, shared tuning); with their batches they
        give the standard error. Keep several: batches of one run miss slow metastability that
        independent runs started apart can reveal.
    trajectory_length : float
        Mean HMC integration time in preconditioned (whitened) units; each sweep draws a length
        uniformly in [0.5, 1.5] times this value (avoids the periodicity of fixed lengths). About
        π/2 decorrelates a Gaussian target in one trajectory.
    max_leapfrog : int
        Cap on the leapfrog steps of one trajectory (a cost cap: where the adapted step would
        need more, the trajectory is shortened; the step is never enlarged).
    target_accept : float
        HMC acceptance targeted by the step-size adaptation.
    target_swap : float
        Swap acceptance aimed at when choosing the number of temperatures.
    adapt_ladder : bool
        Adapt the interior temperatures during warm-up so that swap rates even out.
    preconditioner : {"gradient", "geometric", "draws"}
        Dense HMC metric estimated per temperature during warm-up: the inverse of the mean
        outer product of log-density gradients (default; cheap trajectories on funnel-like
        posteriors), the covariance of the draws, or the matrix geometric mean of the two.
    swap_rounds : int
        Rounds of neighbour swaps (alternating even and odd pairs) after each HMC sweep.
    mode_jumps : bool
        After every HMC sweep, give the replicas of the coldest quarter of the ladder
        (``JUMP_SHARE``, β nearest 1) an independence Metropolis-Hastings move proposed from an
        equal-weight mixture of the Laplace approximations at the distinct starting optima:
        exact at any temperature, one extra density and gradient evaluation per try. It moves
        replicas between optima that HMC connects only through the hot end of the ladder;
        without it, which optima the multi-start found and how the replicas were shared among
        them decided F for models with surplus peaks (``docs/benchmarks.md``). A warm start
        reuses the mixture of the run it starts from (on the reference path, this data set's
        optima).
    reference : {"auto", "prior", "laplace"}
        The β = 0 end of the ladder. ``"prior"``: temper from the prior. ``"laplace"``: temper
        from a normalised mixture q of Laplace approximations at the distinct starts,
        p_β ∝ q^(1-β) (p(θ) p(y|θ))^β (generalised stepping stone, Fan et al. 2011), with exact
        draws of q at β = 0; the path is then as long as q is far from the posterior rather
        than the prior, which is what data with thousands of nats of information need.
        ``"auto"`` (default): the prior, unless its Laplace model asks for more than 64
        temperatures and the reference path predicts at most 16 (from the spread of
        log p(θ)p(y|θ)/q(θ) over 256 draws of q: q is then close to the posterior).
        Information-rich spectra with a well-determined peak model (an IR band at 1 % noise:
        a prior path of 170+ temperatures) then get the reference with 4; models with
        superfluous or ambiguous peaks, whose posteriors are far from any Gaussian mixture,
        keep the prior. The prior path stays the default because the reference needs the
        posterior's modes among the starts: a mode that no start reaches is found only by the
        β near 1 replicas (the prior path finds it from β = 0).
    data : pytree, optional
        If given, the densities are called as ``log_prior(theta, data)`` and
        ``log_likelihood(theta, data)`` and the data enter the compiled sampler as arguments:
        module-level densities then compile once, and every later data set with the same
        shapes (and the same settings) reuses the compiled sampler (see :func:`compile_count`).
    warm_start : EvidenceResult or SamplerState, optional
        Start from where a run on similar data ended (e.g. the neighbour in a measurement
        series): its replica positions, ladder, step sizes and preconditioners. The ladder and
        the preconditioners are then kept, the warm-up (``n_warmup``, about 50-100 sweeps is
        enough) adapts the step sizes only, and no Laplace model is built. ``betas`` and
        ``n_temperatures`` must not be given with it.

    Returns
    -------
    EvidenceResult
        Estimate, standard error, diagnostics and β = 1 draws.

    Warns
    -----
    EvidenceWarning
        If a swap rate is below ``SWAP_RATE_MIN``, the HMC acceptance at some temperature is
        below ``ACCEPT_MIN``, no round trip happened during sampling, the standard error exceeds
        ``SE_MAX`` nat, or the two halves of the sampling phase disagree by more than
        ``DRIFT_MAX`` standard errors.
    """
    return _begin_replica_exchange(**locals(), background=None).result()


def launch_replica_exchange(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    init: PyTree,
    *,
    background: _ahead.Background | None,
    **settings: Any,
) -> _Pending:
    """:func:`replica_exchange` up to its sampler, which compiles and runs on ``background``'s
    threads (if not None) while the caller goes on (e.g. to the next model's MAP fits);
    ``.result()`` waits for it and returns the :class:`EvidenceResult`. Same arguments and
    defaults."""
    bound = inspect.signature(replica_exchange).bind(log_prior, log_likelihood, init, **settings)
    bound.apply_defaults()
    return _begin_replica_exchange(**bound.arguments, background=background)


SAMPLER_SETTINGS = tuple(
    name
    for name in inspect.signature(replica_exchange).parameters
    if name not in ("log_prior", "log_likelihood", "init", "key", "data", "warm_start")
)
"""The settings of :func:`replica_exchange` that a ``sampler`` mapping may hold (all but the
densities, the starting points, the key, the data and the warm start)."""


def _checked_settings(values: dict[str, Any], *, warm: bool) -> dict[str, Any]:
    """``values`` (one per name of :data:`SAMPLER_SETTINGS`) checked, the rule of each setting
    in one place; ``warm``: for a warm-started run (no ladder settings, a short warm-up)."""
    out = dict(values)
    minima = {
        "n_warmup": 1 if warm else MIN_WARMUP,
        "n_samples": MIN_SAMPLES,
        "n_independent": 1,
        "max_leapfrog": 1,
        "swap_rounds": 1,
    }
    for name, minimum in minima.items():
        out[name] = _v.check_positive_int(name, out[name], minimum=minimum)
    out["trajectory_length"] = _v.check_positive_float(
        "trajectory_length", out["trajectory_length"]
    )
    for name in ("target_accept", "target_swap"):
        out[name] = _v.check_fraction(name, out[name])
    _v.check_choice("preconditioner", out["preconditioner"], PRECONDITIONERS)
    _v.check_choice("reference", out["reference"], REFERENCES)
    out["mode_jumps"] = _v.check_bool("mode_jumps", out["mode_jumps"])
    if warm:
        if out["betas"] is not None or out["n_temperatures"] is not None:
            _v.fail("betas", "be None with warm_start (the ladder comes from it)", out["betas"])
    elif out["betas"] is not None:
        _check_betas(out["betas"])
    elif out["n_temperatures"] is not None:
        out["n_temperatures"] = _v.check_positive_int(
            "n_temperatures", out["n_temperatures"], minimum=2
        )
    return out


def check_sampler(sampler: Any, *, warm: bool = False, name: str = "sampler") -> dict[str, Any]:
    """Check a ``sampler`` mapping of :func:`replica_exchange` settings before any work.

    Parameters
    ----------
    sampler : mapping or None
        Settings among :data:`SAMPLER_SETTINGS` (``None``: the defaults).
    warm : bool
        The settings are for a warm-started run (``warm_start`` given): no ``betas`` or
        ``n_temperatures``, and a warm-up of 1 sweep or more (else :data:`MIN_WARMUP`).
    name : str
        Argument name, for the error messages.

    Returns
    -------
    dict
        The settings as given (a new dict; empty for ``None``).

    Raises
    ------
    TypeError
        ``sampler`` is not a mapping, names a setting :func:`replica_exchange` does not have,
        or holds a setting of the wrong type.
    ValueError
        A setting out of its range (as :func:`replica_exchange` would raise).
    """
    if sampler is None:
        return {}
    if not isinstance(sampler, Mapping):
        rule = "be a mapping of replica_exchange settings, or None"
        _v.fail(name, rule, sampler, error=TypeError)
    unknown = sorted(str(key) for key in sampler if key not in SAMPLER_SETTINGS)
    if unknown:
        _v.fail(
            name,
            f"hold only settings of replica_exchange ({', '.join(SAMPLER_SETTINGS)})",
            unknown,
            error=TypeError,
        )
    defaults = inspect.signature(replica_exchange).parameters
    values = {key: defaults[key].default for key in SAMPLER_SETTINGS}
    _checked_settings({**values, **sampler}, warm=warm)
    return dict(sampler)


def _begin_replica_exchange(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    init: PyTree,
    *,
    key: Array,
    n_temperatures: int | None,
    betas: Any,
    n_warmup: int,
    n_samples: int,
    n_independent: int,
    trajectory_length: float,
    max_leapfrog: int,
    target_accept: float,
    target_swap: float,
    adapt_ladder: bool,
    preconditioner: str,
    swap_rounds: int,
    reference: str,
    mode_jumps: bool,
    data: PyTree,
    warm_start: EvidenceResult | SamplerState | None,
    background: _ahead.Background | None,
) -> _Pending:
    start = time.perf_counter()
    settings = _checked_settings(
        {
            "n_temperatures": n_temperatures, "betas": betas, "n_warmup": n_warmup,
            "n_samples": n_samples, "n_independent": n_independent,
            "trajectory_length": trajectory_length, "max_leapfrog": max_leapfrog,
            "target_accept": target_accept, "target_swap": target_swap,
            "adapt_ladder": adapt_ladder, "preconditioner": preconditioner,
            "swap_rounds": swap_rounds, "reference": reference, "mode_jumps": mode_jumps,
        },
        warm=warm_start is not None,
    )  # fmt: skip
    n_independent, n_warmup = settings["n_independent"], settings["n_warmup"]
    target_swap, mode_jumps = settings["target_swap"], settings["mode_jumps"]
    if warm_start is not None:
        return _warm_run(
            log_prior, log_likelihood, init, warm_start, key=key, data=data, start=start,
            n_independent=n_independent, n_warmup=n_warmup, n_samples=n_samples,
            trajectory_length=trajectory_length, max_leapfrog=max_leapfrog,
            target_accept=target_accept, preconditioner=preconditioner, swap_rounds=swap_rounds,
            mode_jumps=mode_jumps, background=background,
        )  # fmt: skip
    ladder = None if betas is None else _check_betas(betas)
    n_temperatures, reference = settings["n_temperatures"], settings["reference"]
    problem = _prepare(log_prior, log_likelihood, init, data)
    path = _choose_path(
        log_prior, log_likelihood, problem, data, reference=reference, target_swap=target_swap,
        key=key,
    )  # fmt: skip
    if ladder is None and path.reference == "prior":
        ladder = _auto_ladder(problem.laplace, n_temperatures, target_swap)
    elif ladder is None:
        ladder = np.linspace(0.0, 1.0, n_temperatures or path.n_temperatures)
    cfg = _config(
        n_temperatures=int(ladder.size),
        n_independent=n_independent,
        n_samples=n_samples,
        trajectory_length=trajectory_length,
        max_leapfrog=max_leapfrog,
        target_accept=target_accept,
        preconditioner=preconditioner,
        swap_rounds=swap_rounds,
        exact_base=path.reference == "laplace",
        mode_jumps=mode_jumps,
    )
    jumps = _jump_mixture(problem) if mode_jumps else None
    x0 = _tile(problem.points, cfg.n_independent, cfg.n_temperatures, _start_log_weights(problem))
    log_step = jnp.full(ladder.size, _initial_log_step(x0.shape[-1]))
    tuning = _cold_tuning_jit(ladder, log_step, path.laplace)
    schedule = _schedule(n_warmup, adapt_ladder=bool(adapt_ladder), adapt_metric=True)
    launched = _launch(
        path.log_base, path.log_excess, cfg, key, x0, problem.template, tuning, schedule,
        path.laplace, path.data, cache=data is not None, jumps=jumps, background=background,
    )  # fmt: skip
    setup_s = time.perf_counter() - start
    return _Pending(launched, problem, path.reference, jumps, setup_s)


def _warm_state(warm_start: Any, n_runs: int, dim: int) -> SamplerState:
    """The state to start from, its runs cycled to ``n_runs``; checks it fits the problem."""
    state = warm_start.state if isinstance(warm_start, EvidenceResult) else warm_start
    if not isinstance(state, SamplerState):
        _v.fail(
            "warm_start", "be an EvidenceResult or SamplerState", type(warm_start).__name__,
            error=TypeError,
        )  # fmt: skip
    positions = np.asarray(state.positions, dtype=float)
    if positions.ndim != 3 or positions.shape[-1] != dim:
        _v.fail("warm_start", f"hold positions of shape (runs, L, {dim})", positions.shape)
    if state.jumps is not None and np.shape(state.jumps.means)[-1] != dim:
        _v.fail("warm_start", f"hold a jump mixture over {dim} dimensions", state.jumps.means.shape)
    index = np.arange(n_runs) % positions.shape[0]
    return state._replace(positions=positions[index])


def _warm_run(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    init: PyTree,
    warm_start: Any,
    *,
    key: Array,
    data: PyTree,
    start: float,
    n_independent: int,
    n_warmup: int,
    mode_jumps: bool,
    background: _ahead.Background | None,
    **settings: Any,
) -> _Pending:
    """Replica exchange from a previous run's final state: step sizes adapt, nothing else;
    jumps (if asked for) from the previous run's mixture, or on the reference path from this
    data set's optima."""
    points, template = _init_points(init)
    dim = points.shape[1]
    state = _warm_state(warm_start, n_independent, dim)
    betas = _check_betas(state.betas)
    cfg = _config(n_temperatures=int(betas.size), n_independent=n_independent, **settings)
    gaps = np.diff(betas)
    tuning = _Tuning(
        jnp.asarray(np.log(gaps)),
        jnp.asarray(betas),
        jnp.asarray(state.log_step, dtype=float),
        jnp.asarray(state.sqrt_cov, dtype=float),
        jnp.zeros(()),
        jnp.ones((), bool),
    )
    laplace = _Laplace(jnp.zeros(dim), jnp.eye(dim), jnp.zeros(dim), jnp.zeros(dim))
    problem = _Problem(points, template, laplace, 0)
    densities, path_data, positions = (log_prior, log_likelihood), data, state.positions
    jumps = state.jumps if mode_jumps else None
    if state.reference == "laplace":
        # The ladder runs from a reference: rebuild it from this data set's starts, and start
        # the replicas there too. Replicas carried over from the previous data set may sit in
        # a mode the new reference does not cover; at β < 1 they cannot leave it, and there
        # log p(θ)p(y|θ)/q(θ) is huge: F came out thousands of nats low (scenario (b)).
        problem = _prepare(log_prior, log_likelihood, init, data)
        path, path_data, _ = _reference_path(log_prior, log_likelihood, problem, data)
        densities = (path.base, path.excess)
        positions = _tile(
            problem.points, n_independent, int(betas.size), _start_log_weights(problem)
        )
        cfg = cfg._replace(exact_base=True)
        jumps = _jump_mixture(problem) if mode_jumps else None
    cfg = cfg._replace(mode_jumps=jumps is not None)
    schedule = _schedule(n_warmup, adapt_ladder=False, adapt_metric=False)
    launched = _launch(
        *densities, cfg, key, positions, template, tuning, schedule, laplace, path_data,
        cache=data is not None, jumps=jumps, background=background,
    )  # fmt: skip
    return _Pending(launched, problem, state.reference, jumps, time.perf_counter() - start)


def _jump_rates(jumped: np.ndarray) -> np.ndarray:
    """Accepted fraction of the jumps tried, per temperature (zeros where none was tried)."""
    tried = np.isfinite(jumped)
    counts = tried.sum(axis=(0, 1))
    accepted = np.where(tried, jumped, 0.0).sum(axis=(0, 1))
    return np.where(counts > 0, accepted / np.maximum(counts, 1), 0.0)


def _summarise(
    carry: _Carry,
    trace: _Trace,
    problem: _Problem,
    compile_time: float,
    start: float,
    reference: str,
    jumps: _reference.Reference | None,
) -> EvidenceResult:
    betas = np.asarray(carry.tuning.betas)
    log_lik = np.asarray(trace.log_lik)  # (S, R, L)
    log_z, runs = _stepping_stone(log_lik, betas)
    se = _standard_error(_stepping_stone(_as_batches(log_lik), betas)[1])
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
        log_z_halves=np.array([_stepping_stone(half, betas)[0] for half in halves]),
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
        As in :func:`replica_exchange`.
    n_data : int
        Number of data points n (at least 2).
    n_warmup, n_samples, n_independent, trajectory_length, max_leapfrog, target_accept, data
        As in :func:`replica_exchange`, for the single tempered chain of each run.

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
    screen candidate models, and :func:`replica_exchange` to decide.
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
    schedule = _schedule(n_warmup, adapt_ladder=False, adapt_metric=True)
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
