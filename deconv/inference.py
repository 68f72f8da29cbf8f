"""Fitting one spectrum under one model: multi-start MAP and NUTS, returning a :class:`Fit`."""

from __future__ import annotations

import concurrent.futures
import time
import warnings
from collections.abc import Callable
from functools import cached_property, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.flatten_util import ravel_pytree
from jax.scipy.optimize import minimize
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import constrain_fn, log_density, unconstrain_fn

from deconv import _ahead, _jax, _structured
from deconv import _validation as v
from deconv.baselines import BaselineSpec
from deconv.exceptions import ConvergenceWarning
from deconv.model import PeakModel, Scaling, peak_model, scaled_priors
from deconv.priors import Priors, data_scales, resolve_priors
from deconv.results import Fit, build_fit, convergence_problems, warn_on_poor_diagnostics
from deconv.spectrum import Spectrum
from deconv.starts import initial_guesses

METHODS = ("map", "nuts")
MAP_GTOL = 1e-6
"""BFGS stops when the largest gradient component of -log p(theta, v) (unconstrained
internal parameters, nats) falls below this: its convergence criterion."""
NEWTON_DECREMENT_TOL = 1e-6
"""The damped-Newton polish converged where the Newton decrement g' H^-1 g is at most this
many nats (or the gradient criterion of BFGS holds)."""
MIN_STARTS_AT_BEST = 2
"""Fewest starts that must end at or near the best optimum for the MAP to be trusted (see
:func:`map_diagnostics`)."""
NEAR_BEST_NATS = 10.0
"""An optimum within this many nats of the best, with every centre within
:data:`NEAR_BEST_CENTRES` of the best's, counts as the best's basin for the trust rule."""
NEAR_BEST_CENTRES = 0.01
"""Largest centre difference, as a fraction of the x range, of an optimum near the best."""
CENTRE_MARGIN = 0.01
"""In a start without a finite unconstrained value, centres at (or beyond) a bound of their
prior's support, or equal to a neighbour, are moved this fraction of the point spacing inside
and apart before they start an optimiser or a sampler (:func:`inside_support`)."""
UNCONSTRAINED_BOUND = 30.0
"""Unconstrained coordinates that are still not finite become ``±UNCONSTRAINED_BOUND`` (NaN: 0)."""
__all__ = ["Fit", "Problem", "fit", "make_problem", "multi_start_map", "run_nuts"]


class Problem:
    """One spectrum under one model, in internal units, with the model's keyword arguments."""

    def __init__(self, spectrum: Spectrum, model: PeakModel, *, use_data_sigma: bool) -> None:
        self.spectrum, self.model = spectrum, model
        self.scaling = Scaling(*data_scales(spectrum))
        x0, dx, ys = self.scaling
        self.u = jnp.asarray((spectrum.x - x0) / dx)
        self.v = jnp.asarray(spectrum.y / ys)
        sigma_points = None
        if use_data_sigma:
            if spectrum.sigma is None:
                v.fail("sigma", "be present in the spectrum when sigma='data'", None)
            sigma_points = jnp.asarray(spectrum.sigma / ys)
        self.sigma_points = sigma_points
        self.kwargs = {"model": model, "scaling": self.scaling, "sigma_points": sigma_points}

    @cached_property
    def structured(self) -> tuple[Any, dict]:
        """:func:`deconv._structured.split` of this problem (structure, arrays), computed once."""
        return _structured.split(self)

    def log_joint(self, params: dict) -> jnp.ndarray:
        """log p(v, theta) for constrained internal parameters (no Jacobian)."""
        value, _ = log_density(peak_model, (self.u, self.v), self.kwargs, params)
        return value

    def constrain(self, z: dict) -> dict:
        return constrain_fn(peak_model, (self.u, self.v), self.kwargs, z)

    def unconstrain(self, params: dict) -> dict:
        return unconstrain_fn(peak_model, (self.u, self.v), self.kwargs, params)

    def constrain_all(self, z: dict) -> dict:
        """:meth:`constrain` of points stacked along a leading axis."""
        if not _structured.supports(self.model):
            return jax.vmap(self.constrain)(z)
        structure, data = self.structured
        return _structured.transforms(structure)[0](z, data)

    def unconstrain_all(self, params: dict) -> dict:
        """:meth:`unconstrain` of points stacked along a leading axis."""
        params = {k: jnp.asarray(a) for k, a in params.items()}
        if not _structured.supports(self.model):
            return jax.vmap(self.unconstrain)(params)
        structure, data = self.structured
        return _structured.transforms(structure)[1](params, data)


