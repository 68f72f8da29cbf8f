"""One chunk of spectra, wherever it runs: the vectorised MAP, the NUTS loop, or warm-started free
energies."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from deconv import _jax
from deconv.batch.outcomes import (
    TRUST_COLUMNS,
    _failure,
    _MapArrays,
    _misfit_of,
    _Outcome,
    _reason,
    _reproducible,
    _row,
)
from deconv.batch.settings import _Settings
from deconv.batch.vectorised_map import _solver, _Structure
from deconv.inference import Problem, fit, make_problem
from deconv.misfit import misfit_check
from deconv.model import (
    to_user_units,
)
from deconv.spectrum import Spectrum
from deconv.starts import initial_guesses


@dataclass(frozen=True)
class _Task:
    """A chunk of spectra for one worker; ``lanes`` is the padded vmap width."""

    settings: _Settings
    spectra: tuple[Spectrum, ...]
    seeds: tuple[int, ...]
    lanes: int
    progress: Callable[[int], Any] | None = None  # per-spectrum callback (local runs only)

    def advance(self) -> None:
        if self.progress is not None:
            self.progress(1)


@dataclass
class _Lane:
    """One spectrum ready for the vectorised optimiser (internal units)."""

    spectrum: Spectrum
    problem: Problem
    seed: int
    structure: _Structure
    starts: dict[str, np.ndarray]
    leaves: list[np.ndarray]
    sigma_points: np.ndarray


def _prepare(settings: _Settings, spectrum: Spectrum, seed: int) -> _Lane:
    """Problem, starts and internal-unit priors (as arrays) of one spectrum."""
    problem = make_problem(spectrum, settings.n_peaks, **settings.fit_options())
    model, scaling = problem.model, problem.scaling
    split, data = problem.structured
    u, v_obs = np.asarray(problem.u), np.asarray(problem.v)
    starts = initial_guesses(u, v_obs, model, scaling, n_starts=settings.n_starts, seed=seed)
    if split.point_sigma:
        starts = [{k: a for k, a in start.items() if k != "sigma"} for start in starts]
    structure = _Structure(
        n_peaks=split.n_peaks,
        shape=split.shape,
        baseline=split.baseline,
        width_kind=split.width_kind,
        amplitude_kind=split.amplitude_kind,
        treedef=split.treedef,
        point_sigma=split.point_sigma,
        n_iter=settings.n_iter,
        leaf_order=split.leaf_order,
    )
    return _Lane(
        spectrum=spectrum,
        problem=problem,
        seed=seed,
        structure=structure,
        starts={k: np.stack([np.asarray(s[k], float) for s in starts]) for k in starts[0]},
        leaves=[np.asarray(leaf, dtype=float) for leaf in data["leaves"]],
        sigma_points=np.asarray(data["sigma_points"]),
    )


def _solve_lanes(lanes: Sequence[_Lane], width: int) -> list[dict[str, Any]]:
    """Run the compiled optimiser on ``lanes``, padded to ``width`` with copies of the last."""
    padded = list(lanes) + [lanes[-1]] * (width - len(lanes))
    starts = {k: np.stack([lane.starts[k] for lane in padded]) for k in padded[0].starts}
    u = np.stack([np.asarray(lane.problem.u) for lane in padded])
    v_obs = np.stack([np.asarray(lane.problem.v) for lane in padded])
    points = np.stack([lane.sigma_points for lane in padded])
    leaves = [np.stack(column) for column in zip(*(lane.leaves for lane in padded), strict=True)]
    out = jax.device_get(_solver(lanes[0].structure)(starts, u, v_obs, points, leaves))
    return [jax.tree_util.tree_map(lambda a, i=i: np.asarray(a[i]), out) for i in range(len(lanes))]


def _map_outcome(settings: _Settings, lane: _Lane, result: dict[str, Any]) -> _Outcome:
    """Summary row and posterior arrays of one solved lane, in user units."""
    sample_id = lane.spectrum.name
    values = result["values"]
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return _failure(settings, sample_id, "non-finite objective at every start")
    problem, scaling = lane.problem, lane.problem.scaling
    best = float(finite.min())
    internal = {k: np.asarray(a) for k, a in result["params"].items()}
    user = to_user_units({k: a[None, None] for k, a in internal.items()}, problem.model, scaling)
    noise = np.random.default_rng(lane.seed).standard_normal(lane.spectrum.n_points)
    arrays = _MapArrays(
        x=lane.spectrum.x,
        y=lane.spectrum.y,
        n_peaks=settings.n_peaks,
        user=user,
        log_likelihood=result["pointwise"] - np.log(scaling.ys),
        predictive=scaling.ys * (result["mean"] + result["scale"] * noise),
    )
    row = _row(
        settings,
        sample_id,
        "done",
        objective=best + lane.spectrum.n_points * math.log(scaling.ys),
        user=user,
        extra={
            "starts_at_best": int(np.sum(finite <= best + 1e-3)),
            "converged": bool(result["converged"]),
            **_misfit_of(_map_misfit(settings, lane, result)),
        },
    )
    return _Outcome(sample_id, row, internal=internal, arrays=arrays)


def _map_misfit(settings: _Settings, lane: _Lane, result: dict[str, Any]) -> dict[str, Any]:
    """The residual check of a vectorised MAP fit, from its curves (no Fit is built)."""
    residuals = (np.asarray(lane.problem.v) - result["mean"]) / result["scale"]
    return misfit_check(residuals, sigma_known=settings.sigma is not None).as_dict()


def _solve_alone(lane: _Lane, width: int) -> dict[str, Any] | Exception:
    try:
        return _solve_lanes([lane], width)[0]
    except Exception as error:  # recorded as this spectrum's failure
        return error


def _solve_group(settings: _Settings, lanes: list[_Lane], width: int) -> list[_Outcome]:
    """Solve lanes together; if that raises, one by one, so a failure hits only its spectrum."""
    try:
        results: list[Any] = _solve_lanes(lanes, width)
    except Exception:
        results = [_solve_alone(lane, width) for lane in lanes]
    outcomes = []
    for lane, result in zip(lanes, results, strict=True):
        try:
            if isinstance(result, Exception):
                raise result
            outcomes.append(_map_outcome(settings, lane, result))
        except Exception as error:
            outcomes.append(_failure(settings, lane.spectrum.name, error))
    return outcomes


def _map_chunk(task: _Task) -> list[_Outcome]:
    outcomes: dict[str, _Outcome] = {}
    groups: dict[tuple, list[_Lane]] = {}
    for spectrum, seed in zip(task.spectra, task.seeds, strict=True):
        try:
            lane = _prepare(task.settings, spectrum, seed)
        except Exception as error:
            outcomes[spectrum.name] = _failure(task.settings, spectrum.name, error)
            continue
        groups.setdefault((lane.structure, spectrum.n_points), []).append(lane)
    for lanes in groups.values():
        for outcome in _solve_group(task.settings, lanes, task.lanes):
            outcomes[outcome.sample_id] = outcome
    return [outcomes[spectrum.name] for spectrum in task.spectra]


def _loop_one(settings: _Settings, spectrum: Spectrum, seed: int) -> _Outcome:
    """One spectrum through :func:`deconv.fit` (NUTS, Student-t noise, custom baselines)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the diagnostics go to the summary row instead
            result = fit(
                spectrum,
                settings.n_peaks,
                method=settings.method,
                key=seed,
                n_starts=settings.n_starts,
                **settings.fit_options(),
                **dict(settings.nuts),
            )
    except Exception as error:
        return _failure(settings, spectrum.name, error)
    posterior = {name: np.asarray(result.idata.posterior[name]) for name in result.idata.posterior}
    diagnostics = result.diagnostics
    extra = {
        "starts_at_best": int(result.optima["n_starts"].iloc[0]),
        "r_hat_max": diagnostics.get("r_hat_max", math.nan),
        "ess_bulk_min": diagnostics.get("ess_bulk_min", math.nan),
        "divergences": diagnostics.get("divergences", math.nan),
        **_misfit_of(diagnostics),
    }
    objective = float(result.optima["neg_log_posterior"].iloc[0])
    row = _row(settings, spectrum.name, "done", objective=objective, user=posterior, extra=extra)
    internal = None
    if settings.method == "map":
        internal = {k: np.asarray(a)[0, 0] for k, a in result.samples_internal.items()}
    return _Outcome(spectrum.name, row, _reproducible(result.idata), internal, fit=result)


