"""Many spectra under one model: a vectorised MAP, or a NUTS loop, locally or on an executor.

MAP (``method="map"``)
    One optimiser is compiled per model structure and ``jax.vmap``-ed over a chunk of spectra
    (and over a few data-driven starts per spectrum). It runs Levenberg-Marquardt steps until
    each start has converged (``jax.lax.while_loop``; a lane that is done is frozen while the
    others go on, so a spectrum's result does not depend on its chunk) on the negative log
    posterior of each spectrum in unconstrained
    coordinates -- the objective :func:`deconv.fit` minimises with ``method="map"``. The
    curvature is Gauss-Newton on the whitened residuals ``(y - mean) / sigma`` (one forward-mode
    Jacobian of the mean curve) plus the exact Hessian of the prior, with the noise-scale block
    made exact at the optimum: positive semi-definite everywhere. From a data-driven start it
    reached :func:`deconv.fit`'s optimum in ~10 steps where exact-Hessian Newton steps needed
    over 100 (an indefinite Hessian far from the optimum); at most ``n_iter`` (default 200)
    steps are taken, and the summary's ``converged`` column says whether the best start
    converged within them.

    Each spectrum keeps its own data-scaled priors: the priors, in internal units, enter the
    compiled function as arrays, not constants, so a new spectrum never recompiles.
    Normal noise and polynomial baselines are vectorised; Student-t noise and custom baselines
    fall back to a loop of :func:`deconv.fit`.

NUTS (``method="nuts"``)
    A loop of :func:`deconv.fit` per spectrum. Its MAP optimiser is compiled once per model
    structure, but NumPyro's NUTS sampler closes over each spectrum's data and compiles for
    every spectrum (seconds each).

Free energies (``method="evidence"``)
    :func:`deconv.free_energy` (multi-start MAP, then replica exchange) per spectrum, the
    spectra of a chunk in order, each warm-started from the previous one's final replicas,
    ladder, step sizes and preconditioners (``warm_start=True``, the default): a short
    step-size warm-up (``warm_warmup`` sweeps, default 100) replaces the full one. The model's
    densities take the data as arguments, so one compiled sampler (and one compiled MAP
    optimiser) serves every spectrum of a structure: a warm start keeps the ladder size, and
    cold runs after a chunk's first reuse its number of temperatures. A warm-started run whose
    replicas do not mix (:func:`deconv.evidence.poorly_mixed`: the neighbour's ladder or step
    sizes do not fit this spectrum) where the run it started from did mix is redone cold,
    flagged ``restarted_cold`` in the summary.
    Warm-started results depend on which spectrum preceded in the chunk: equal in
    distribution, not bit for bit, across chunk sizes or a resumed run.

Chunks run in a background thread (while the main thread writes results) or on any executor
with ``submit`` (``concurrent.futures`` pools, a Dask ``distributed.Client``). Results depend
only on the data, the settings and the seed, never on where or in which chunk a spectrum ran.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.infer.util import constrain_fn, log_density, unconstrain_fn

from deconv import _jax, _structured
from deconv import _validation as v
from deconv._arviz import az
from deconv.baselines import BaselineSpec, SplineBaseline, baseline_label
from deconv.exceptions import ReadError
from deconv.inference import Problem, fit, make_problem
from deconv.io import JCAMP_EXTENSIONS, SPC_EXTENSIONS, TEXT_EXTENSIONS, read_spectrum
from deconv.misfit import misfit_check
from deconv.model import (
    PeakModel,
    Scaling,
    mean_curve,
    noise_scale,
    peak_model,
    pointwise_log_likelihood,
    to_user_units,
)
from deconv.priors import Priors, describe
from deconv.results import PEAK_QUANTITIES, Fit, build_fit, posterior_layout
from deconv.selection import EVIDENCE_STARTS
from deconv.spectrum import Spectrum, SpectrumSeries
from deconv.starts import initial_guesses
from deconv.store import (
    DATA_FINGERPRINT,
    SETTINGS_FINGERPRINT,
    ResultStore,
    data_fingerprint,
    settings_fingerprint,
)

__all__ = [
    "BatchResult",
    "SpectrumResult",
    "clear_cache",
    "compile_count",
    "fit_files",
    "fit_series",
]

METHODS = ("map", "nuts", "evidence")
COMMON_OPTIONS = ("noise", "priors", "sigma", "smallest_peak", "n_starts")
MAP_OPTIONS = (*COMMON_OPTIONS, "n_iter")
NUTS_OPTIONS = (
    *COMMON_OPTIONS,
    "num_warmup",
    "num_samples",
    "num_chains",
    "target_accept",
    "dense_mass",
)
EVIDENCE_OPTIONS = (*COMMON_OPTIONS, "sampler", "warm_start", "warm_warmup")
DEFAULT_MAP_STARTS = 2
DEFAULT_NUTS_STARTS = 24
DEFAULT_WARM_WARMUP = 100
DEFAULT_ITERATIONS = 200  # at most; each spectrum stops when converged (~10-30 steps)
CONVERGED_DECREASE = 1e-12  # relative decrease of a converged step (|F| ~ 1e3: ~1e-9 nat)
IDENTITY = Scaling(0.0, 1.0, 1.0)
MAX_STEP = 2.0  # largest change of any unconstrained coordinate in one optimiser step
DAMPING_FLOOR = 1e-3  # damping of a direction, relative to the stiffest one, at least
_STATUS_ORDER = ("done", "failed", "skipped")
_SUFFIXES = TEXT_EXTENSIONS + JCAMP_EXTENSIONS + SPC_EXTENSIONS


# ---------------------------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class _Settings:
    """Everything that defines the model and the fit, shared by every spectrum of a batch."""

    n_peaks: int
    shape: str
    baseline: BaselineSpec
    method: str
    noise: str = "normal"
    priors: Priors | str | None = None
    sigma: float | str | None = None
    smallest_peak: float | None = None
    n_starts: int = DEFAULT_MAP_STARTS
    n_iter: int = DEFAULT_ITERATIONS
    nuts: tuple[tuple[str, Any], ...] = ()
    evidence: tuple[tuple[str, Any], ...] = ()
    crop: tuple[float | None, float | None] | None = None
    precorrect: tuple[str, str] | None = None  # (method, keywords as JSON text)

    def prepare(self, spectrum: Spectrum) -> Spectrum:
        """``spectrum`` cropped to :attr:`crop`, then pre-corrected (:attr:`precorrect`)."""
        if self.crop is not None:
            lower, upper = self.crop
            lower = spectrum.x[0] if lower is None else lower
            upper = spectrum.x[-1] if upper is None else upper
            spectrum = spectrum.crop(lower, upper)
        if self.precorrect is not None:
            from deconv.precorrect import subtract_baseline

            method, keywords = self.precorrect
            spectrum = subtract_baseline(spectrum, method, **json.loads(keywords))
        return spectrum

    @property
    def label(self) -> str:
        """Model label used in file names and tables, e.g. ``K3_gaussian_linear_normal_map``."""
        baseline = baseline_label(self.baseline)
        return f"K{self.n_peaks}_{self.shape}_{baseline}_{self.noise}_{self.method}"

    @property
    def vectorised(self) -> bool:
        """Whether the MAP runs in the vmapped optimiser (else a loop of :func:`deconv.fit`)."""
        return (
            self.method == "map"
            and self.noise == "normal"
            and _structured.supports_baseline(self.baseline)
        )

    def fit_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`deconv.fit` for this model."""
        return {
            "shape": self.shape,
            "baseline": self.baseline,
            "noise": self.noise,
            "priors": self.priors,
            "sigma": self.sigma,
            "smallest_peak": self.smallest_peak,
        }

    @property
    def order_dependent(self) -> bool:
        """Whether a spectrum's result depends on its chunk: free energies warm-started from
        the spectrum before, or cold ones whose ladder size (and path) a chunk's first
        spectrum chooses for the rest (unless ``sampler`` fixes ``n_temperatures`` or
        ``betas``, and ``reference``)."""
        if self.method != "evidence":
            return False
        options = dict(self.evidence)
        sampler = dict(options["sampler"])
        ladder = "n_temperatures" in sampler or "betas" in sampler
        path = sampler.get("reference", "auto") != "auto"
        return bool(options["warm_start"]) or not (ladder and path)

    def describe(self, key: Any, chunk_size: int | None = None) -> dict[str, Any]:
        """A JSON-able record of the settings (what a stored result was computed with).

        ``chunk_size`` is part of it only where results depend on it (free energies, see
        :attr:`order_dependent`): elsewhere results are independent of chunking.
        """
        priors = self.priors
        if isinstance(priors, Priors):
            priors = {name: describe(value) for name, value in vars(priors).items()}
        chunking = {"chunk_size": chunk_size} if self.order_dependent else {}
        preparation = {}
        if self.crop is not None:
            preparation["crop"] = list(self.crop)
        if self.precorrect is not None:
            method, keywords = self.precorrect
            preparation["precorrect"] = {"method": method, "keywords": json.loads(keywords)}
        return {
            **chunking,
            **preparation,
            "model": self.label,
            "priors": priors if priors is not None else "default",
            "sigma": self.sigma,
            "smallest_peak": self.smallest_peak,
            "n_starts": self.n_starts,
            "n_iter": self.n_iter if self.vectorised else None,
            "nuts": dict(self.nuts),
            "evidence": {k: dict(a) if isinstance(a, tuple) else a for k, a in self.evidence},
            "key": np.asarray(key).tolist() if not isinstance(key, int) else key,
        }


