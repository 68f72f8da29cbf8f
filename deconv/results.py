"""The :class:`Fit` result: posterior as arviz InferenceData in user units, tables and report."""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from deconv import _structured
from deconv import _validation as v
from deconv._arviz import az
from deconv.baselines import SplineBaseline, baseline_label
from deconv.exceptions import ConvergenceWarning, MisfitWarning
from deconv.misfit import MisfitCheck, misfit_check, standardised_residuals
from deconv.model import (
    PeakModel,
    Scaling,
    baseline_curve,
    count_scale,
    draw_counts,
    mean_curve,
    peak_components,
    pointwise_log_likelihood,
    to_user_units,
    vmap_draws,
)
from deconv.priors import describe
from deconv.spectrum import Spectrum

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from deconv.inference import Problem

PEAK_QUANTITIES = ("centre", "fwhm", "height", "area")
HDI_PROB = 0.94
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
MISFIT_MAX_DRAWS = 1000  # draws averaged into the posterior mean curve of the residual check
_MISFIT_CHUNK = 250  # draws evaluated at once (bounds memory: chunk x K x n)


TERM_DIMS = {"baseline": "baseline_term", "baseline_wiggle": "baseline_wiggle_term"}
"""The vector sites that are not per peak, and the dimension of each in InferenceData."""