def make_problem(
    spectrum: Spectrum,
    n_peaks: int,
    *,
    shape: str = "pseudo_voigt",
    baseline: BaselineSpec = "linear",
    noise: str = "normal",
    priors: Priors | str | None = None,
    sigma: float | str | None = None,
    smallest_peak: float | None = None,
    ordered: bool = True,
) -> Problem:
    """Validate the arguments of :func:`fit` and build the :class:`Problem`."""
    if not isinstance(spectrum, Spectrum):
        v.fail("spectrum", "be a deconv.Spectrum", type(spectrum).__name__, error=TypeError)
    v.check_enough_points("spectrum", spectrum.n_points)  # before the data-scaled priors
    resolved = resolve_priors(priors, spectrum, smallest_peak=smallest_peak)
    use_data_sigma = False
    if isinstance(sigma, str):
        v.check_choice("sigma", sigma, ("data",))
        use_data_sigma = True
    elif sigma is not None:
        resolved = Priors(**{**resolved.__dict__, "sigma": v.check_positive_float("sigma", sigma)})
    model = PeakModel(
        n_peaks=n_peaks,
        shape=shape,
        baseline=baseline,
        noise=noise,
        priors=resolved,
        ordered=ordered,
    )
    model.check_data(spectrum, sigma)  # e.g. counts for noise="poisson"
    n_free = model.n_parameters - (1 if use_data_sigma and resolved.sigma is None else 0)
    v.check_enough_points("spectrum", spectrum.n_points, n_free)
    return Problem(spectrum, model, use_data_sigma=use_data_sigma)


# ---------------------------------------------------------------------------------------------
# multi-start MAP


def _objective(structure: Any, template: dict, data: dict) -> Callable:
    """-log p(theta, v) of a structured problem on flat unconstrained vectors."""
    _, unravel = ravel_pytree(template)

    # Jitted, so that the optimisers' several calls trace the model (NumPyro, in Python) once.
    @jax.jit
    def objective(flat, data):
        kwargs = _structured.model_kwargs(structure, data["leaves"], data["sigma_points"])
        args = (data["u"], data["v"])
        params = constrain_fn(peak_model, args, kwargs, unravel(flat))
        return -log_density(peak_model, args, kwargs, params)[0]

    return lambda flat: objective(flat, data)


def _bfgs(objective: Callable, flat: jnp.ndarray, max_iter: int):
    """BFGS to a gradient of at most ``MAP_GTOL`` (max norm); returns (x, value, converged)."""
    options = {"maxiter": max_iter, "gtol": MAP_GTOL}
    result = minimize(objective, flat, method="BFGS", options=options)
    return result.x, result.fun, result.success


def _newton(objective: Callable, flat: jnp.ndarray):
    """Levenberg-Marquardt-damped Newton steps with the exact Hessian.

    BFGS stalls short of the optimum when the likelihood is very sharp (tiny noise); Newton
    converges there.
    """
    gradient, hessian = jax.grad(objective), jax.hessian(objective)

    def step(carry, _):
        x, value, damping = carry
        h = hessian(x)
        h = h + damping * jnp.diag(jnp.abs(jnp.diag(h)) + 1e-12)
        trial = x - jnp.linalg.solve(h, gradient(x))
        trial_value = objective(trial)
        better = jnp.isfinite(trial_value) & (trial_value <= value)
        x = jnp.where(better, trial, x)
        value = jnp.where(better, trial_value, value)
        damping = jnp.clip(jnp.where(better, damping / 10, damping * 10), 1e-12, 1e12)
        return (x, value, damping), None

    (x, value, _), _ = jax.lax.scan(step, (flat, objective(flat), 1e-3), None, length=40)
    # Newton's own stopping rule at the end point: a gradient of at most MAP_GTOL, or a
    # Newton decrement g' H^-1 g (twice the decrease a full step predicts) of at most
    # NEWTON_DECREMENT_TOL nats with a positive definite Hessian.
    g = gradient(x)
    decrement = g @ jnp.linalg.solve(hessian(x), g)
    small = jnp.isfinite(decrement) & (decrement >= 0) & (decrement <= NEWTON_DECREMENT_TOL)
    return x, value, (jnp.max(jnp.abs(g)) < MAP_GTOL) | small