def _evidence_one(
    settings: _Settings, spectrum: Spectrum, seed: int, sampler: dict, state: Any
) -> tuple[_Outcome, Any]:
    """Free energy of one spectrum (warm-started from ``state`` if given); (outcome, result)."""
    from deconv.inference import _as_key
    from deconv.selection import model_free_energy

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            problem = make_problem(spectrum, settings.n_peaks, **settings.fit_options())
            result = model_free_energy(
                problem,
                key=_as_key(seed),
                n_starts=settings.n_starts,
                compute_wbic=False,
                sampler=sampler,
                warm_start=state,
            )
    except Exception as error:
        return _failure(settings, spectrum.name, error), None
    fit_result, evidence = result.fit, result.evidence
    posterior = {k: np.asarray(a) for k, a in fit_result.idata.posterior.items()}
    diagnostics = fit_result.diagnostics
    swaps = np.asarray(evidence.swap_rates)
    extra = {
        "free_energy": result.free_energy,
        "free_energy_se": result.free_energy_se,
        "n_gradient_evals": evidence.n_gradient_evals,
        "warm_started": state is not None,
        "restarted_cold": False,
        "n_temperatures": int(evidence.betas.size),
        "swap_rate_min": float(swaps.min()) if swaps.size else math.nan,
        "round_trips": evidence.round_trips,
        "r_hat_max": diagnostics.get("r_hat_max", math.nan),
        "ess_bulk_min": diagnostics.get("ess_bulk_min", math.nan),
        **{name: diagnostics[name] for name in TRUST_COLUMNS},
        "warning": " | ".join(sorted({_reason(str(w.message)) for w in caught})),
        **_misfit_of(diagnostics),
    }
    objective = float(result.optima["neg_log_posterior"].iloc[0])
    row = _row(settings, spectrum.name, "done", objective=objective, user=posterior, extra=extra)
    outcome = _Outcome(spectrum.name, row, _reproducible(fit_result.idata), fit=fit_result)
    return outcome, result


