"""Bayes free energy of one model, and model selection over a grid of candidates.

``free_energy`` runs the multi-start MAP, starts every replica of a replica-exchange run from
the best distinct optima and returns F = -log p(y | M) in the user's units with its standard
error; ``select`` does this for every (K, shape, baseline) candidate and ranks them by F.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from numpyro import handlers
from numpyro.infer.util import potential_energy

from deconv import _ahead, _jax, _structured
from deconv import _validation as v
from deconv._selection_store import CandidateStores
from deconv.baselines import BaselineSpec, baseline_label
from deconv.evidence import (
    EvidenceResult,
    WBICResult,
    check_sampler,
    compile_setup_ahead,
    launch_replica_exchange,
    poorly_mixed,
    wbic,
)
from deconv.exceptions import EvidenceWarning
from deconv.inference import (
    Problem,
    _as_key,
    compile_map_ahead,
    inside_support,
    make_problem,
    map_diagnostics,
    multi_start_map,
)
from deconv.model import PeakModel, peak_model, pointwise_log_likelihood
from deconv.priors import Priors
from deconv.results import Fit, build_fit, warn_on_misfit
from deconv.spectrum import Spectrum

__all__ = ["ModelEvidence", "Selection", "evidence_densities", "free_energy", "select"]

INIT_TOLERANCE = 50.0  # nats: optima this close to the best may seed replicas
MAX_INITS = 8
# Multi-start MAP starts before a free energy. Surplus peaks (K above the truth) have many
# arrangements; with 24 starts the optima a key found decided which of them the replicas saw
# (Nagata K = 4 / 5 seed-to-seed sd 0.076 / 0.162 nat; 96 starts: 0.039 / 0.126; 192: 0.049 /
# 0.069; 384: 0.057 / 0.029, for ~1.5 s more per model; docs/benchmarks.md).
EVIDENCE_STARTS = 384


def evidence_densities(problem: Problem):
    """``(log_prior, log_likelihood)`` of unconstrained parameters, for tempered samplers.

    ``log_prior`` is the prior density of the unconstrained parameters (Jacobian included, the
    order-statistics density for the centres); ``log_likelihood`` is log p(y | theta) in the
    user's units, so that log Z is the evidence of the data as given.
    """
    hidden = handlers.block(peak_model, hide=["v"])
    args, kwargs = (problem.u, problem.v), problem.kwargs

    def log_prior(z):
        return -potential_energy(hidden, args, kwargs, z)

    def log_likelihood(z):
        params = problem.constrain(z)
        return jnp.sum(
            pointwise_log_likelihood(
                params,
                problem.u,
                problem.v,
                problem.model,
                problem.scaling,
                problem.sigma_points,
            )
        )

    return log_prior, log_likelihood


def _densities(problem: Problem) -> tuple[Any, Any, Any]:
    """Densities with the data as an argument where the model allows (one compilation per
    model structure), else closures over the data (``data`` None)."""
    if _structured.supports(problem.model):
        structure, data = problem.structured
        return (*_structured.evidence_densities(structure), data)
    return (*evidence_densities(problem), None)


def warm_sampler(sampler: Mapping[str, Any] | None, n_warmup: int) -> dict[str, Any]:
    """Replica-exchange settings for a run warm-started from a neighbour's state: the short
    step-size warm-up, and no ladder settings (the ladder comes from the state)."""
    return {**dict(sampler or {}), "n_warmup": n_warmup, "n_temperatures": None, "betas": None}


def warm_run_failed(previous: EvidenceResult | None, warm: EvidenceResult | None) -> bool:
    """Whether ``warm``, started from ``previous``'s state, must be redone cold: it failed a
    mixing check (:func:`deconv.evidence.poorly_mixed`) that ``previous`` passed. ``None`` for
    either (a cold run, or a failed one) is never a failed warm start."""
    if previous is None or warm is None:
        return False
    return poorly_mixed(warm) and not poorly_mixed(previous)


def warm_or_cold(
    run: Callable[[Mapping[str, Any] | None, Any], ModelEvidence],
    sampler: Mapping[str, Any] | None,
    warm_warmup: int,
    previous: EvidenceResult | None,
) -> tuple[ModelEvidence, bool]:
    """``run(settings, warm_start)`` warm-started from ``previous``, redone cold if need be.

    A warm start keeps the previous data set's replicas, ladder, step sizes and metric, with a
    short step-size warm-up of ``warm_warmup`` sweeps. When they do not fit this posterior (a
    neighbour unlike this one), the replicas stop travelling the ladder and log Z can be tens
    of nats off (measured: 45 nat on a K = 3 fit of ``datasets.unknown_background``). So a warm
    run that fails a mixing check (:func:`deconv.evidence.poorly_mixed`) where ``previous``
    passed them is discarded, with its warnings, and redone cold with ``sampler``'s full
    warm-up. Returns the evidence and whether it was redone; ``previous=None`` runs cold.
    """
    if previous is None:
        return run(sampler, None), False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evidence = run(warm_sampler(sampler, warm_warmup), previous.state)
    if warm_run_failed(previous, evidence.evidence):
        return run(sampler, None), True
    v.warn_again(caught)
    return evidence, False


def _inits(problem: Problem, optima: list[dict], table: pd.DataFrame) -> dict:
    """The replicas' starting points: the best distinct optima (within ``INIT_TOLERANCE``
    nats, at most ``MAX_INITS``), unconstrained and moved inside the support where they sit
    on its bounds (:func:`deconv.inference.inside_support`)."""
    gaps = table["neg_log_posterior"].to_numpy() - table["neg_log_posterior"].iloc[0]
    chosen = [o for o, gap in zip(optima, gaps, strict=True) if gap <= INIT_TOLERANCE]
    chosen = chosen[:MAX_INITS]
    z = inside_support(problem, {k: np.stack([o[k] for o in chosen]) for k in chosen[0]})
    return {k: jnp.asarray(a) for k, a in z.items()}


@dataclass(frozen=True, eq=False)
class ModelEvidence:
    """The free energy of one candidate model with its diagnostics and posterior.

    Attributes
    ----------
    model : PeakModel
        The candidate.
    free_energy, free_energy_se : float
        F = -log p(y | M) in nats, for the data in the user's units, and its standard error.
    wbic : float
        WBIC screen of F (NaN when not computed).
    evidence : EvidenceResult
        The replica-exchange result (ladder, swap rates, round trips, evaluation counts, and
        ``n_runs_redone`` / ``n_runs_dropped``: independent runs with an outlying log Z).
    fit : Fit
        Posterior from the beta = 1 replicas (one chain per independent run).
    optima : pandas.DataFrame
        Distinct MAP optima that seeded the replicas.
    """

    model: PeakModel
    free_energy: float
    free_energy_se: float
    wbic: float
    evidence: EvidenceResult
    fit: Fit
    optima: pd.DataFrame
    wbic_result: WBICResult | None = field(default=None, repr=False)


def free_energy(
    spectrum: Spectrum,
    n_peaks: int,
    *,
    shape: str = "pseudo_voigt",
    baseline: BaselineSpec = "linear",
    noise: str = "normal",
    priors: Priors | str | None = None,
    sigma: float | str | None = None,
    smallest_peak: float | None = None,
    key: int | jax.Array = 0,
    n_starts: int = EVIDENCE_STARTS,
    compute_wbic: bool = True,
    ordered: bool = True,
    sampler: Mapping[str, Any] | None = None,
    warm_start: Any = None,
) -> ModelEvidence:
    """Bayes free energy F = -log p(y | M) of one model, with a standard error.

    Parameters
    ----------
    spectrum, n_peaks, shape, baseline, noise, priors, sigma, smallest_peak
        The model, as in :func:`deconv.fit`.
    key : int or jax PRNG key
        Seed.
    n_starts : int
        Multi-start MAP starts (default 384); the best distinct optima seed the replicas and
        the jumps between optima, so a model with surplus peaks needs many to find the
        arrangements of those peaks that carry its evidence.
    compute_wbic : bool
        Also compute WBIC, a cheap screen of F shown beside it.
    ordered : bool
        Order the centres (default); see :class:`deconv.model.PeakModel`.
    sampler : mapping, optional
        Settings passed to :func:`deconv.evidence.replica_exchange` (``n_warmup``,
        ``n_samples``, ``n_independent``, ``n_temperatures``...; the names are those of
        :data:`deconv.evidence.SAMPLER_SETTINGS`). They are checked before any fitting.
    warm_start : EvidenceResult or SamplerState, optional
        Start the replicas where the run of a similar spectrum (the neighbour in a series)
        ended, keeping its ladder and preconditioners (see
        :func:`deconv.evidence.replica_exchange`); ``sampler["n_warmup"]`` is then the short
        step-size warm-up (50-100 sweeps).

    Returns
    -------
    ModelEvidence

    Raises
    ------
    TypeError, ValueError
        A bad argument (e.g. ``n_starts=0``, or a ``sampler`` setting that
        :func:`deconv.evidence.replica_exchange` does not have), before any fitting.
    ValueError
        No MAP optimum gives the replicas a start of finite density, even moved inside the
        support (:func:`deconv.inference.inside_support`); the message names the spectrum.
    """
    key = _as_key(key)
    n_starts = v.check_positive_int("n_starts", n_starts)
    sampler = check_sampler(sampler, warm=warm_start is not None)
    problem = make_problem(
        spectrum,
        n_peaks,
        shape=shape,
        baseline=baseline,
        noise=noise,
        priors=priors,
        sigma=sigma,
        smallest_peak=smallest_peak,
        ordered=ordered,
    )
    return model_free_energy(
        problem,
        key=key,
        n_starts=n_starts,
        compute_wbic=compute_wbic,
        sampler=sampler,
        warm_start=warm_start,
    )


def model_free_energy(
    problem: Problem,
    *,
    key: jax.Array,
    n_starts: int = EVIDENCE_STARTS,
    compute_wbic: bool = True,
    sampler: Mapping[str, Any] | None = None,
    warm_start: Any = None,
) -> ModelEvidence:
    """:func:`free_energy` for an already built :class:`~deconv.inference.Problem`."""
    key = _as_key(key)
    n_starts = v.check_positive_int("n_starts", n_starts)
    sampler = check_sampler(sampler, warm=warm_start is not None)
    return _begin_free_energy(
        problem, key=key, n_starts=n_starts, compute_wbic=compute_wbic, sampler=sampler,
        warm_start=warm_start, background=None,
    ).result()  # fmt: skip


class _PendingEvidence(NamedTuple):
    """A model's MAP fits done and its sampler launched; ``result()`` finishes the work."""

    problem: Problem
    table: pd.DataFrame
    init: dict
    run: Any  # deconv.evidence launch: .result() -> EvidenceResult
    wbic_key: jax.Array | None  # None: no WBIC
    ppc_key: jax.Array
    setup_s: float
    map_trust: dict[str, Any]  # inference.map_diagnostics of the MAP fits

    def result(self) -> ModelEvidence:
        started = time.perf_counter() - self.setup_s
        # the sampler's warnings would point at this line: re-emit them at the user's
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = self.run.result()
        v.warn_again(caught)
        problem = self.problem
        wbic_result = None
        if self.wbic_key is not None:
            log_prior, log_likelihood, data = _densities(problem)
            wbic_result = wbic(
                log_prior, log_likelihood, self.init, n_data=problem.spectrum.n_points,
                key=self.wbic_key, data=data,
            )  # fmt: skip
        n_runs = int(np.asarray(result.log_z_runs).size)
        constrained = problem.constrain_all(result.samples)
        by_chain = {
            k: np.reshape(a, (n_runs, -1, *np.shape(a)[1:])) for k, a in constrained.items()
        }
        fit = build_fit(
            problem,
            "replica_exchange",
            by_chain,
            None,
            self.table,
            key=self.ppc_key,
            wall_time=time.perf_counter() - started,
        )
        fit.diagnostics.update(
            self.map_trust, n_runs_redone=result.n_runs_redone,
            n_runs_dropped=result.n_runs_dropped,
        )  # fmt: skip
        return ModelEvidence(
            model=problem.model,
            free_energy=float(result.free_energy),
            free_energy_se=float(result.free_energy_se),
            wbic=float(wbic_result.wbic) if wbic_result is not None else float("nan"),
            evidence=result,
            fit=fit,
            optima=self.table,
            wbic_result=wbic_result,
        )