@partial(jax.jit, static_argnums=(0, 1))
def _structured_bfgs(structure: Any, max_iter: int, flat, template, data):
    return _bfgs(_objective(structure, template, data), flat, max_iter)


@partial(jax.jit, static_argnums=(0,))
def _structured_newton(structure: Any, flat, template, data):
    return _newton(_objective(structure, template, data), flat)


def _optimisers(problem: Problem, z_template: dict, *, max_iter: int):
    """BFGS and damped-Newton polish of -log p(theta, v) on flat unconstrained vectors.

    Each is compiled once per model structure (the data enter as arguments) and reused for
    every start and every spectrum of that structure: a Python loop over one jitted solver
    beat ``vmap`` here, whose batched line searches compiled far more slowly (80 s against 2 s
    for 24 starts in a measurement). Models with a custom baseline close over their data and
    compile per spectrum.
    """
    _, unravel = ravel_pytree(z_template)
    if _structured.supports(problem.model):
        structure, data = problem.structured
        bfgs = _ahead.caller(_structured_bfgs, (structure, max_iter))
        newton = _ahead.caller(_structured_newton, (structure,))
        return (
            lambda flat: bfgs(flat, z_template, data),
            lambda flat: newton(flat, z_template, data),
            unravel,
        )

    def objective(flat):
        return -problem.log_joint(problem.constrain(unravel(flat)))

    bfgs = jax.jit(partial(_bfgs, objective, max_iter=max_iter))
    return bfgs, jax.jit(partial(_newton, objective)), unravel


def _centres_inside(problem: Problem, centres: np.ndarray) -> np.ndarray:
    """``centres`` (internal units, points along the leading axes) moved
    :data:`CENTRE_MARGIN` point spacings inside the bounds of the centre prior's support and,
    for ordered centres, that far apart: an optimum whose centres sit on the edge of the
    window (the uniform prior's bound) or on each other has no finite unconstrained value."""
    support = scaled_priors(problem.model, problem.scaling)["centre"].support
    lower = float(getattr(support, "lower_bound", -np.inf))
    upper = float(getattr(support, "upper_bound", np.inf))
    margin = CENTRE_MARGIN * float(np.median(np.abs(np.diff(np.asarray(problem.u)))))
    if not upper - lower > 2 * problem.model.n_peaks * margin:  # a prior narrower than that
        return np.asarray(centres, dtype=float)
    moved = np.clip(np.asarray(centres, dtype=float), lower + margin, upper - margin)
    if problem.model.ordered:
        n = moved.shape[-1]
        for k in range(1, n):  # apart, upwards; then below the upper bound, downwards
            moved[..., k] = np.maximum(moved[..., k], moved[..., k - 1] + margin)
        moved[..., -1] = np.minimum(moved[..., -1], upper - margin)
        for k in range(n - 2, -1, -1):
            moved[..., k] = np.minimum(moved[..., k], moved[..., k + 1] - margin)
    return moved


def inside_support(problem: Problem, params: dict) -> dict:
    """Unconstrained points (stacked along a leading axis) of the constrained ``params``, each
    inside the support: in a point with a non-finite unconstrained coordinate, centres on a
    bound of their prior, or on each other, are moved inside and apart
    (:func:`_centres_inside`), and coordinates that are still not finite are clipped to
    ``±UNCONSTRAINED_BOUND`` (NaN to 0). Points with finite coordinates are left as they are.

    Optima of the MAP can sit on a bound (a peak whose true centre lies outside the window is
    pushed onto its edge); their unconstrained value is infinite, and a sampler started there
    has a log prior of -inf. Whether a repaired point has a finite density is for the sampler
    to check (:func:`deconv.evidence.replica_exchange` drops those that do not).
    """
    params = {k: np.asarray(a, dtype=float) for k, a in params.items()}
    z = {k: np.asarray(a, dtype=float) for k, a in problem.unconstrain_all(params).items()}
    broken = np.zeros(len(next(iter(params.values()))), dtype=bool)
    for a in z.values():
        broken |= ~np.all(np.isfinite(a.reshape(a.shape[0], -1)), axis=1)
    if broken.any() and "centre" in params:  # only those: close centres are not wrong
        params["centre"] = np.where(
            broken[:, None], _centres_inside(problem, params["centre"]), params["centre"]
        )
        z = {k: np.asarray(a, dtype=float) for k, a in problem.unconstrain_all(params).items()}
    bound = UNCONSTRAINED_BOUND
    return {k: np.nan_to_num(a, nan=0.0, posinf=bound, neginf=-bound) for k, a in z.items()}