def _settings(
    n_peaks: int,
    shape: str,
    baseline: BaselineSpec,
    method: str,
    options: dict[str, Any],
    *,
    crop: Any = None,
    precorrect: Any = None,
) -> _Settings:
    v.check_choice("method", method, METHODS)
    allowed = {"map": MAP_OPTIONS, "nuts": NUTS_OPTIONS, "evidence": EVIDENCE_OPTIONS}[method]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        v.fail(f"fit_kwargs of method={method!r}", f"be among {allowed}", unknown, error=TypeError)
    noise = options.get("noise", "normal")
    PeakModel(n_peaks=n_peaks, shape=shape, baseline=baseline, noise=noise)  # validates them
    priors, smallest_peak = options.get("priors"), options.get("smallest_peak")
    if isinstance(priors, str):
        Priors.preset(priors)  # validates the name
    elif priors is not None and not isinstance(priors, Priors):
        v.fail("priors", "be None, a preset name or a Priors", priors, error=TypeError)
    if smallest_peak is not None:
        smallest_peak = v.check_positive_float("smallest_peak", smallest_peak)
    sigma = options.get("sigma")
    if isinstance(sigma, str):
        v.check_choice("sigma", sigma, ("data",))
    elif sigma is not None:
        sigma = v.check_positive_float("sigma", sigma)
    default_starts = {"map": DEFAULT_MAP_STARTS, "nuts": DEFAULT_NUTS_STARTS}.get(
        method, EVIDENCE_STARTS
    )
    n_starts = v.check_positive_int("n_starts", options.get("n_starts", default_starts))
    n_iter = v.check_positive_int("n_iter", options.get("n_iter", DEFAULT_ITERATIONS))
    nuts = {k: options[k] for k in NUTS_OPTIONS if k in options and k not in COMMON_OPTIONS}
    for name in ("num_warmup", "num_samples", "num_chains"):
        if name in nuts:
            v.check_positive_int(name, nuts[name])
    if "target_accept" in nuts:
        v.check_fraction("target_accept", nuts["target_accept"])
    return _Settings(
        n_peaks=n_peaks,
        shape=shape,
        baseline=baseline,
        method=method,
        noise=noise,
        priors=priors,
        sigma=sigma,
        smallest_peak=smallest_peak,
        n_starts=n_starts,
        n_iter=n_iter,
        nuts=tuple(sorted(nuts.items())),
        evidence=_evidence_options(options) if method == "evidence" else (),
        crop=_check_crop(crop),
        precorrect=_check_precorrect(precorrect),
    )