def _begin_free_energy(
    problem: Problem,
    *,
    key: jax.Array,
    n_starts: int,
    compute_wbic: bool,
    sampler: Mapping[str, Any] | None,
    warm_start: Any,
    background: _ahead.Background | None,
) -> _PendingEvidence:
    """The MAP fits and the replica-exchange set-up of one model; its sampler compiles on
    ``background``'s threads (if given) while the caller goes on."""
    _jax.make_room_for_programs()
    started = time.perf_counter()
    map_key, re_key, wbic_key, ppc_key = jax.random.split(key, 4)
    seed = int(jax.random.randint(map_key, (), 0, 2**31 - 1))
    optima, table = multi_start_map(problem, n_starts=n_starts, seed=seed)
    init = _inits(problem, optima, table)
    log_prior, log_likelihood, data = _densities(problem)
    try:
        run = launch_replica_exchange(
            log_prior, log_likelihood, init, background=background, key=re_key, data=data,
            warm_start=warm_start, **dict(sampler or {}),
        )  # fmt: skip
    except ValueError as error:  # e.g. no start of finite density: name the spectrum
        name, label = problem.spectrum.name, problem.model.label
        raise ValueError(f"spectrum {name!r}, model {label}: {error}") from error
    setup_s = time.perf_counter() - started
    return _PendingEvidence(
        problem, table, init, run, wbic_key if compute_wbic else None, ppc_key, setup_s,
        map_diagnostics(optima, table),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# selection over a grid


def _candidates(n_peaks, shapes, baselines) -> list[tuple[int, str, BaselineSpec]]:
    if isinstance(n_peaks, int | np.integer):
        n_peaks = [int(n_peaks)]
    ks = [v.check_positive_int("n_peaks", k) for k in n_peaks]
    if not ks:
        v.fail("n_peaks", "hold at least one peak count", list(n_peaks))
    shapes = [shapes] if isinstance(shapes, str) else list(shapes)
    baselines = (
        [baselines]
        if not isinstance(baselines, Iterable) or isinstance(baselines, str)
        else list(baselines)
    )
    if not shapes or not baselines:
        v.fail("shapes/baselines", "hold at least one choice each", (shapes, baselines))
    return list(itertools.product(ks, shapes, baselines))


def _label(k: int, shape: str, baseline: BaselineSpec) -> str:
    return f"K={k} {shape} + {baseline_label(baseline)}"


def _log_model_prior(labels: list[str], model_prior: Mapping[str, float] | None) -> np.ndarray:
    if model_prior is None:
        return np.zeros(len(labels))
    unknown = sorted(set(model_prior) - set(labels))
    if unknown:
        v.fail("model_prior", f"name candidate models {labels}", unknown)
    weights = np.array([float(model_prior.get(label, 0.0)) for label in labels])
    if np.any(weights < 0) or not np.any(weights > 0):
        v.fail("model_prior", "hold non-negative weights, at least one positive", weights)
    with np.errstate(divide="ignore"):
        return np.log(weights)


def model_probabilities(free_energies: Sequence[float], log_prior: Sequence[float]) -> np.ndarray:
    """Posterior model probabilities, proportional to ``exp(-F) * prior`` (log-sum-exp safe)."""
    log_post = -np.asarray(free_energies, dtype=float) + np.asarray(log_prior, dtype=float)
    log_post -= np.max(log_post)
    weights = np.exp(log_post)
    return weights / weights.sum()


@dataclass(frozen=True, eq=False)
class Selection:
    """Candidate models ranked by free energy.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate, best first: ``model``, ``n_peaks``, ``shape``, ``baseline``,
        ``F`` and ``F_se`` (nats), ``delta_F`` (to the best), ``probability`` (posterior model
        probability, proportional to exp(-F) times the model prior), ``WBIC``, the smallest
        swap rate, the round trips and the wall time.
    results : dict
        :class:`ModelEvidence` per model label.
    note : str
        Set when F is still falling at the largest K tried (also an ``EvidenceWarning``).
    """

    table: pd.DataFrame
    results: dict[str, ModelEvidence]
    spectrum: Spectrum
    note: str = ""

    @property
    def best(self) -> ModelEvidence:
        """The candidate with the lowest F."""
        return self.results[self.table["model"].iloc[0]]

    @property
    def best_fit(self) -> Fit:
        """Posterior fit of the best candidate."""
        return self.best.fit

    @property
    def fits(self) -> dict[str, Fit]:
        """Posterior fit of every candidate, by model label."""
        return {label: result.fit for label, result in self.results.items()}

    def plot(self, axes: Any = None) -> np.ndarray:
        """F against K per shape and baseline with error bars, and the best fit."""
        from deconv.plotting import plot_selection

        return plot_selection(self, axes=axes)

    def plot_probabilities(self, ax: Any = None) -> Any:
        """Posterior model probabilities of the candidates as bars."""
        from deconv.plotting import plot_probabilities

        return plot_probabilities(self.table, ax=ax)

    def _repr_html_(self) -> str:
        import html

        best = self.table.iloc[0]
        name = html.escape(str(self.spectrum.name or "spectrum"))
        heading = (
            f"<h4>Model selection for {name}: best {html.escape(str(best['model']))}, "
            f"F = {best['F']:.2f} &plusmn; {best['F_se']:.2f} nat</h4>"
        )
        return heading + self.table.to_html(index=False, float_format=lambda f: f"{f:.4g}")

    def __repr__(self) -> str:
        best = self.table.iloc[0]
        return (
            f"Selection({len(self.table)} candidates, best {best['model']!r}, "
            f"F = {best['F']:.2f} +- {best['F_se']:.2f})"
        )


def _compile_ahead(problem: Problem, compiler: concurrent.futures.Executor, n_starts: int) -> None:
    """Trace the MAP optimisers and the Laplace set-up of ``problem`` here and compile them
    on ``compiler``, for :func:`_begin_free_energy` to find them ready."""
    template = compile_map_ahead(problem, compiler, n_starts=n_starts)
    if template is not None:
        log_prior, log_likelihood, data = _densities(problem)
        compile_setup_ahead(log_prior, log_likelihood, template, data, compiler, MAX_INITS)


def _table_row(result: ModelEvidence, wall_s: float) -> dict[str, Any]:
    model = result.model
    return {
        "model": model.label,
        "n_peaks": model.n_peaks,
        "shape": model.shape,
        "baseline": baseline_label(model.baseline),
        "F": result.free_energy,
        "F_se": result.free_energy_se,
        "WBIC": result.wbic,
        "swap_rate_min": float(np.min(result.evidence.swap_rates)),
        "round_trips": result.evidence.round_trips,
        "misfit": bool(result.fit.misfit.misfit),
        "wall_s": round(wall_s, 2),
    }


def _still_falling(table: pd.DataFrame) -> str | None:
    """A note when the best candidate has the largest K of its shape and baseline tried."""
    best = table.iloc[0]
    same = table[(table["shape"] == best["shape"]) & (table["baseline"] == best["baseline"])]
    if len(same) < 2 or best["n_peaks"] < same["n_peaks"].max():
        return None
    misfit = " and its residuals are structured (misfit)" if best.get("misfit") else ""
    return (
        f"F is still falling at the largest K tried ({best['model']}){misfit}: try larger K, "
        "or, if the misfit check fires, a more flexible baseline, another line shape or a "
        "narrower region (user guide, 'When no candidate fits')"
    )


def _run_candidates(problems, keys, todo, settings, n_starts, stores, results, rows, bar):
    """The free energies of candidates ``todo``, one model ahead: while this thread traces and
    fits a model's MAP optima, the previous model's sampler runs on one background thread and
    the next model's programs compile on the other. Each model keeps its own key, so the
    results are those of one model after the other; each is stored as it finishes."""
    if not todo:
        return
    with _ahead.Background() as background:
        _compile_ahead(problems[todo[0]], background.compiler, n_starts)
        pending = None
        for position in range(len(todo) + 1):
            following = None
            if position < len(todo):
                i = todo[position]
                if position + 1 < len(todo):
                    _compile_ahead(problems[todo[position + 1]], background.compiler, n_starts)
                following = (i, _begin_free_energy(
                    problems[i], key=keys[i], warm_start=None, background=background, **settings
                ))  # fmt: skip
            if pending is not None:
                index, running = pending
                finishing = time.perf_counter()
                result = running.result()
                results[result.model.label] = result
                rows[index] = _table_row(result, running.setup_s + time.perf_counter() - finishing)
                stores.save(index, result, rows[index])
                bar.update()
            pending = following


def select(
    spectrum: Spectrum,
    n_peaks: int | Sequence[int] = range(1, 7),
    *,
    shapes: str | Sequence[str] = ("pseudo_voigt",),
    baselines: BaselineSpec | Sequence[BaselineSpec] = ("linear",),
    noise: str = "normal",
    priors: Priors | str | None = None,
    sigma: float | str | None = None,
    smallest_peak: float | None = None,
    model_prior: Mapping[str, float] | None = None,
    key: int | jax.Array = 0,
    n_starts: int = EVIDENCE_STARTS,
    compute_wbic: bool = True,
    sampler: Mapping[str, Any] | None = None,
    progress: bool = True,
    out: str | Path | None = None,
    force: bool = False,
) -> Selection:
    """Rank candidate models (K x shape x baseline) by Bayes free energy.

    Parameters
    ----------
    spectrum : Spectrum
        The data.
    n_peaks : int or sequence of int
        Peak counts to compare (default 1..6).
    shapes, baselines : str or sequence
        Line shapes and baselines to compare.
    noise, priors, sigma, smallest_peak
        Shared by every candidate, as in :func:`deconv.fit`.
    model_prior : mapping of model label to prior probability, optional
        Prior over candidates (unnormalised); uniform by default.
    key : int or jax PRNG key
        Seed; every candidate gets its own key derived from it.
    n_starts, compute_wbic, sampler
        As in :func:`free_energy`.
    progress : bool
        Show a progress bar over candidates.
    out : str or os.PathLike, optional
        A result folder (:class:`deconv.store.ResultStore`) that keeps every candidate as it
        finishes. A rerun of the same selection after an interruption reads back the
        candidates whose stored result belongs to it (settings, the candidate's key and the
        data fingerprints) and computes only the others, with the keys they would have had:
        the table equals an uninterrupted run's. Candidates read back have ``evidence=None``
        (the sampler's diagnostics stay in the table and the stored row).
    force : bool
        Recompute candidates already in ``out``.

    Returns
    -------
    Selection

    Raises
    ------
    TypeError, ValueError
        A bad argument, before any fitting (as in :func:`free_energy`).
    """
    from tqdm.auto import tqdm

    key = _as_key(key)
    n_starts = v.check_positive_int("n_starts", n_starts)
    sampler = check_sampler(sampler)
    candidates = _candidates(n_peaks, shapes, baselines)
    log_prior = _log_model_prior([_label(*c) for c in candidates], model_prior)
    keys = jax.random.split(key, len(candidates))
    shared = {"noise": noise, "priors": priors, "sigma": sigma, "smallest_peak": smallest_peak}
    problems = [
        make_problem(spectrum, k, shape=shape, baseline=baseline, **shared)
        for k, shape, baseline in candidates
    ]
    settings = {"n_starts": n_starts, "compute_wbic": compute_wbic, "sampler": sampler}
    stores = CandidateStores(out, problems, keys, {**shared, **settings})
    results: dict[str, ModelEvidence] = {}
    rows: dict[int, dict[str, Any]] = {}
    bar = tqdm(total=len(candidates), desc="free energies", disable=not progress)
    with bar, stores.writing(force=force):
        todo = []
        for i, problem in enumerate(problems):
            stored = None if force else stores.stored(i, problem.model)
            if stored is None:
                todo.append(i)
                continue
            results[problem.model.label], rows[i] = stored
            bar.update()
        _run_candidates(problems, keys, todo, settings, n_starts, stores, results, rows, bar)
    table = pd.DataFrame([rows[i] for i in range(len(problems))])
    table["probability"] = model_probabilities(table["F"].to_numpy(), log_prior)
    table = table.sort_values("F", kind="stable").reset_index(drop=True)
    table.insert(table.columns.get_loc("F_se") + 1, "delta_F", table["F"] - table["F"].iloc[0])
    note = _still_falling(table)
    if note is not None:
        warnings.warn(note, EvidenceWarning, stacklevel=v.caller_stacklevel())
    selection = Selection(table=table, results=results, spectrum=spectrum, note=note or "")
    warn_on_misfit(selection.best_fit)
    return selection
