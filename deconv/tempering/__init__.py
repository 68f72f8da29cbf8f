"""Tempering: the Bayes free energy F = -log Z, Z = ∫ p(y|θ) p(θ) dθ, by replica exchange, and WBIC.

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
failure, e.g. a replica stuck where the density is not finite.
:func:`~deconv.tempering.diagnostics.outlying_runs` flags
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

Diagnostic thresholds (an :class:`~deconv.exceptions.EvidenceWarning` is emitted when any fails):
a swap rate below ``SWAP_RATE_MIN`` = 0.1, a mean HMC acceptance below ``ACCEPT_MIN`` = 0.1 at any
temperature, no round trip β=0 → 1 → 0 of any replica during sampling, a standard error of log Z
above ``SE_MAX`` = 0.3 nat, or log Z differing between the two halves of the sampling phase by
more than ``DRIFT_MAX`` = 6 standard errors (replicas still drifting out of their starts).

Modules
-------
The kernel, pure JAX (state as NamedTuples, as in blackjax and numpyro), and around it the
set-up and the estimators:

* :mod:`~deconv.tempering.states`: what crosses jit (``Config``, ``KernelState``, ``Tuning``...)
  and the densities of one flat vector (``flat_densities``);
* :mod:`~deconv.tempering.kernel`: ``init`` and ``step`` (one sweep), and the fused loop of
  warm-up and sampling compiled once per structure; its docstring runs the kernel on a user's
  own log density;
* :mod:`~deconv.tempering.moves`: HMC, the β = 0 refresh, the jumps, the swaps;
* :mod:`~deconv.tempering.adaptation`: ``adapt`` (ladder, step sizes, preconditioners),
  ``warmup_schedule``, ``initial_tuning``;
* :mod:`~deconv.tempering.setup`: starting points, the Laplace model, the predicted ladder;
* :mod:`~deconv.tempering.paths`: the prior or the reference path, the jump mixture;
* :mod:`~deconv.tempering.estimators`: stepping stone, Bennett, thermodynamic integration,
  ESS, standard errors;
* :mod:`~deconv.tempering.diagnostics` and :mod:`~deconv.tempering.redo`: the checks behind
  :class:`~deconv.exceptions.EvidenceWarning`, outlying runs redone or dropped;
* :mod:`~deconv.tempering.settings`, :mod:`~deconv.tempering.programs`,
  :mod:`~deconv.tempering.summary`, :mod:`~deconv.tempering.launch`: settings checked once,
  programs compiled ahead and cached, the result, and the public entry points
  (:func:`~deconv.tempering.launch.replica_exchange`,
  :func:`~deconv.tempering.launch.launch_replica_exchange`); :mod:`~deconv.tempering.wbic`.

:mod:`deconv.evidence` is the public door to the same functions and results.
"""

from __future__ import annotations

from deconv.tempering.adaptation import adapt, initial_tuning, warmup_schedule
from deconv.tempering.estimators import stepping_stone
from deconv.tempering.kernel import init, step
from deconv.tempering.launch import (
    SAMPLER_SETTINGS,
    check_sampler,
    launch_replica_exchange,
    replica_exchange,
)
from deconv.tempering.results import EvidenceResult, SamplerState, WBICResult
from deconv.tempering.states import (
    Config,
    Densities,
    KernelState,
    LaplaceModel,
    Replicas,
    Schedule,
    StepInfo,
    Tuning,
    Walkers,
    flat_densities,
    flat_laplace,
)
from deconv.tempering.wbic import wbic

__all__ = [
    "SAMPLER_SETTINGS",
    "Config",
    "Densities",
    "EvidenceResult",
    "KernelState",
    "LaplaceModel",
    "Replicas",
    "SamplerState",
    "Schedule",
    "StepInfo",
    "Tuning",
    "WBICResult",
    "Walkers",
    "adapt",
    "check_sampler",
    "flat_densities",
    "flat_laplace",
    "init",
    "initial_tuning",
    "launch_replica_exchange",
    "replica_exchange",
    "step",
    "stepping_stone",
    "warmup_schedule",
    "wbic",
]