def _check_crop(crop: Any) -> tuple[float | None, float | None] | None:
    """``(lower, upper)`` bounds of x to keep (``None``: that end uncut)."""
    if crop is None:
        return None
    if not isinstance(crop, tuple | list) or len(crop) != 2:
        v.fail("crop", "be a (lower, upper) pair of x values (None for an open end)", crop)
    lower, upper = (
        None if bound is None else v.check_finite_float(f"crop[{i}]", bound)
        for i, bound in enumerate(crop)
    )
    if lower is not None and upper is not None and not lower < upper:
        v.fail("crop", "have lower < upper", crop)
    return None if lower is None and upper is None else (lower, upper)


def _check_precorrect(precorrect: Any) -> tuple[str, str] | None:
    """A pybaselines step as ``(method, keywords as JSON)``, checked before any data is read."""
    if precorrect is None:
        return None
    if isinstance(precorrect, str):
        precorrect = (precorrect, {})
    if not isinstance(precorrect, tuple | list) or len(precorrect) != 2:
        v.fail("precorrect", "be a method name or a (method, keywords) pair", precorrect)
    from deconv.precorrect import check_step

    method, keywords = precorrect
    return method, json.dumps(check_step(method, keywords), sort_keys=True)


def _evidence_options(options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    from deconv.evidence import check_sampler

    sampler = check_sampler(options.get("sampler"))
    warm = v.check_bool("warm_start", options.get("warm_start", True))
    warmup = v.check_positive_int("warm_warmup", options.get("warm_warmup", DEFAULT_WARM_WARMUP))
    return (
        ("sampler", tuple(sorted(sampler.items()))),
        ("warm_start", warm),
        ("warm_warmup", warmup),
    )


def _key_words(key: Any) -> tuple[int, ...]:
    """Entropy of a seed: an int, or the two words of a jax PRNG key (see ``v.check_key``)."""
    return v.check_key("key", key)


def _seed(words: tuple[int, ...], sample_id: str) -> int:
    """A per-spectrum seed from the batch seed and the sample id (not its position)."""
    entropy = [*words, zlib.crc32(sample_id.encode("utf-8"))]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0] >> 1)


# ---------------------------------------------------------------------------------------------
# the vectorised optimiser


class _Structure(NamedTuple):
    """What the compiled optimiser depends on, apart from array shapes."""

    n_peaks: int
    shape: str
    baseline: str | SplineBaseline
    width_kind: str
    amplitude_kind: str
    treedef: Any
    point_sigma: bool
    n_iter: int
    leaf_order: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"K={self.n_peaks} {self.shape} + {baseline_label(self.baseline)}"


_SOLVERS: dict[_Structure, Callable] = {}
_COMPILES: Counter = Counter()
_LOCK = threading.Lock()


def compile_count() -> dict[str, int]:
    """How many times the batched optimiser was traced (compiled), per model label."""
    return dict(_COMPILES)


@_jax.keeps_programs
def _forget_solvers() -> None:
    with _LOCK:
        _SOLVERS.clear()


def clear_cache() -> None:
    """Forget the compiled batched optimisers (and their counts); the next batch recompiles."""
    _forget_solvers()
    with _LOCK:
        _COMPILES.clear()


def _solver(structure: _Structure) -> Callable:
    with _LOCK:
        if structure not in _SOLVERS:
            _SOLVERS[structure] = jax.jit(jax.vmap(partial(_solve_lane, structure)))
        return _SOLVERS[structure]


