"""The vectorised MAP: one Levenberg-Marquardt optimiser compiled per model structure and vmapped
over the spectra of a chunk and their starts."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.infer.util import constrain_fn, log_density, unconstrain_fn

from deconv import _jax, _structured
from deconv.baselines import SplineBaseline, baseline_label
from deconv.model import (
    Scaling,
    mean_curve,
    noise_scale,
    peak_model,
    pointwise_log_likelihood,
)

CONVERGED_DECREASE = 1e-12  # relative decrease of a converged step (|F| ~ 1e3: ~1e-9 nat)


IDENTITY = Scaling(0.0, 1.0, 1.0)


MAX_STEP = 2.0  # largest change of any unconstrained coordinate in one optimiser step


DAMPING_FLOOR = 1e-3  # damping of a direction, relative to the stiffest one, at least


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