def _unconstrained_starts(problem: Problem, n_starts: int, seed: int) -> dict:
    """The starts of :func:`~deconv.starts.initial_guesses`, unconstrained and stacked, inside
    the support (:func:`inside_support`)."""
    n_starts = v.check_positive_int("n_starts", n_starts)
    starts = initial_guesses(
        np.asarray(problem.u), np.asarray(problem.v), problem.model, problem.scaling,
        n_starts=n_starts, seed=seed,
    )  # fmt: skip
    return inside_support(problem, {k: np.stack([s[k] for s in starts]) for k in starts[0]})


def compile_map_ahead(
    problem: Problem,
    compiler: concurrent.futures.Executor,
    *,
    n_starts: int = 24,
    max_iter: int = 2000,
) -> dict | None:
    """Trace the MAP optimisers of ``problem`` here and compile them on ``compiler``, ahead of
    :func:`multi_start_map`; returns an unconstrained template point (None, and nothing
    compiled, for models that close over their data)."""
    if not _structured.supports(problem.model):
        return None
    z = jax.tree_util.tree_map(lambda a: a[0], _unconstrained_starts(problem, n_starts, 0))
    structure, data = problem.structured
    flat = ravel_pytree(z)[0]
    _ahead.submit(_structured_bfgs, (structure, max_iter), (flat, z, data), compiler)
    _ahead.submit(_structured_newton, (structure,), (flat, z, data), compiler)
    return z


def multi_start_map(
    problem: Problem,
    *,
    n_starts: int = 24,
    seed: int = 0,
    max_iter: int = 2000,
    n_polish: int = 4,
) -> tuple[list[dict[str, np.ndarray]], pd.DataFrame]:
    """Maximum a posteriori fits from ``n_starts`` data-driven starts.

    Every start runs BFGS; the ``n_polish`` best are then refined by damped Newton steps.
    Returns the distinct optima (constrained internal parameters), best first, and a table with
    one row per distinct optimum: its negative log posterior (user units, nats), how many
    starts reached it (``n_starts``), the centres, and whether the optimiser met its own
    convergence criterion at the optimum's best start (``converged``: BFGS's gradient
    tolerance :data:`MAP_GTOL`, or after the Newton polish, a Newton decrement of at most
    :data:`NEWTON_DECREMENT_TOL` nats).
    """
    z0 = _unconstrained_starts(problem, n_starts, seed)
    template = jax.tree_util.tree_map(lambda a: a[0], z0)
    bfgs, newton, unravel = _optimisers(problem, template, max_iter=max_iter)
    flat0 = np.asarray(jax.vmap(lambda z: ravel_pytree(z)[0])(z0))
    solutions = [bfgs(flat) for flat in flat0]
    flat = [np.asarray(x) for x, _, _ in solutions]
    fun = np.array([float(f) for _, f, _ in solutions])
    converged = np.array([bool(c) for _, _, c in solutions])
    for i in np.argsort(np.where(np.isfinite(fun), fun, np.inf))[:n_polish]:
        x, value, newton_converged = newton(jnp.asarray(flat[i]))
        # the polish evaluates the objective in its own program: a start it cannot improve
        # may come back a rounding error above BFGS's value, and its verdict still counts
        rounding = 1e-9 * max(1.0, abs(fun[i]))
        if np.isfinite(float(value)) and float(value) <= fun[i] + rounding:
            flat[i], fun[i] = np.asarray(x), min(float(value), fun[i])
            converged[i] = converged[i] or bool(newton_converged)
    params = problem.constrain_all(jax.vmap(unravel)(jnp.asarray(np.stack(flat))))
    return _distinct_optima(params, fun, problem, converged)


