"""The public entry points of replica exchange: cold and warm-started runs, launched ahead or run
at once."""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from deconv import _ahead, _reference
from deconv import _validation as _v
from deconv.tempering.adaptation import _cold_tuning_jit, _initial_log_step, warmup_schedule
from deconv.tempering.diagnostics import _anchor, _warn
from deconv.tempering.paths import _choose_path, _jump_mixture, _reference_path
from deconv.tempering.programs import _launch, _Launched, _run_launched
from deconv.tempering.redo import _redo_outlying_runs
from deconv.tempering.results import EvidenceResult, SamplerState
from deconv.tempering.settings import _checked_settings, _config
from deconv.tempering.setup import (
    _auto_ladder,
    _check_betas,
    _init_points,
    _prepare,
    _Problem,
    _start_log_weights,
    _tile,
)
from deconv.tempering.states import Array, LogDensity, PyTree, Tuning, flat_laplace
from deconv.tempering.summary import _summarise


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
        shapes (and the same settings) reuses the compiled sampler (see
        :func:`~deconv.tempering.programs.compile_count`).
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


def check_sampler(sampler: Any, *, warm: bool = False, name: str = "sampler") -> dict[str, Any]:
    """Check a ``sampler`` mapping of :func:`replica_exchange` settings before any work.

    Parameters
    ----------
    sampler : mapping or None
        Settings among :data:`SAMPLER_SETTINGS` (``None``: the defaults).
    warm : bool
        The settings are for a warm-started run (``warm_start`` given): no ``betas`` or
        ``n_temperatures``, and a warm-up of 1 sweep or more (else
        :data:`~deconv.tempering.settings.MIN_WARMUP`).
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
    schedule = warmup_schedule(n_warmup, adapt_ladder=bool(adapt_ladder), adapt_metric=True)
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
    tuning = Tuning(
        jnp.asarray(np.log(gaps)),
        jnp.asarray(betas),
        jnp.asarray(state.log_step, dtype=float),
        jnp.asarray(state.sqrt_cov, dtype=float),
        jnp.zeros(()),
        jnp.ones((), bool),
    )
    laplace = flat_laplace(dim)
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
    schedule = warmup_schedule(n_warmup, adapt_ladder=False, adapt_metric=False)
    launched = _launch(
        *densities, cfg, key, positions, template, tuning, schedule, laplace, path_data,
        cache=data is not None, jumps=jumps, background=background,
    )  # fmt: skip
    return _Pending(launched, problem, state.reference, jumps, time.perf_counter() - start)