class _Objective:
    """-log p(theta, v) of one spectrum on flat unconstrained vectors, and its pieces."""

    def __init__(self, u: jnp.ndarray, v_obs: jnp.ndarray, kwargs: dict, unravel: Callable):
        self.u, self.v, self.kwargs, self.unravel = u, v_obs, kwargs, unravel
        self.args = (u, v_obs)

    def params(self, flat: jnp.ndarray) -> dict:
        return constrain_fn(peak_model, self.args, self.kwargs, self.unravel(flat))

    def value(self, flat: jnp.ndarray) -> jnp.ndarray:
        return -log_density(peak_model, self.args, self.kwargs, self.params(flat))[0]

    def mean_and_log_scale(self, flat: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        params, model = self.params(flat), self.kwargs["model"]
        scale = noise_scale(params, model, IDENTITY, self.kwargs["sigma_points"])
        mean = mean_curve(params, self.u, model, IDENTITY)
        return mean, jnp.broadcast_to(jnp.log(scale), mean.shape)

    def rest(self, flat: jnp.ndarray) -> jnp.ndarray:
        """-log p(theta, v) minus the squared whitened residuals, up to a constant."""
        params = self.params(flat)
        substituted = handlers.substitute(peak_model, data=params)
        trace = handlers.trace(substituted).get_trace(*self.args, **self.kwargs)
        log_prior = sum(
            jnp.sum(site["fn"].log_prob(site["value"]))
            for site in trace.values()
            if site["type"] == "sample" and not site["is_observed"]
        )
        return jnp.sum(self.mean_and_log_scale(flat)[1]) - log_prior

    def curvature(self, flat: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """Gradient and positive semi-definite curvature of the objective at ``flat``.

        With whitened residuals ``r = (v - m) / s`` the objective is ``|r|^2 / 2 + rest``;
        Gauss-Newton on ``r``, plus ``sum r^2 (d log s)^2`` that makes the noise block exact
        at the optimum, plus the exact Hessian of ``rest`` (priors and ``sum log s``).
        """
        (mean, log_scale), (d_mean, d_log_scale) = _with_jacobian(self.mean_and_log_scale, flat)
        scale = jnp.exp(log_scale)
        residual = (self.v - mean) / scale
        d_residual = -d_mean / scale[:, None] - residual[:, None] * d_log_scale
        gradient = d_residual.T @ residual + jax.grad(self.rest)(flat)
        noise = d_log_scale * residual[:, None]
        hessian = d_residual.T @ d_residual + noise.T @ noise + jax.hessian(self.rest)(flat)
        return gradient, hessian


def _with_jacobian(function: Callable, flat: jnp.ndarray):
    """``function(flat)`` and its forward-mode Jacobian, in one pass."""

    def twice(x):
        value = function(x)
        return value, value

    jacobian, value = jax.jacfwd(twice, has_aux=True)(flat)
    return value, jacobian


def _levenberg_marquardt(objective: _Objective, flat: jnp.ndarray, n_iter: int):
    """Damped steps from ``flat`` until converged (at most ``n_iter``); (x, value, converged).

    A step is kept only if it lowers the objective. The damping is Marquardt's (scaled by the
    curvature's diagonal, floored at :data:`DAMPING_FLOOR` of its largest entry so that flat
    directions are damped too), and no coordinate moves by more than :data:`MAX_STEP` per step:
    without both, a step can throw a bounded parameter (a pseudo-Voigt fraction, in logit
    coordinates) to its bound, where the gradient vanishes and it stays.

    Converged: a kept, lightly damped step lowered the objective by less than
    :data:`CONVERGED_DECREASE` (relative), or no step lowers it at the largest damping. Each
    lane stops on its own criterion, so a result does not depend on the other spectra of its
    chunk (``jax.vmap`` of a ``while_loop`` freezes the lanes that are done).
    """

    def step(carry):
        i, x, value, damping, _ = carry
        gradient, curvature = objective.curvature(x)
        diagonal = jnp.abs(jnp.diag(curvature))
        diagonal = jnp.maximum(diagonal, DAMPING_FLOOR * jnp.max(diagonal)) + 1e-12
        delta = jnp.linalg.solve(curvature + damping * jnp.diag(diagonal), gradient)
        delta = delta * jnp.minimum(1.0, MAX_STEP / jnp.max(jnp.abs(delta)))
        trial = x - delta
        trial_value = objective.value(trial)
        better = jnp.isfinite(trial_value) & (trial_value <= value)
        small = value - trial_value <= CONVERGED_DECREASE * (1.0 + jnp.abs(value))
        converged = (better & small & (damping <= 1e-2)) | (~better & (damping >= 1e12))
        x = jnp.where(better, trial, x)
        value = jnp.where(better, trial_value, value)
        damping = jnp.clip(jnp.where(better, damping / 10, damping * 10), 1e-12, 1e12)
        return i + 1, x, value, damping, converged

    def going(carry):
        i, _, value, _, converged = carry
        return (i < n_iter) & ~converged & jnp.isfinite(value)

    start = (0, flat, objective.value(flat), jnp.asarray(1e-3, dtype=flat.dtype), False)
    _, x, value, _, converged = jax.lax.while_loop(going, step, start)
    return x, value, converged


def _solve_lane(structure, starts, u, v_obs, sigma_points, leaves):
    """One spectrum: optimise every start, keep the best; model curves at the optimum."""
    _COMPILES[structure.label] += 1  # runs only while tracing, i.e. once per compilation
    kwargs = _structured.model_kwargs(structure, leaves, sigma_points)
    z = jax.vmap(lambda start: unconstrain_fn(peak_model, (u, v_obs), kwargs, start))(starts)
    flat = jax.vmap(lambda one: ravel_pytree(one)[0])(z)
    unravel = ravel_pytree(jax.tree_util.tree_map(lambda a: a[0], z))[1]
    objective = _Objective(u, v_obs, kwargs, unravel)
    solve = partial(_levenberg_marquardt, objective, n_iter=structure.n_iter)
    xs, values, converged = jax.vmap(solve)(flat)
    best = jnp.argmin(jnp.where(jnp.isnan(values), jnp.inf, values))
    params = objective.params(xs[best])
    model, points = kwargs["model"], kwargs["sigma_points"]
    return {
        "params": params,
        "values": values,
        "converged": converged[best],
        "pointwise": pointwise_log_likelihood(params, u, v_obs, model, IDENTITY, points),
        "mean": mean_curve(params, u, model, IDENTITY),
        "scale": jnp.broadcast_to(noise_scale(params, model, IDENTITY, points), u.shape),
    }


# ---------------------------------------------------------------------------------------------
# one chunk: runs locally or on a worker


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
class _MapArrays:
    """What a MAP InferenceData is made of; assembling it is left until it is needed."""

    x: np.ndarray
    y: np.ndarray
    n_peaks: int
    user: dict[str, np.ndarray]
    log_likelihood: np.ndarray
    predictive: np.ndarray


@dataclass
class _Outcome:
    """One spectrum's result as a chunk returns it: row, posterior and internal MAP."""

    sample_id: str
    row: dict[str, Any]
    idata: Any = None
    internal: dict[str, np.ndarray] | None = None
    arrays: _MapArrays | None = None
    fit: Fit | None = None  # the full Fit where the loop built one (NUTS, free energies)

    def inference_data(self) -> az.InferenceData:
        """The posterior as arviz InferenceData (assembled on first use)."""
        if self.idata is None and self.arrays is not None:
            self.idata = _map_idata(self.arrays)
        return self.idata


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


def _reason(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return " ".join(str(text).split())


MISFIT_COLUMNS = ("misfit", "misfit_p_min")  # the residual check (deconv.misfit)
# how far a free energy's fit can be trusted (its Fit.diagnostics)
TRUST_COLUMNS = ("starts_at_best", "map_trusted", "n_runs_redone", "n_runs_dropped")
EVIDENCE_COLUMNS = (
    "free_energy",
    "free_energy_se",
    "n_gradient_evals",
    "warm_started",
    "restarted_cold",
    "n_temperatures",
    "swap_rate_min",
    "round_trips",
    "r_hat_max",
    "ess_bulk_min",
    *TRUST_COLUMNS,
    "warning",
)


def _extra_columns(method: str) -> tuple[str, ...]:
    return (*_method_columns(method), *MISFIT_COLUMNS)


def _misfit_of(diagnostics: dict[str, Any]) -> dict[str, Any]:
    return {name: diagnostics.get(name, math.nan) for name in MISFIT_COLUMNS}


def _method_columns(method: str) -> tuple[str, ...]:
    if method == "evidence":
        return EVIDENCE_COLUMNS
    return (
        ("starts_at_best", "converged")
        if method == "map"
        else ("r_hat_max", "ess_bulk_min", "divergences")
    )


def _row(
    settings: _Settings,
    sample_id: str,
    status: str,
    reason: str = "",
    *,
    objective: float = math.nan,
    user: dict[str, np.ndarray] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One summary row: id, status, objective, diagnostics, per-peak posterior means, sigma."""
    row: dict[str, Any] = {
        "sample_id": sample_id,
        "status": status,
        "reason": reason,
        "model": settings.label,
        "method": settings.method,
        "objective": objective,
    }
    extra = extra or {}
    row.update({name: extra.get(name, math.nan) for name in _extra_columns(settings.method)})
    for quantity in PEAK_QUANTITIES:
        values = None if user is None else np.asarray(user[quantity])
        for k in range(settings.n_peaks):
            mean = math.nan if values is None else float(np.mean(values[..., k]))
            row[f"{quantity}[{k + 1}]"] = mean
    sigma = None if user is None else user.get("sigma")
    row["sigma"] = math.nan if sigma is None else float(np.mean(sigma))
    return row


def _failure(settings: _Settings, sample_id: str, error: BaseException | str) -> _Outcome:
    return _Outcome(sample_id, _row(settings, sample_id, "failed", _reason(error)))


def _reproducible(idata: az.InferenceData) -> az.InferenceData:
    """Drop the creation time stamps, so equal results give equal files."""
    for group in idata.groups():
        getattr(idata, group).attrs.pop("created_at", None)
    return idata


def _map_idata(arrays: _MapArrays) -> az.InferenceData:
    """The InferenceData of a MAP fit, laid out like :attr:`deconv.Fit.idata` (one draw)."""
    coords, dims = posterior_layout(arrays.user, arrays.n_peaks, arrays.x)
    idata = az.from_dict(
        posterior=arrays.user,
        log_likelihood={"y": arrays.log_likelihood[None, None]},
        posterior_predictive={"y": arrays.predictive[None, None]},
        observed_data={"y": arrays.y},
        coords=coords,
        dims=dims,
    )
    return _reproducible(idata)


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


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True, eq=False)
class SpectrumResult:
    """The result of one spectrum in a batch.

    Attributes
    ----------
    sample_id : str
        The spectrum's id.
    status : {"done", "failed", "skipped"}
        ``"skipped"``: finished by an earlier run, read back from the store.
    reason : str
        Why it failed (empty otherwise).
    row : dict
        Its summary row (objective, per-peak centre/fwhm/height/area, sigma, diagnostics).
    """

    sample_id: str
    status: str
    reason: str
    row: dict[str, Any] = field(repr=False)
    spectrum: Spectrum | None = field(default=None, repr=False)
    internal: dict[str, np.ndarray] | None = field(default=None, repr=False)
    outcome: _Outcome | None = field(default=None, repr=False)
    store: ResultStore | None = field(default=None, repr=False)

    @property
    def objective(self) -> float:
        """``-log p(theta_MAP, y)`` in nats (user units); NaN for a failure."""
        return float(self.row["objective"])

    @property
    def peaks(self) -> pd.DataFrame:
        """Centre, FWHM, height and area per peak (posterior means; the MAP for MAP fits)."""
        n_peaks = sum(1 for name in self.row if name.startswith("centre["))
        table = pd.DataFrame(index=pd.Index(np.arange(1, n_peaks + 1), name="peak"))
        for quantity in PEAK_QUANTITIES:
            table[quantity] = [self.row[f"{quantity}[{k}]"] for k in table.index]
        return table

    @property
    def idata(self) -> az.InferenceData:
        """The posterior (arviz InferenceData, user units); read from the store if needed."""
        if self.outcome is not None and self.outcome.inference_data() is not None:
            return self.outcome.inference_data()
        if self.status == "failed" or self.store is None:
            v.fail(
                "sample_id", "name a finished result held in memory or in a store", self.sample_id
            )
        return self.store.load(self.sample_id)


class BatchResult:
    """Every spectrum of a batch under one model.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per spectrum, in input order: ``sample_id``, ``status`` (done, failed,
        skipped), ``reason``, ``model``, ``method``, ``objective`` (``-log p(theta_MAP, y)``,
        nats), diagnostics, per-peak ``centre[k]``, ``fwhm[k]``, ``height[k]``, ``area[k]``
        and ``sigma``.
    failures : pandas.DataFrame
        ``sample_id`` and ``reason`` of every failure.
    counts : dict
        Number of spectra done, failed and skipped.
    recomputed : dict
        Sample ids whose stored result was not trusted, and why (unreadable, other settings,
        other data, no fingerprint); they were computed again and count as done or failed.
    """

    def __init__(
        self,
        results: Sequence[SpectrumResult],
        settings: _Settings,
        recomputed: dict[str, str] | None = None,
    ) -> None:
        self._results = {result.sample_id: result for result in results}
        self._settings = settings
        self.recomputed = dict(recomputed or {})

    @property
    def label(self) -> str:
        """The model label, e.g. ``"K3_pseudo_voigt_linear_normal_map"``."""
        return self._settings.label

    @cached_property
    def summary(self) -> pd.DataFrame:
        rows = [{**r.row, "status": r.status} for r in self._results.values()]
        return pd.DataFrame(rows)

    @property
    def failures(self) -> pd.DataFrame:
        failed = [r for r in self._results.values() if r.status == "failed"]
        return pd.DataFrame(
            {"sample_id": [r.sample_id for r in failed], "reason": [r.reason for r in failed]}
        )

    @property
    def counts(self) -> dict[str, int]:
        tally = Counter(r.status for r in self._results.values())
        return {status: tally.get(status, 0) for status in _STATUS_ORDER}

    @property
    def message(self) -> str:
        """The closing line, ``"done N, failed M, skipped K"``, and a line on recomputed
        stored results where there were any."""
        line = ", ".join(f"{status} {count}" for status, count in self.counts.items())
        if not self.recomputed:
            return line
        tally = Counter(reason.split(":")[0] for reason in self.recomputed.values())
        kinds = "; ".join(f"{count} {reason}" for reason, count in sorted(tally.items()))
        return f"{line}\nrecomputed {len(self.recomputed)} stored results ({kinds})"

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[SpectrumResult]:
        return iter(self._results.values())

    def __getitem__(self, sample_id: str) -> SpectrumResult:
        if sample_id not in self._results:
            v.fail("sample_id", f"be one of the {len(self)} sample ids", sample_id, error=KeyError)
        return self._results[sample_id]

    def idata(self, sample_id: str) -> az.InferenceData:
        """The posterior of one spectrum (arviz InferenceData, user units)."""
        return self[sample_id].idata

    def fit(self, sample_id: str) -> Fit:
        """A :class:`deconv.Fit` (report, plot, predictions) of one finished spectrum.

        Results kept in memory are returned as they are; results already written to a result
        store (and skipped ones) are rebuilt from it (:meth:`deconv.store.ResultStore.load_fit`).
        """
        result = self[sample_id]
        if result.outcome is not None and result.outcome.fit is not None:
            return result.outcome.fit
        if result.internal is None or result.spectrum is None:
            if result.status != "failed" and result.store is not None:
                return result.store.load_fit(sample_id)
            v.fail("sample_id", "name a finished result of this batch", sample_id)
        settings = self._settings
        problem = make_problem(result.spectrum, settings.n_peaks, **settings.fit_options())
        samples = {k: np.asarray(a)[None, None] for k, a in result.internal.items()}
        centres = problem.scaling.x0 + problem.scaling.dx * result.internal["centre"]
        optima = pd.DataFrame(
            {
                "neg_log_posterior": [result.objective],
                "n_starts": [result.row.get("starts_at_best", 1)],
                "centres": [np.round(centres, 6).tolist()],
            }
        )
        return build_fit(
            problem, "map", samples, None, optima, key=jax.random.PRNGKey(0), wall_time=0.0
        )

    def __repr__(self) -> str:
        return f"BatchResult({self.label}: {self.message})"


# ---------------------------------------------------------------------------------------------
# the batch driver


@dataclass(frozen=True)
class _Item:
    sample_id: str
    spectrum: Spectrum | None
    reason: str = ""


def _prepared(sample_id: str, make: Callable[[], Spectrum], settings: _Settings) -> _Item:
    """An item whose spectrum ``make`` builds and ``settings`` prepare (crop, pre-correction);
    a spectrum that cannot be built or prepared becomes the item's failure."""
    try:
        return _Item(sample_id, settings.prepare(make()))
    except (ReadError, ValueError, TypeError, OSError) as error:
        return _Item(sample_id, None, _reason(error))


def _item(entry: Any, position: int, settings: _Settings) -> _Item:
    if isinstance(entry, Spectrum):
        return _prepared(entry.name, lambda: entry, settings)
    if isinstance(entry, tuple | list) and len(entry) in (3, 4):
        sample_id = str(entry[0])
        return _prepared(sample_id, lambda: Spectrum(*entry[1:], name=sample_id), settings)
    v.fail(
        f"series[{position}]",
        "be a Spectrum or a (sample_id, x, y[, sigma]) tuple",
        type(entry).__name__,
        error=TypeError,
    )
    raise AssertionError  # pragma: no cover


def _items(series: Any, settings: _Settings) -> list[_Item]:
    if isinstance(series, SpectrumSeries):
        items = [_prepared(s.name, lambda s=s: s, settings) for s in series]
        rejected = getattr(series, "rejected", {})  # rows left out of the series, and why
        items += [_Item(str(i), None, _reason(reason)) for i, reason in rejected.items()]
    elif isinstance(series, Iterable) and not isinstance(series, str | bytes | Spectrum):
        items = [_item(entry, i, settings) for i, entry in enumerate(series)]
    else:
        v.fail(
            "series",
            "be a SpectrumSeries or a sequence of Spectrum / (sample_id, x, y) tuples",
            type(series).__name__,
            error=TypeError,
        )
    if not items:
        v.fail("series", "hold at least one spectrum", "none")
    v.check_unique_ids("sample ids", [item.sample_id for item in items])
    return items


def _tasks(settings: _Settings, items: list[_Item], pending: list[_Item], chunk_size: int, words):
    """Chunks of pending spectra with equal point counts; lane width fixed by the whole input."""
    sizes = Counter(item.spectrum.n_points for item in items if item.spectrum is not None)
    groups: dict[int, list[Spectrum]] = {}
    for item in pending:
        groups.setdefault(item.spectrum.n_points, []).append(item.spectrum)
    tasks = []
    for n_points, spectra in groups.items():
        lanes = min(chunk_size, sizes[n_points])
        for start in range(0, len(spectra), chunk_size):
            chunk = tuple(spectra[start : start + chunk_size])
            seeds = tuple(_seed(words, spectrum.name) for spectrum in chunk)
            tasks.append(_Task(settings, chunk, seeds, lanes))
    return tasks


def _gather(tasks: list[_Task], executor: Any) -> Iterator[list[_Outcome]]:
    """Outcomes chunk by chunk, in task order; a failed task fails its spectra, not the batch."""
    if executor is None and tasks and tasks[0].settings.method == "evidence":
        # free energies run in this thread (their programs compile on the evidence module's
        # own background threads): one more thread buys nothing at seconds per spectrum, and
        # JAX's persistent-cache writes from a compile started in a pool thread crashed a
        # process (SIGABRT in put_executable_and_time)
        yield from _in_order(_Inline(), tasks, ahead=0)
        return
    if executor is None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="specbayes-batch") as pool:
            yield from _in_order(pool, tasks, ahead=1)
        return
    if not callable(getattr(executor, "submit", None)):
        v.fail(
            "executor", "have a submit method (concurrent.futures-like)", executor, error=TypeError
        )
    yield from _in_order(executor, tasks, ahead=len(tasks))


class _Inline:
    """An executor that runs each task when its result is asked for, in the calling thread."""

    class _Deferred:
        def __init__(self, function: Callable, arguments: tuple) -> None:
            self.function, self.arguments = function, arguments

        def result(self) -> Any:
            return self.function(*self.arguments)

    def submit(self, function: Callable, *arguments: Any) -> _Deferred:
        return self._Deferred(function, arguments)


def _in_order(executor: Any, tasks: list[_Task], *, ahead: int) -> Iterator[list[_Outcome]]:
    """Submit ``ahead`` tasks beyond the one awaited; yield outcomes in task order."""
    futures: dict[int, Any] = {}

    def submit(index: int) -> None:
        if index < len(tasks) and index not in futures:
            futures[index] = executor.submit(_run_chunk, tasks[index])

    for index in range(min(ahead + 1, len(tasks))):
        submit(index)
    for index, task in enumerate(tasks):
        submit(index + ahead + 1)
        try:
            outcomes = futures.pop(index).result()
        except Exception as error:
            reason = f"chunk task failed: {_reason(error)}"
            outcomes = [_failure(task.settings, s.name, reason) for s in task.spectra]
        yield outcomes


def _result(outcome: _Outcome, spectrum: Spectrum | None, store: ResultStore | None):
    row = outcome.row
    return SpectrumResult(
        sample_id=outcome.sample_id,
        status=row["status"],
        reason=row["reason"],
        row=row,
        spectrum=spectrum,
        internal=outcome.internal,
        outcome=outcome,
        store=store,
    )


def _previous(item: _Item, store: ResultStore) -> SpectrumResult:
    row = store.load_row(item.sample_id)
    return SpectrumResult(item.sample_id, "skipped", "", row, item.spectrum, store=store)


@dataclass
class _Run:
    """One batch run: what it fits, where it writes, and what it has so far."""

    items: list[_Item]
    settings: _Settings
    store: ResultStore | None
    fingerprint: str  # of the settings (SHA-256 of :meth:`_Settings.describe`)
    results: dict[str, SpectrumResult] = field(default_factory=dict)
    recomputed: dict[str, str] = field(default_factory=dict)  # stored results not trusted

    def pending(self, force: bool) -> list[_Item]:
        """Items to compute; failures of invalid input and trusted stored results go in."""
        pending = []
        for item in self.items:
            if item.spectrum is None:
                self.finish(_failure(self.settings, item.sample_id, item.reason), None)
                continue
            if self.store is not None and not force:
                data = data_fingerprint(item.spectrum)
                reason = self.store.verdict(item.sample_id, data, settings=self.fingerprint)
                if reason is None:
                    self.results[item.sample_id] = _previous(item, self.store)
                    continue
                if reason != "no stored result":
                    self.recomputed[item.sample_id] = reason
            pending.append(item)
        return pending

    def finish(self, outcome: _Outcome, spectrum: Spectrum | None) -> None:
        """Fingerprint an outcome; store it (or, for a failure, drop any older result)."""
        outcome.row[SETTINGS_FINGERPRINT] = self.fingerprint
        outcome.row[DATA_FINGERPRINT] = "" if spectrum is None else data_fingerprint(spectrum)
        if self.store is not None and outcome.row["status"] == "done":
            metadata = spectrum.metadata if spectrum is not None else None
            self.store.save(outcome.sample_id, outcome.inference_data(), outcome.row, metadata)
            outcome.idata = outcome.arrays = outcome.fit = None  # the store has it
        elif self.store is not None:
            self.store.discard(outcome.sample_id)
        self.results[outcome.sample_id] = _result(outcome, spectrum, self.store)

    def write_tables(self) -> None:
        if self.store is None:
            return
        done = [self.results[i.sample_id] for i in self.items if i.sample_id in self.results]
        failures = [result.row for result in done if result.status == "failed"]
        self.store.write_tables([result.row for result in done], failures)

    def batch_result(self) -> BatchResult:
        ordered = [self.results[i.sample_id] for i in self.items if i.sample_id in self.results]
        return BatchResult(ordered, self.settings, self.recomputed)


def _run_batch(
    items: list[_Item],
    settings: _Settings,
    *,
    key: Any,
    chunk_size: int,
    executor: Any,
    out: str | Path | None,
    force: bool,
    progress: bool,
) -> BatchResult:
    words = _key_words(key)
    chunk_size = v.check_positive_int("chunk_size", chunk_size)
    described = settings.describe(key, chunk_size)
    fingerprint = settings_fingerprint(described)
    if out is None:
        return _execute(
            _Run(items, settings, None, fingerprint),
            chunk_size,
            words,
            executor,
            force=force,
            progress=progress,
        )
    store = ResultStore(out, settings.label)
    with store.writing(described, force=force) as fingerprint:
        run = _Run(items, settings, store, fingerprint)
        return _execute(run, chunk_size, words, executor, force=force, progress=progress)


def _execute(
    run: _Run,
    chunk_size: int,
    words: tuple[int, ...],
    executor: Any,
    *,
    force: bool,
    progress: bool,
) -> BatchResult:
    pending = run.pending(force)
    spectra = {item.sample_id: item.spectrum for item in run.items}
    bar = _progress_bar(len(pending), run.settings.label, progress)
    tasks = _tasks(run.settings, run.items, pending, chunk_size, words)
    per_spectrum = executor is None and not run.settings.vectorised  # slow loops: tick each one
    if per_spectrum:
        tasks = [replace(task, progress=bar.update) for task in tasks]
    for outcomes in _gather(tasks, executor):
        for outcome in outcomes:
            run.finish(outcome, spectra[outcome.sample_id])
        run.write_tables()
        if not per_spectrum:
            bar.update(len(outcomes))
    bar.close()
    run.write_tables()
    batch = run.batch_result()
    if progress:
        print(batch.message, file=sys.stderr, flush=True)
    return batch


def _progress_bar(total: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="spectrum", disable=not enabled, file=sys.stderr)


def fit_series(
    series: SpectrumSeries | Sequence[Spectrum | tuple],
    n_peaks: int,
    *,
    shape: str = "pseudo_voigt",
    baseline: BaselineSpec = "linear",
    method: str = "map",
    key: int | jax.Array = 0,
    chunk_size: int = 64,
    executor: Any = None,
    out: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    crop: tuple[float | None, float | None] | None = None,
    precorrect: str | tuple[str, dict[str, Any]] | None = None,
    **fit_kwargs: Any,
) -> BatchResult:
    """Fit every spectrum of a series under one model.

    A spectrum that cannot be fitted (invalid data, a non-finite objective, an error in its
    chunk) is recorded with its reason and never stops the batch.

    Parameters
    ----------
    series : SpectrumSeries or sequence
        The spectra: a series, or a sequence of :class:`Spectrum` (ids from their names) and
        ``(sample_id, x, y)`` or ``(sample_id, x, y, sigma)`` tuples; a tuple that does not
        make a valid spectrum (NaN, mismatched lengths...) becomes a failure.
    n_peaks : int
        Number of peaks K of the model.
    shape, baseline : str
        Line shape and baseline, as in :func:`deconv.fit`.
    method : {"map", "nuts", "evidence"}
        Vectorised MAP (fast), a loop of :func:`deconv.fit` with NUTS, or free energies by
        replica exchange, warm-started along the series (columns ``free_energy``,
        ``free_energy_se``, ``n_gradient_evals``... in the summary; a warm-started run whose
        replicas do not mix is redone cold, ``restarted_cold``; the trust columns
        ``starts_at_best``, ``map_trusted``, ``n_runs_redone`` and ``n_runs_dropped`` say
        how sure the MAP starts and the independent runs were).
    key : int or jax PRNG key
        Batch seed. Each spectrum's seed derives from it and the sample id, so results do not
        depend on chunking, order, executor or interruptions (warm-started free energies
        excepted: they depend on the preceding spectrum of the chunk).
    chunk_size : int
        Spectra per chunk (one vmapped call, one executor task); bounds memory.
    executor : concurrent.futures.Executor-like, optional
        Anything with ``submit(fn, *args)`` returning a future with ``result()``, e.g. a
        ``ProcessPoolExecutor`` (spawn context) or a Dask ``distributed.Client``. ``None``
        runs the chunks in a background thread while this one writes the results.
    out : str or os.PathLike, optional
        Result folder (:class:`deconv.store.ResultStore`): one NetCDF per spectrum,
        ``summary.csv`` and ``failures.csv``, rewritten atomically after every chunk. A rerun
        skips a spectrum only if its result file is readable and holds the same settings and
        data fingerprints; any other is recomputed (``BatchResult.recomputed`` says why).
    force : bool
        Recompute (and overwrite) results already in ``out``.
    progress : bool
        Show a progress bar and the closing line ``"done N, failed M, skipped K"`` on stderr.
    crop : (float or None, float or None), optional
        Keep only ``lower <= x <= upper`` of every spectrum (``None``: that end uncut);
        recorded in the settings.
    precorrect : str or (str, dict), optional
        A pybaselines method (and its keywords) subtracted from every spectrum after the
        crop, e.g. ``("asls", deconv.precorrect.PAPER_ASLS)``
        (:func:`deconv.precorrect.subtract_baseline`); recorded in the settings and in each
        result's metadata. A spectrum that cannot be cropped or corrected is a failure.
    **fit_kwargs
        ``noise``, ``priors``, ``sigma``, ``smallest_peak`` and ``n_starts`` (starts per
        spectrum: default 2 for MAP, 24 for NUTS, 384 for evidence) as in :func:`deconv.fit`;
        ``n_iter`` (at most this many Levenberg-Marquardt steps, default 200) for MAP;
        ``num_warmup``, ``num_samples``, ``num_chains``, ``target_accept``, ``dense_mass`` for NUTS;
        ``sampler`` (a dict of :func:`deconv.evidence.replica_exchange` settings),
        ``warm_start`` (default True) and ``warm_warmup`` (default 100) for ``"evidence"``.

    Returns
    -------
    BatchResult
        Summary table, failures and per-spectrum results.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments, or ``out`` holding results of this model run with other settings
        (unless ``force``).
    """
    settings = _settings(
        n_peaks, shape, baseline, method, fit_kwargs, crop=crop, precorrect=precorrect
    )
    return _run_batch(
        _items(series, settings),
        settings,
        key=key,
        chunk_size=chunk_size,
        executor=executor,
        out=out,
        force=force,
        progress=progress,
    )


def _spectrum_files(paths: Any) -> list[Path]:
    if isinstance(paths, str | Path):
        folder = Path(paths)
        if not folder.is_dir():
            return [folder]
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
        if not files:
            v.fail("folder", f"hold spectrum files ({' '.join(_SUFFIXES)})", str(folder))
        return files
    files = [Path(p) for p in paths]
    if not files:
        v.fail("paths", "name at least one file", "none")
    return files


def _file_ids(files: list[Path]) -> list[str]:
    for naming in (lambda p: p.stem, lambda p: p.name, str):
        ids = [naming(p) for p in files]
        if len(set(ids)) == len(ids):
            return ids
    v.check_unique_ids("paths", [str(p) for p in files])
    return [str(p) for p in files]  # pragma: no cover


def _read_item(path: Path, sample_id: str, options: dict[str, Any], settings) -> _Item:
    return _prepared(
        sample_id, lambda: replace(read_spectrum(path, **options), name=sample_id), settings
    )


def fit_files(
    paths: str | Path | Iterable[str | Path],
    n_peaks: int,
    *,
    shape: str = "pseudo_voigt",
    baseline: BaselineSpec = "linear",
    method: str = "map",
    key: int | jax.Array = 0,
    chunk_size: int = 64,
    executor: Any = None,
    out: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    reader_options: dict[str, Any] | None = None,
    crop: tuple[float | None, float | None] | None = None,
    precorrect: str | tuple[str, dict[str, Any]] | None = None,
    **fit_kwargs: Any,
) -> BatchResult:
    """Fit every spectrum file of a folder (or a list of files) under one model.

    Each file is read with :func:`deconv.io.read_spectrum`; a file that cannot be read
    (missing, malformed, NaN values...) is recorded as a failure with the reader's message.
    Sample ids are the file stems (the names, if stems repeat).

    Parameters
    ----------
    paths : folder, file or iterable of files
        A folder is searched (not recursively) for files with a supported extension.
    n_peaks, shape, baseline, method, key, chunk_size, executor, out, force, progress
        As in :func:`fit_series`.
    crop, precorrect
        As in :func:`fit_series`: applied to each spectrum after it is read.
    reader_options : dict, optional
        Keyword arguments of the reader (``sep``, ``x_column``...).
    **fit_kwargs
        As in :func:`fit_series` (model, starts and sampler settings).

    Returns
    -------
    BatchResult
        Summary table, failures and per-spectrum results.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments, or ``out`` holding results of this model run with other settings
        (unless ``force``).
    """
    settings = _settings(
        n_peaks, shape, baseline, method, fit_kwargs, crop=crop, precorrect=precorrect
    )
    files = _spectrum_files(paths)
    options = dict(reader_options or {})
    ids = _file_ids(files)
    items = [_read_item(p, i, options, settings) for p, i in zip(files, ids, strict=True)]
    return _run_batch(
        items,
        settings,
        key=key,
        chunk_size=chunk_size,
        executor=executor,
        out=out,
        force=force,
        progress=progress,
    )