def _distinct_optima(
    params: dict, fun: np.ndarray, problem: Problem, converged: np.ndarray | None = None
):
    if converged is None:
        converged = np.ones(np.shape(fun), bool)
    order = [i for i in np.argsort(fun) if np.isfinite(fun[i])]
    if not order:
        raise ValueError(
            f"spectrum {problem.spectrum.name!r}, model {problem.model.label}: every one of "
            f"the {np.size(fun)} MAP starts gave a non-finite log posterior; check the priors "
            "and the data"
        )
    optima, counts = [], []
    for i in order:
        candidate = {k: np.asarray(a[i]) for k, a in params.items()}
        for j, kept in enumerate(optima):
            same_centres = np.allclose(kept["centre"], candidate["centre"], atol=1e-4)
            if same_centres and abs(kept["_fun"] - fun[i]) < 1e-3:
                counts[j] += 1
                break
        else:
            candidate["_fun"] = float(fun[i])
            candidate["_converged"] = bool(converged[i])  # the optimum's best start
            optima.append(candidate)
            counts.append(1)
    offset = problem.spectrum.n_points * np.log(problem.scaling.ys)
    x0, dx, _ = problem.scaling
    with np.errstate(over="ignore"):  # a diverged start's centres (~1e90) round to inf
        centres = [np.round(x0 + dx * o["centre"], 6).tolist() for o in optima]
    table = pd.DataFrame(
        {
            "neg_log_posterior": [o.pop("_fun") + offset for o in optima],
            "n_starts": counts,
            "centres": centres,
            "converged": [o.pop("_converged") for o in optima],
        }
    )
    return optima, table


def map_diagnostics(optima: list[dict], table: pd.DataFrame) -> dict[str, Any]:
    """How far the multi-start MAP can be trusted, from its optima table.

    Returns ``starts_at_best`` (starts that reached the best optimum), ``starts_near_best``
    (those plus the starts at optima within :data:`NEAR_BEST_NATS` nats of it with every centre
    within :data:`NEAR_BEST_CENTRES` of the x range: the same basin, where BFGS stopped short),
    ``map_converged`` (the optimiser's own convergence criterion at the best start; see
    :func:`multi_start_map`) and ``map_trusted``: the best start converged and at least
    :data:`MIN_STARTS_AT_BEST` starts ended near the best.

    A best optimum that a single start found lies in a basin that most starts miss, so a
    better one may lie in a basin that no start reached: on two overlapping Gaussians on a
    decaying exponential (a certified nonlinear-regression problem) the default starts ended
    at 22 times the certified residual sum of squares, and 2 of 384 starts reached the right
    optimum. Stalled starts near a point where the optimiser did not converge prove nothing
    (measured: two BFGS stalls 119 nat above the right optimum of such a problem). Measured
    with the default 24 starts and keys 0-11: Nagata 2012 with K = 3 had 4-6 starts at the
    best (trusted for every key); the IR demo band (``ir_carbonyl_demo``, K = 3) 1-4 at the
    best and 1-4 near it (one key of 12 untrusted, at the right optimum).
    """
    gaps = table["neg_log_posterior"].to_numpy() - table["neg_log_posterior"].iloc[0]
    best = np.asarray(optima[0]["centre"])
    with np.errstate(invalid="ignore", over="ignore"):  # diverged starts' centres (~1e90)
        moved = np.array([np.max(np.abs(np.asarray(o["centre"]) - best)) for o in optima])
    near = (gaps <= NEAR_BEST_NATS) & (moved <= NEAR_BEST_CENTRES)
    starts_near = int(table["n_starts"].to_numpy()[near].sum())
    converged = table["converged"].iloc[0] if "converged" in table else True
    return {
        "starts_at_best": int(table["n_starts"].iloc[0]),
        "starts_near_best": starts_near,
        "map_converged": bool(converged),
        "map_trusted": bool(converged) and starts_near >= MIN_STARTS_AT_BEST,
    }