def posterior_layout(
    user: dict[str, np.ndarray], n_peaks: int, x: np.ndarray
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``(coords, dims)`` of a user-unit posterior with leading (chain, draw) axes: ``peak``
    for per-peak quantities, :data:`TERM_DIMS` for baseline terms, ``x`` for the data."""
    coords: dict[str, Any] = {"peak": np.arange(1, n_peaks + 1), "x": x}
    dims: dict[str, list[str]] = {"y": ["x"]}
    for name, value in user.items():
        if name in TERM_DIMS:
            coords[TERM_DIMS[name]] = np.arange(value.shape[-1])
            dims[name] = [TERM_DIMS[name]]
        elif value.ndim == 3 and value.shape[-1] == n_peaks:
            dims[name] = ["peak"]
    return coords, dims


def _pointwise_fn(model: PeakModel, scaling: Any, u, v_obs, sigma_points, log_ys) -> Any:
    def one(params):
        return pointwise_log_likelihood(params, u, v_obs, model, scaling, sigma_points) - log_ys

    return one


def _predictive_fn(model: PeakModel, scaling: Any, u, sigma_points, ys) -> Any:
    def one(params, draw_key):
        mean = mean_curve(params, u, model, scaling)
        if model.noise == "poisson":  # counts, already in user units
            return draw_counts(draw_key, mean, count_scale(model, scaling, sigma_points))
        scale = sigma_points if sigma_points is not None else params["sigma"]
        if model.noise == "student_t":
            noise = jax.random.t(draw_key, params["nu"], mean.shape)
        else:
            noise = jax.random.normal(draw_key, mean.shape)
        return ys * (mean + scale * noise)

    return one


@partial(jax.jit, static_argnums=0)
def _structured_pointwise(structure: Any, samples: dict, data: dict) -> jnp.ndarray:
    kwargs = _structured.model_kwargs(structure, data["leaves"], data["sigma_points"])
    one = _pointwise_fn(
        kwargs["model"],
        _structured.IDENTITY,
        data["u"],
        data["v"],
        kwargs["sigma_points"],
        data["log_ys"],
    )
    return vmap_draws(one, samples, 2)


@partial(jax.jit, static_argnums=0)
def _structured_predictive(structure: Any, samples: dict, keys, data: dict) -> jnp.ndarray:
    kwargs = _structured.model_kwargs(structure, data["leaves"], data["sigma_points"])
    ys = jnp.exp(data["log_ys"])
    one = _predictive_fn(
        kwargs["model"], _structured.IDENTITY, data["u"], kwargs["sigma_points"], ys
    )
    return jax.vmap(jax.vmap(one))(samples, keys)


def _pointwise(problem: Problem, samples: dict) -> np.ndarray:
    """Pointwise log-likelihood of every draw (user units); compiled once per model structure
    where the model allows, else per call."""
    if _structured.supports(problem.model):
        structure, data = problem.structured
        return np.asarray(_structured_pointwise(structure, _drop_fixed(samples, structure), data))
    u, v_obs, scaling = problem.u, problem.v, problem.scaling
    one = _pointwise_fn(problem.model, scaling, u, v_obs, problem.sigma_points, 0.0)
    return np.asarray(vmap_draws(jax.jit(one), samples, 2))


def _predictive(problem: Problem, samples: dict, key: jax.Array) -> np.ndarray:
    """Posterior predictive draws of y (user units), noise included."""
    n_chains, n_draws = np.shape(samples["centre"])[:2]
    keys = jax.random.split(key, n_chains * n_draws).reshape(n_chains, n_draws, -1)
    if _structured.supports(problem.model):
        structure, data = problem.structured
        draws = _structured_predictive(structure, _drop_fixed(samples, structure), keys, data)
        return np.asarray(draws)
    model, scaling = problem.model, problem.scaling
    points = problem.sigma_points
    if points is None and model.priors.sigma is not None:
        points = model.priors.sigma / scaling.ys
    one = _predictive_fn(model, scaling, problem.u, points, scaling.ys)
    return np.asarray(jax.jit(jax.vmap(jax.vmap(one)))(samples, keys))


def _drop_fixed(samples: dict, structure: Any) -> dict:
    """The sampled sites only (a known sigma enters as per-point sigma, not as a draw)."""
    if structure.point_sigma:
        return {k: a for k, a in samples.items() if k != "sigma"}
    return samples


def build_idata(
    problem: Problem, samples: dict, extra: dict | None, key: jax.Array
) -> az.InferenceData:
    """Assemble the posterior, log likelihood, predictive and observed data in user units."""
    spectrum, model = problem.spectrum, problem.model
    user = to_user_units(samples, model, problem.scaling)
    coords, dims = posterior_layout(user, model.n_peaks, spectrum.x)
    sample_stats = None
    if extra is not None:
        sample_stats = {
            "diverging": np.asarray(extra["diverging"]),
            "n_steps": np.asarray(extra["num_steps"]),
            "lp": -np.asarray(extra["potential_energy"]),
        }
    return az.from_dict(
        posterior=user,
        log_likelihood={"y": _pointwise(problem, samples)},
        posterior_predictive={"y": _predictive(problem, samples, key)},
        observed_data={"y": spectrum.y},
        sample_stats=sample_stats,
        coords=coords,
        dims=dims,
    )


def _peak_table(idata: az.InferenceData, model: PeakModel, sampled: bool) -> pd.DataFrame:
    posterior = idata.posterior
    quantities = [q for q in (*PEAK_QUANTITIES, "eta", "fwhm_lorentz") if q in posterior]
    table = pd.DataFrame(index=pd.Index(np.arange(1, model.n_peaks + 1), name="peak"))
    hdi = az.hdi(posterior[quantities], hdi_prob=HDI_PROB) if sampled else None
    for name in quantities:
        values = posterior[name]
        table[name] = values.mean(("chain", "draw")).to_numpy()
        if sampled:
            table[f"{name}_sd"] = values.std(("chain", "draw"), ddof=1).to_numpy()
            table[f"{name}_hdi_low"] = hdi[name].sel(hdi="lower").to_numpy()
            table[f"{name}_hdi_high"] = hdi[name].sel(hdi="higher").to_numpy()
        else:
            for suffix in ("sd", "hdi_low", "hdi_high"):
                table[f"{name}_{suffix}"] = np.nan
    return table


def _diagnostics(idata: az.InferenceData, extra: dict | None, n_chains: int) -> dict[str, Any]:
    posterior = idata.posterior
    if posterior.sizes["draw"] == 1:
        return {"method": "map"}
    out: dict[str, Any] = {"n_chains": n_chains, "n_draws": int(posterior.sizes["draw"])}
    out["divergences"] = int(np.sum(extra["diverging"])) if extra is not None else 0
    if n_chains > 1:
        out["r_hat_max"] = float(az.rhat(posterior).to_array().max())
    else:
        out["r_hat_max"] = float("nan")
    out["ess_bulk_min"] = float(az.ess(posterior, method="bulk").to_array().min())
    out["ess_tail_min"] = float(az.ess(posterior, method="tail").to_array().min())
    if extra is not None:
        out["mean_steps"] = float(np.mean(extra["num_steps"]))
    return out


UNTRUSTED_MAP = " (NOT trusted: raise n_starts)"


def convergence_problems(diagnostics: dict[str, Any]) -> list[str]:
    """Human-readable list of failed convergence checks (empty when all pass)."""
    if diagnostics.get("method") == "map":
        if diagnostics.get("map_converged") is False:
            return ["the MAP optimiser did not meet its convergence criterion at the best start"]
        return []
    problems = []
    if diagnostics["r_hat_max"] > RHAT_MAX:
        problems.append(f"max r-hat {diagnostics['r_hat_max']:.3f} > {RHAT_MAX}")
    ess_min = ESS_PER_CHAIN_MIN * diagnostics["n_chains"]
    if diagnostics["ess_bulk_min"] < ess_min:
        problems.append(f"min bulk ESS {diagnostics['ess_bulk_min']:.0f} < {ess_min}")
    if diagnostics["divergences"] > 0:
        problems.append(f"{diagnostics['divergences']} divergent transitions")
    return problems


def warn_on_poor_diagnostics(result: Fit) -> None:
    """Emit a :class:`ConvergenceWarning` naming every failed check, then
    :func:`warn_on_misfit`; both point at the user's line."""
    problems = convergence_problems(result.diagnostics)
    if problems:
        warnings.warn(
            f"{result.model.label}: "
            + "; ".join(problems)
            + (
                ". Raise n_starts or check the priors (see Fit.optima)."
                if result.method == "map"
                else ". Run longer chains (num_warmup, num_samples), raise target_accept, or "
                "check whether the posterior is multimodal (see Fit.optima)."
            ),
            ConvergenceWarning,
            stacklevel=v.caller_stacklevel(),
        )
    warn_on_misfit(result)


def warn_on_misfit(result: Fit) -> None:
    """Emit a :class:`~deconv.exceptions.MisfitWarning` if the residual check of ``result``
    fires (:attr:`Fit.misfit`), pointing at the user's line.

    :func:`build_fit` never warns, so that loops building many fits (model selection, batches)
    can collect ``fit.misfit`` instead and warn once, with this function, for the fit they hand
    to the user.
    """
    check = result.misfit
    if check.misfit:
        warnings.warn(
            f"{result.model.label}: {check.describe()}",
            MisfitWarning,
            stacklevel=v.caller_stacklevel(),
        )


def _posterior_mean_curve(result: Fit) -> np.ndarray:
    """The posterior mean of the noise-free curve on the data axis (user units), averaged over
    at most :data:`MISFIT_MAX_DRAWS` evenly spaced draws (deterministic), evaluated without
    compilation (op by op) so that building a fit compiles nothing new."""
    x0, dx, ys = result.scaling
    u = jnp.asarray((result.spectrum.x - x0) / dx)
    model, scaling = result.model, result.scaling
    draws = result.draws()
    total = result.n_draws
    if total > MISFIT_MAX_DRAWS:
        index = np.unique(np.linspace(0, total - 1, MISFIT_MAX_DRAWS).round().astype(int))
        draws = {k: a[index] for k, a in draws.items()}
        total = index.size

    def one(params):
        return mean_curve(params, u, model, scaling)

    curve = np.zeros(u.shape)
    for start in range(0, total, _MISFIT_CHUNK):
        chunk = {k: jnp.asarray(a[start : start + _MISFIT_CHUNK]) for k, a in draws.items()}
        curve += np.asarray(jnp.sum(jax.vmap(one)(chunk), axis=0))
    return ys * curve / total


# Smallest fitted count at which the Pearson chi-square of Poisson counts is tested.
PEARSON_MIN_COUNT = 10.0


def residual_check(result: Fit) -> MisfitCheck:
    """The residual check of a fit (:func:`deconv.misfit.misfit_check`).

    The residuals are taken at the posterior mean curve and the posterior mean noise scale
    (for a MAP fit: at the MAP), which is cheap and deterministic; for a sharp posterior they
    are the residuals of any typical draw. The scale is the fixed sigma, the spectrum's
    per-point sigma (``sigma="data"``) or the posterior mean of the inferred sigma (Student-t
    noise: its scale); chi-square per point enters the verdict only with a known sigma and
    normal noise (an inferred sigma makes it ~1 by construction). Poisson counts are
    standardised by the square root of the fitted mean (Pearson residuals); their chi-square
    enters the verdict where every fitted mean is at least :data:`PEARSON_MIN_COUNT`, as the
    chi-square reference needs (each term's variance is 2 + 1/mean).
    """
    spectrum, priors = result.spectrum, result.model.priors
    mean = _posterior_mean_curve(result)
    sigma_known = result.model.noise == "normal"
    if result.model.noise == "poisson":
        scale = np.sqrt(np.maximum(mean, np.finfo(float).tiny))
        sigma_known = bool(np.min(mean) >= PEARSON_MIN_COUNT)
    elif priors.sigma is not None:
        scale: Any = priors.sigma
    elif "sigma" in result.samples_internal:
        scale = result.scaling.ys * float(np.mean(result.samples_internal["sigma"]))
        sigma_known = False
    elif spectrum.sigma is not None:
        scale = spectrum.sigma
    else:  # e.g. a stored fit whose per-point sigma was not kept: the residuals' own rms
        scale = float(np.sqrt(np.mean((spectrum.y - mean) ** 2))) or 1.0
        sigma_known = False
    r = standardised_residuals(spectrum.y, mean, scale)
    return misfit_check(r, sigma_known=sigma_known)


@dataclass(frozen=True, eq=False)
class Fit:
    """One spectrum fitted under one model.

    Attributes
    ----------
    spectrum : Spectrum
        The data.
    model : PeakModel
        The model (K, shape, baseline, noise, priors).
    method : str
        ``"map"`` or ``"nuts"``.
    idata : arviz.InferenceData
        ``posterior`` (user units: ``centre``, ``fwhm``, ``height``, ``area`` per peak, shape
        parameters, ``baseline`` coefficients, ``sigma``), ``log_likelihood``,
        ``posterior_predictive`` and ``observed_data``. A MAP fit holds one draw.
    optima : pandas.DataFrame
        The distinct optima of the multi-start MAP, best first.
    diagnostics : dict
        r-hat, ESS, divergences (NUTS), wall time, the MAP's ``starts_at_best``,
        ``starts_near_best``, ``map_converged`` and ``map_trusted`` (from :func:`deconv.fit`;
        see :func:`deconv.inference.map_diagnostics`) and the residual check's key numbers
        (``misfit``, ``misfit_p_min``, ``misfit_lag1``, ...; see :attr:`Fit.misfit`).
    """

    spectrum: Spectrum
    model: PeakModel
    method: str
    idata: az.InferenceData
    optima: pd.DataFrame
    diagnostics: dict[str, Any]
    scaling: Scaling
    samples_internal: dict[str, np.ndarray] = field(repr=False)

    def __post_init__(self) -> None:
        # a fresh dict: the caller's is left alone, and every Fit (built, batched or loaded
        # from a store) carries the residual check's numbers
        object.__setattr__(self, "diagnostics", {**self.diagnostics, **self.misfit.as_dict()})

    @cached_property
    def misfit(self) -> MisfitCheck:
        """Whether the model describes the data at the noise level (:func:`residual_check`).

        ``fit.misfit.misfit`` is the verdict, ``fit.misfit.describe()`` says it in words; the
        public :func:`deconv.fit` emits a :class:`~deconv.exceptions.MisfitWarning` when it
        fires. A fit that misfits has a free energy that keeps falling as peaks are added.
        """
        return residual_check(self)

    @cached_property
    def peak_table(self) -> pd.DataFrame:
        """Centre, FWHM, height and area per peak: mean, sd and 94 % HDI (user units)."""
        return _peak_table(self.idata, self.model, self.method != "map")

    @property
    def n_draws(self) -> int:
        return int(np.prod(np.shape(self.samples_internal["centre"])[:2]))

    def draws(self, n_draws: int | None = None, *, seed: int = 0) -> dict[str, np.ndarray]:
        """Internal-unit draws flattened to one leading axis, optionally thinned at random."""
        flat = {k: np.reshape(a, (-1, *np.shape(a)[2:])) for k, a in self.samples_internal.items()}
        total = self.n_draws
        if n_draws is None or n_draws >= total:
            return flat
        index = np.random.default_rng(seed).choice(total, n_draws, replace=False)
        return {k: a[index] for k, a in flat.items()}

    def predict(self, x: np.ndarray | None = None, *, n_draws: int | None = 200) -> dict:
        """Posterior draws of the noise-free curve, its peaks and baseline (user units).

        Returns a dict with ``x``, ``total`` (draws, n), ``peaks`` (draws, K, n) and
        ``baseline`` (draws, n).
        """
        x = self.spectrum.x if x is None else np.asarray(x, dtype=float)
        x0, dx, ys = self.scaling
        u = jnp.asarray((x - x0) / dx)
        model, scaling = self.model, self.scaling

        def one(params):
            peaks = peak_components(params, u, model)
            return peaks, baseline_curve(params, u, model, scaling)

        peaks, base = jax.jit(jax.vmap(one))(self.draws(n_draws))
        peaks, base = ys * np.asarray(peaks), ys * np.asarray(base)
        return {"x": x, "total": peaks.sum(axis=1) + base, "peaks": peaks, "baseline": base}

    def _baseline_text(self) -> str:
        """The baseline's label; for a spline its segments and smoothness (prior or value)."""
        baseline = self.model.baseline
        if not isinstance(baseline, SplineBaseline):
            return baseline_label(baseline)
        smoothness = (
            f"smoothness ~ {describe(self.model.priors.smoothness)}"
            if baseline.smoothness is None
            else f"smoothness fixed at {baseline.smoothness:g}"
        )
        return f"{baseline.label} ({baseline.segments} segments, {smoothness})"

    def report(self) -> str:
        """A plain-text report: model, priors, diagnostics and the peak table."""
        pri = self.model.priors
        lines = [
            f"specbayes fit of {self.spectrum.name!r} ({self.spectrum.n_points} points)",
            f"model    : {self.model.label}, noise {self.model.noise}",
            f"method   : {self.method}",
            "priors   : "
            + ", ".join(
                f"{name} ~ {describe(getattr(pri, attr))}"
                for name, attr in (
                    ("centre", "centre"),
                    (pri.width_kind, "width"),
                    (pri.amplitude_kind, "amplitude"),
                )
            )
            + (f", sigma fixed at {pri.sigma:g}" if pri.sigma is not None else ""),
            f"baseline : {self._baseline_text()}",
            f"MAP      : {len(self.optima)} distinct optima; best -log p(theta, y) = "
            f"{self.optima['neg_log_posterior'].iloc[0]:.3f} reached by "
            f"{self.optima['n_starts'].iloc[0]} of {int(self.optima['n_starts'].sum())} starts"
            + ("" if self.diagnostics.get("map_trusted", True) else UNTRUSTED_MAP),
        ]
        diagnostics = {
            k: value
            for k, value in self.diagnostics.items()
            if k != "method" and not k.startswith("misfit")
        }
        if diagnostics:
            lines.append(
                "diagnost.: " + ", ".join(f"{k}={_fmt(value)}" for k, value in diagnostics.items())
            )
        problems = convergence_problems(self.diagnostics)
        lines.append("converged: " + ("NO - " + "; ".join(problems) if problems else "yes"))
        check = self.misfit
        lines.append(f"misfit   : {'YES' if check.misfit else 'no'} ({check.summary()})")
        if check.misfit:
            lines.append(f"           {check.describe()}")
        hidden = ("_hdi_low", "_hdi_high") + (("_sd",) if self.method == "map" else ())
        columns = [c for c in self.peak_table.columns if not c.endswith(hidden)]
        lines += ["", self.peak_table[columns].to_string(float_format=lambda f: f"{f:.6g}")]
        if "sigma" in self.idata.posterior:
            sigma = float(self.idata.posterior["sigma"].mean())
            which = "MAP" if self.method == "map" else "posterior mean"
            lines.append(f"\nnoise sigma ({which}): {sigma:.6g}")
        return "\n".join(lines)

    def plot(self, axes: Any = None, **kwargs: Any) -> Axes:
        """Data, posterior mean with credible band, components and residuals.

        See :func:`deconv.plotting.plot_fit`.
        """
        from deconv.plotting import plot_fit

        return plot_fit(self, axes=axes, **kwargs)

    def _repr_html_(self) -> str:
        title = html.escape(f"Fit: {self.model.label} ({self.method}) of {self.spectrum.name}")
        problems = convergence_problems(self.diagnostics)
        status = "converged" if not problems else "NOT converged: " + "; ".join(problems)
        if self.misfit.misfit:
            status += "; misfit: " + self.misfit.describe()
        return f"<h4>{title}</h4><p>{html.escape(status)}</p>" + self.peak_table.to_html(
            float_format=lambda f: f"{f:.5g}"
        )

    def __repr__(self) -> str:
        return f"Fit({self.model.label}, method={self.method!r}, spectrum={self.spectrum.name!r})"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def build_fit(
    problem: Problem,
    method: str,
    samples: dict,
    extra: dict | None,
    optima: pd.DataFrame,
    *,
    key: jax.Array,
    wall_time: float,
) -> Fit:
    """Turn internal samples (chain, draw, ...) into a :class:`Fit`."""
    samples = {k: jnp.asarray(a) for k, a in samples.items()}
    idata = build_idata(problem, samples, extra, key)
    n_chains = int(np.shape(samples["centre"])[0])
    diagnostics = _diagnostics(idata, extra, n_chains)
    diagnostics["wall_time_s"] = round(wall_time, 3)
    return Fit(
        spectrum=problem.spectrum,
        model=problem.model,
        method=method,
        idata=idata,
        optima=optima,
        diagnostics=diagnostics,
        scaling=problem.scaling,
        samples_internal={k: np.asarray(a) for k, a in samples.items()},
    )