def _evidence_chunk(task: _Task) -> list[_Outcome]:
    """Free energies of a chunk in order, each warm-started from the previous spectrum's run.

    Without warm starts, every spectrum after the first uses the first one's number of
    temperatures and path (prior or reference), so that one compiled sampler serves the chunk.
    """
    from deconv.selection import warm_run_failed, warm_sampler

    options = dict(task.settings.evidence)
    sampler = dict(options["sampler"])
    previous, outcomes = None, []
    for spectrum, seed in zip(task.spectra, task.seeds, strict=True):
        state = None if previous is None else previous.state
        settings = sampler if state is None else warm_sampler(sampler, options["warm_warmup"])
        outcome, result = _evidence_one(task.settings, spectrum, seed, settings, state)
        if warm_run_failed(previous, None if result is None else result.evidence):
            outcome, result = _evidence_one(task.settings, spectrum, seed, sampler, None)
            outcome.row["restarted_cold"] = True
        outcomes.append(outcome)
        task.advance()
        if result is None:
            continue
        if options["warm_start"]:
            previous = result.evidence
        elif "n_temperatures" not in sampler and "betas" not in sampler:
            sampler["n_temperatures"] = int(result.evidence.betas.size)
            if sampler.get("reference", "auto") == "auto":  # the size belongs to this path
                sampler["reference"] = result.evidence.reference
    return outcomes


def _run_chunk(task: _Task) -> list[_Outcome]:
    """Fit one chunk; module-level so that executors can pickle it."""
    if task.settings.method == "evidence":
        return _evidence_chunk(task)
    if task.settings.vectorised:  # the other routes make room in fit / the free energy
        _jax.make_room_for_programs()
        return _map_chunk(task)
    outcomes = []
    for spectrum, seed in zip(task.spectra, task.seeds, strict=True):
        outcomes.append(_loop_one(task.settings, spectrum, seed))
        task.advance()
    return outcomes