def warn_on_untrusted_map(result: Fit) -> None:
    """Emit a :class:`~deconv.exceptions.ConvergenceWarning` at the user's line when the MAP
    of ``result`` is not trusted (``result.diagnostics["map_trusted"]``, see
    :func:`map_diagnostics`)."""
    diagnostics = result.diagnostics
    if diagnostics.get("map_trusted", True):
        return
    n_total = int(result.optima["n_starts"].sum())
    messages = []
    if diagnostics["starts_near_best"] < MIN_STARTS_AT_BEST:
        messages.append(
            f"the best MAP optimum was reached by {diagnostics['starts_near_best']} of "
            f"{n_total} starts (fewer than {MIN_STARTS_AT_BEST}), so a better one may lie where "
            f"no start went: raise n_starts (e.g. to {4 * n_total}) and check that the best "
            "optimum stays the same"
        )
    named = any("convergence criterion" in p for p in convergence_problems(diagnostics))
    if not diagnostics["map_converged"] and not named:
        # (said once: by warn_on_poor_diagnostics where the convergence checks name it)
        messages.append(
            "the optimiser did not meet its convergence criterion at the best start (a ridge, "
            "a bound of the priors or a stalled start: see Fit.optima; raise n_starts)"
        )
    if messages:
        warnings.warn(
            f"{result.model.label}: " + "; and ".join(messages) + ".",
            ConvergenceWarning,
            stacklevel=v.caller_stacklevel(),
        )


# ---------------------------------------------------------------------------------------------
# NUTS


def _chain_inits(optima: list[dict], table: pd.DataFrame, num_chains: int, tolerance: float):
    """Distinct good optima (within ``tolerance`` nats of the best), jittered copies if fewer."""
    good = [
        o
        for o, f in zip(optima, table["neg_log_posterior"], strict=True)
        if f - table["neg_log_posterior"].iloc[0] <= tolerance
    ]
    chosen = [good[i % len(good)] for i in range(num_chains)]
    return chosen, [i >= len(good) for i in range(num_chains)]


def run_nuts(
    problem: Problem,
    optima: list[dict],
    table: pd.DataFrame,
    *,
    key: jax.Array,
    num_warmup: int,
    num_samples: int,
    num_chains: int,
    target_accept: float,
    dense_mass: bool,
    progress: bool,
    init_tolerance: float = 3.0,
) -> tuple[dict, dict]:
    """NUTS chains started from distinct MAP optima; returns (samples by chain, extra fields)."""
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1)))
    chosen, jitter = _chain_inits(optima, table, num_chains, init_tolerance)
    stacked = inside_support(problem, {k: np.stack([o[k] for o in chosen]) for k in chosen[0]})
    z = [{k: a[i] for k, a in stacked.items()} for i in range(num_chains)]
    for i, needs_jitter in enumerate(jitter):
        if needs_jitter:
            z[i] = {k: a + 0.01 * rng.standard_normal(np.shape(a)) for k, a in z[i].items()}
    init = {k: jnp.stack([zi[k] for zi in z]) for k in z[0]}
    kernel = NUTS(peak_model, target_accept_prob=target_accept, dense_mass=dense_mass)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="sequential",
        progress_bar=progress,
    )
    mcmc.run(
        key,
        problem.u,
        problem.v,
        init_params=init if num_chains > 1 else z[0],
        extra_fields=("diverging", "num_steps", "potential_energy"),
        **problem.kwargs,
    )
    samples = mcmc.get_samples(group_by_chain=True)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return samples, extra


# ---------------------------------------------------------------------------------------------
# the public entry point


def _as_key(key: Any, name: str = "key") -> jax.Array:
    """A raw JAX PRNG key from an int seed or a key, checked by
    :func:`deconv._validation.check_key` (``name`` names the argument in its errors)."""
    words = v.check_key(name, key)
    if len(words) == 1:
        return jax.random.PRNGKey(words[0])
    return jnp.asarray(words, dtype=jnp.uint32)


def fit(
    spectrum: Spectrum,
    n_peaks: int,
    *,
    shape: str = "pseudo_voigt",
    baseline: BaselineSpec = "linear",
    noise: str = "normal",
    priors: Priors | str | None = None,
    sigma: float | str | None = None,
    smallest_peak: float | None = None,
    method: str = "nuts",
    key: int | jax.Array = 0,
    n_starts: int = 24,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    num_chains: int = 4,
    target_accept: float = 0.9,
    dense_mass: bool = True,
    progress: bool = False,
) -> Fit:
    """Fit ``n_peaks`` peaks plus a baseline to one spectrum.

    Parameters
    ----------
    spectrum : Spectrum
        The data.
    n_peaks : int
        Number of peaks K.
    shape : {"gaussian", "lorentzian", "pseudo_voigt", "voigt"}
        Line shape of every peak.
    baseline : str, SplineBaseline or CustomBaseline
        Background model: ``"none"``, ``"constant"``, ``"linear"``, ``"quadratic"``,
        ``"cubic"`` (Chebyshev), ``"spline"`` (a penalised spline whose smoothness is inferred;
        :class:`~deconv.baselines.SplineBaseline` sets its segments or fixes the smoothness)
        or a user function.
    noise : {"normal", "student_t", "poisson"}
        Likelihood; Student-t is robust to outliers; Poisson is for counts (y whole numbers
        >= 0, no sigma; the free energy is that of the counts).
    priors : Priors, str or None
        Priors in user units; ``None`` scales them from the data; a preset name such as
        ``"nagata2012"``; unset fields of a :class:`Priors` are filled from the data.
    sigma : float, "data" or None
        Known noise standard deviation (user units), ``"data"`` to use the spectrum's per-point
        uncertainties, or ``None`` to infer it.
    smallest_peak : float, optional
        Height of the smallest peak you care about (user units); sets the amplitude prior's mode.
    method : {"map", "nuts"}
        Multi-start maximum a posteriori, or NUTS chains started from the best distinct optima.
    key : int or jax PRNG key
        Seed; fixed seeds give identical results.
    n_starts : int
        Number of optimiser starts (half greedy residual-seeded, half random).
    num_warmup, num_samples, num_chains : int
        NUTS settings (ignored for MAP).
    target_accept : float
        NUTS target acceptance probability; raise towards 0.95 if divergences appear.
    dense_mass : bool
        Adapt a dense mass matrix in NUTS (default; peak heights and widths are strongly
        correlated, and a dense matrix doubled the effective sample size per second on the
        IR-like benchmark).
    progress : bool
        Show NUTS progress bars.

    Returns
    -------
    Fit
        Posterior (arviz InferenceData in user units), peak table, diagnostics, report and plot.
        ``diagnostics`` holds the trust of the multi-start MAP (:func:`map_diagnostics`):
        ``starts_at_best``, ``starts_near_best``, ``map_converged`` and ``map_trusted``.

    Warns
    -----
    ConvergenceWarning
        If fewer than :data:`MIN_STARTS_AT_BEST` starts reached the best optimum (or its
        basin): raise ``n_starts``. Also if the NUTS diagnostics (r-hat, ESS, divergences)
        are poor.
    """
    v.check_choice("method", method, METHODS)
    v.check_positive_int("n_starts", n_starts)
    key = _as_key(key)
    if method == "nuts":
        for name, value in (
            ("num_warmup", num_warmup),
            ("num_samples", num_samples),
            ("num_chains", num_chains),
        ):
            v.check_positive_int(name, value)
        v.check_fraction("target_accept", target_accept)
        v.check_bool("dense_mass", dense_mass)
    problem = make_problem(
        spectrum,
        n_peaks,
        shape=shape,
        baseline=baseline,
        noise=noise,
        priors=priors,
        sigma=sigma,
        smallest_peak=smallest_peak,
    )
    _jax.make_room_for_programs()
    started = time.perf_counter()
    map_key, nuts_key, ppc_key = jax.random.split(key, 3)
    seed = int(jax.random.randint(map_key, (), 0, 2**31 - 1))
    optima, table = multi_start_map(problem, n_starts=n_starts, seed=seed)
    if method == "map":
        samples = {k: np.asarray(a)[None, None] for k, a in optima[0].items()}
        extra = None
    else:
        samples, extra = run_nuts(
            problem,
            optima,
            table,
            key=nuts_key,
            num_warmup=num_warmup,
            num_samples=num_samples,
            num_chains=num_chains,
            target_accept=target_accept,
            dense_mass=dense_mass,
            progress=progress,
        )
    result = build_fit(
        problem,
        method,
        samples,
        extra,
        table,
        key=ppc_key,
        wall_time=time.perf_counter() - started,
    )
    result.diagnostics.update(map_diagnostics(optima, table))
    warn_on_untrusted_map(result)
    warn_on_poor_diagnostics(result)
    return result
