"""The NumPyro peak-mixture model: one function for any number of peaks.

For a spectrum y(x) and a candidate model (K peaks of one shape, a baseline, a noise model)::

    y_j = b(x_j) + sum_k A_k s(x_j; mu_k, w_k, ...) + e_j

The model runs on scaled data, ``u = (x - x0) / dx`` in [0, 1] and ``v = y / ys``; every prior is
given in user units and mapped exactly (:class:`deconv.priors.AffineDistribution`). Peak centres
are ordered, ``mu_1 < ... < mu_K``, with the order-statistics prior (K! times the product of the
per-peak prior on the ordered set) so that ordering leaves the evidence unchanged.

Noise models
------------
``"normal"`` and ``"student_t"``: ``e_j`` with a scale sigma (inferred, fixed, or per point).

``"poisson"``, for detectors that count (EDS, XPS, XRD, Raman): ``y_j ~ Poisson(mu_j)`` with
``mu_j = b(x_j) + sum_k A_k s(x_j; ...)`` in counts, and no sigma (the variance is the mean).
``y`` must hold non-negative integers (:meth:`PeakModel.check_data`). Peaks are positive by their
priors; a baseline may dip below zero, so the mean is floored at :data:`POISSON_FLOOR` times the
count scale ``ys`` (``mu_j = max(mean_j, 1e-10 ys)``): the log-likelihood stays finite, a point
that holds counts under a mean at the floor costs ``~23`` nats per count (so fits keep the mean
positive wherever there are counts), and a point with zero counts is free there. The model is
this floored mean, exactly, so its free energy stays exact. Baseline priors are in counts (the
data-scaled defaults of :func:`deconv.priors.default_priors` are).

Units of the likelihood: internally ``v = y / ys``. For a density, ``p_v(v) = ys p_y(ys v)``,
so log-likelihoods in user units are internal ones minus ``log ys`` a point. The Poisson law of
``v`` (:class:`ScaledPoisson`) is the pmf of the counts ``y = ys v`` taken as a density on the
lattice ``{k / ys}`` (mass ``1 / ys`` per lattice point), ``p_v(v) = ys P(Y = ys v)``: it obeys
the same rule, so every ``- log ys`` a point made elsewhere for the user's units (free energies,
MAP objectives, pointwise log-likelihoods) turns it into the exact pmf of the observed counts,
``-log(y_j!)`` included, and F = -log P(y | M) with no separate offset for counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from jax.scipy.special import gammaln
from numpyro import distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions import transforms as T

from deconv import (
    _jax,  # noqa: F401
    lineshapes,
)
from deconv import _validation as v
from deconv.baselines import (
    POLYNOMIAL_DEGREES,
    BaselineSpec,
    CustomBaseline,
    SplineBaseline,
    baseline_label,
    check_baseline,
    n_baseline_parameters,
    polynomial_baseline,
    spline_baseline,
)
from deconv.priors import AffineDistribution, Priors

NOISE_MODELS = ("normal", "student_t", "poisson")
FOUR_LN2 = 4.0 * np.log(2.0)
POISSON_FLOOR = 1e-10
"""Floor of the Poisson mean in internal units (a fraction of the count scale ``ys``)."""


# ---------------------------------------------------------------------------------------------
# ordered i.i.d. centres


class _Ordered(constraints.Constraint):
    """Strictly increasing vectors whose elements lie in ``base``'s support."""

    event_dim = 1

    def __init__(self, base: constraints.Constraint) -> None:
        self.base = base
        super().__init__()

    def __call__(self, x):
        increasing = jnp.all(x[..., 1:] > x[..., :-1], axis=-1)
        return increasing & jnp.all(self.base(x), axis=-1)

    def feasible_like(self, prototype):
        n = prototype.shape[-1]
        grid = jnp.broadcast_to(jnp.linspace(-1.0, 1.0, n), prototype.shape)
        return T.biject_to(self.base)(grid)

    def tree_flatten(self):
        return (), ((), {"base": self.base})


@T.biject_to.register(_Ordered)
def _ordered_bijection(constraint: _Ordered) -> T.Transform:
    # ordered reals, then the base support's elementwise (increasing) bijection
    return T.ComposeTransform([T.OrderedTransform(), T.biject_to(constraint.base)])


class OrderedIID(dist.Distribution):
    """The K order statistics of i.i.d. draws from ``base``.

    Density on the ordered set: ``K! * prod_k base(x_k)``; drawing sorts i.i.d. draws.
    """

    arg_constraints: ClassVar[dict] = {}
    pytree_data_fields = ("base",)
    pytree_aux_fields = ("n",)

    def __init__(self, base: dist.Distribution, n: int) -> None:
        self.base, self.n = base, n
        super().__init__(batch_shape=(), event_shape=(n,))

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self) -> constraints.Constraint:
        return _Ordered(self.base.support)

    def sample(self, key, sample_shape=()):
        draws = self.base.sample(key, (*sample_shape, self.n))
        return jnp.sort(draws, axis=-1)

    def log_prob(self, value):
        return gammaln(self.n + 1.0) + jnp.sum(self.base.log_prob(value), axis=-1)


# ---------------------------------------------------------------------------------------------
# counts


class ScaledPoisson(dist.Distribution):
    """The law of ``Y / scale`` for counts ``Y ~ Poisson(scale * rate)``.

    Its density is taken on the lattice ``{k / scale}`` with mass ``1 / scale`` per point:
    ``log_prob(v) = log P(Y = scale v) + log scale``. This is how a density of ``v = y / ys``
    relates to one of ``y`` (``p_v(v) = ys p_y(ys v)``), so the model's usual ``- log ys`` a
    point gives the exact log pmf of the counts.

    Parameters
    ----------
    rate : array
        Mean of ``Y / scale`` (internal units; positive).
    scale : array or float
        Counts per internal unit (the count scale ``ys``), positive.
    """

    arg_constraints: ClassVar[dict] = {
        "rate": constraints.positive,
        "scale": constraints.positive,
    }
    support = constraints.nonnegative
    pytree_data_fields = ("rate", "scale")

    def __init__(self, rate, scale) -> None:
        self.rate, self.scale = rate, scale
        shape = jax.lax.broadcast_shapes(jnp.shape(rate), jnp.shape(scale))
        super().__init__(batch_shape=shape)

    def counts(self, value) -> jnp.ndarray:
        """The counts ``scale * value``, rounded (``value`` is ``y / ys`` up to round-off)."""
        return jnp.round(self.scale * value)

    def log_prob(self, value):
        counts, mean = self.counts(value), self.scale * self.rate
        return (
            jax.scipy.special.xlogy(counts, mean)
            - mean
            - gammaln(counts + 1.0)
            + jnp.log(self.scale)
        )

    def sample(self, key, sample_shape=()):
        shape = (*sample_shape, *self.batch_shape)
        counts = jax.random.poisson(key, self.scale * self.rate, shape)
        return counts.astype(jnp.result_type(float)) / self.scale

    @property
    def mean(self):
        return jnp.broadcast_to(self.rate, self.batch_shape)

    @property
    def variance(self):
        return jnp.broadcast_to(self.rate / self.scale, self.batch_shape)


def poisson_rate(mean: jnp.ndarray) -> jnp.ndarray:
    """The Poisson mean (internal units): ``mean`` floored at :data:`POISSON_FLOOR`."""
    return jnp.maximum(mean, POISSON_FLOOR)


def count_scale(model: PeakModel, scaling: Scaling, sigma_points=None):
    """Counts per internal unit of intensity, for ``noise="poisson"``.

    ``scaling.ys``, except where the per-point array carries it: the structured problem layer
    (:mod:`deconv._structured`) evaluates the model on the identity scaling and passes the count
    scale per point in ``sigma_points``, which the Poisson model has no other use for.
    """
    return scaling.ys if sigma_points is None else sigma_points


def draw_counts(key: jax.Array, mean: jnp.ndarray, scale) -> jnp.ndarray:
    """Counts drawn from the Poisson model (user units, float): ``Poisson(scale * rate)`` with
    ``rate`` the floored internal ``mean`` (:func:`poisson_rate`) and ``scale`` the count
    scale (:func:`count_scale`)."""
    counts = jax.random.poisson(key, scale * poisson_rate(mean), jnp.shape(mean))
    return counts.astype(jnp.result_type(float))


def check_counts(name: str, y: Any) -> np.ndarray:
    """``y`` as float64 if it holds non-negative integers (float arrays of whole numbers too),
    else a ``ValueError`` naming ``name`` and the first offending value."""
    array = np.asarray(y, dtype=float)
    bad = ~np.isfinite(array) | (array < 0) | (array != np.round(array))
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        v.fail(
            name,
            "hold counts (non-negative integers) with noise='poisson'",
            f"{float(array.flat[index]):g} at index {index}",
        )
    return array


# ---------------------------------------------------------------------------------------------
# model specification


class Scaling(NamedTuple):
    """Internal units: ``u = (x - x0) / dx`` and ``v = y / ys``."""

    x0: float
    dx: float
    ys: float


@dataclass(frozen=True)
class PeakModel:
    """A candidate model: number of peaks, line shape, baseline, noise model and priors.

    Parameters
    ----------
    n_peaks : int
        Number of peaks K (>= 1).
    shape : str
        Line shape name from :data:`deconv.lineshapes.LINESHAPES`.
    baseline : str, SplineBaseline or CustomBaseline
        ``"none"``, ``"constant"``, ``"linear"``, ``"quadratic"``, ``"cubic"`` (Chebyshev),
        ``"spline"`` (a penalised spline, :class:`~deconv.baselines.SplineBaseline`, which the
        model holds in place of the name) or a :class:`~deconv.baselines.CustomBaseline`.
    noise : str
        ``"normal"``, ``"student_t"`` (robust to outliers) or ``"poisson"`` (counts, no sigma;
        see the module docstring for the floor of the mean).
    priors : Priors
        Complete priors in user units (see :func:`deconv.priors.resolve_priors`).
    ordered : bool
        Order the centres (default). ``False`` samples them i.i.d. and unordered, which leaves
        the evidence unchanged but makes the posterior K!-modal; it exists to test exactly that.
    """

    n_peaks: int
    shape: str = "pseudo_voigt"
    baseline: BaselineSpec = "linear"
    noise: str = "normal"
    priors: Priors = field(default_factory=Priors)
    ordered: bool = True

    def __post_init__(self) -> None:
        v.check_positive_int("n_peaks", self.n_peaks)
        lineshapes.get_lineshape(self.shape)
        object.__setattr__(self, "baseline", check_baseline(self.baseline))
        v.check_choice("noise", self.noise, NOISE_MODELS)
        if not isinstance(self.priors, Priors):
            v.fail("priors", "be a Priors instance", self.priors, error=TypeError)
        if self.noise == "poisson" and self.priors.sigma is not None:
            v.fail(
                "sigma",
                "be None with noise='poisson' (its variance is its mean)",
                self.priors.sigma,
            )

    def check_data(self, spectrum: Any, sigma: Any = None) -> None:
        """Check the data against the noise model, before any work.

        With ``noise="poisson"``, ``spectrum.y`` must hold counts (:func:`check_counts`) and
        ``sigma`` (a known sigma, or ``"data"``) must be None; other noise models accept any
        data.

        Raises
        ------
        ValueError
            Counts that are negative or not whole, or a sigma given with Poisson noise.
        """
        if self.noise != "poisson":
            return
        if sigma is not None:
            v.fail("sigma", "be None with noise='poisson' (its variance is its mean)", sigma)
        check_counts("y", spectrum.y)

    @property
    def extra_params(self) -> tuple[str, ...]:
        return lineshapes.get_lineshape(self.shape).extra_params

    @property
    def n_parameters(self) -> int:
        """Number of free parameters (counts a fixed sigma, and Poisson noise, as none)."""
        per_peak = 3 + len(self.extra_params)
        noise = 0 if self.priors.sigma is not None or self.noise == "poisson" else 1
        return (
            self.n_peaks * per_peak
            + n_baseline_parameters(self.baseline)
            + noise
            + (self.noise == "student_t")
        )

    @property
    def label(self) -> str:
        """A short name such as ``"K=3 pseudo_voigt + linear"``."""
        return f"K={self.n_peaks} {self.shape} + {baseline_label(self.baseline)}"


def width_site(model: PeakModel) -> str:
    return model.priors.width_kind


def amplitude_site(model: PeakModel) -> str:
    return model.priors.amplitude_kind


def scaled_priors(model: PeakModel, scaling: Scaling) -> dict[str, dist.Distribution]:
    """Priors of the sampled sites in internal units."""
    x0, dx, ys = scaling
    pri = model.priors
    width_scale = 1.0 / dx if pri.width_kind == "fwhm" else dx**2
    amplitude_scale = 1.0 / ys if pri.amplitude_kind == "height" else 1.0 / (ys * dx)
    out = {
        "centre": AffineDistribution(pri.centre, -x0 / dx, 1.0 / dx),
        pri.width_kind: AffineDistribution(pri.width, 0.0, width_scale),
        pri.amplitude_kind: AffineDistribution(pri.amplitude, 0.0, amplitude_scale),
        "eta": pri.eta,
        "fwhm_lorentz": AffineDistribution(pri.fwhm_lorentz, 0.0, 1.0 / dx),
        "baseline": AffineDistribution(pri.baseline, 0.0, 1.0 / ys),
        "nu": pri.nu,
    }
    if pri.sigma is None and model.noise != "poisson":
        out["sigma"] = AffineDistribution(pri.noise, 0.0, 1.0 / ys)
    if isinstance(model.baseline, SplineBaseline) and model.baseline.smoothness is None:
        out["smoothness"] = AffineDistribution(pri.smoothness, 0.0, 1.0 / ys**2)
    return out


def wiggle_prior(spline: SplineBaseline, smoothness: Any, ys) -> dist.Distribution:
    """The prior of a spline's penalised terms in internal units (:mod:`deconv.baselines`).

    ``N(0, (s / ys)**2 I)`` at a fixed smoothness ``s``; else the multivariate Student-t with
    ``2 alpha`` degrees of freedom and scale ``sqrt(beta / alpha)`` that integrating
    ``s**2 ~ InverseGamma(alpha, beta)`` leaves, ``smoothness`` being that prior in internal
    units (the ``"smoothness"`` entry of :func:`scaled_priors`).
    """
    size = spline.segments + 1
    if spline.smoothness is not None:
        return dist.Normal(0.0, spline.smoothness / ys).expand([size]).to_event(1)
    alpha, beta = inverse_gamma_parameters(smoothness)
    scale = jnp.sqrt(beta / alpha) * jnp.eye(size)
    return dist.MultivariateStudentT(2.0 * alpha, jnp.zeros(size), scale)


def inverse_gamma_parameters(prior: dist.Distribution) -> tuple[Any, Any]:
    """``(alpha, beta)`` of an ``InverseGamma`` under any number of :class:`AffineDistribution`
    scalings (``c X ~ InverseGamma(alpha, c beta)``)."""
    scale = 1.0
    while isinstance(prior, AffineDistribution):
        scale = scale * prior.scale
        prior = prior.base
    return prior.concentration, scale * prior.rate


# ---------------------------------------------------------------------------------------------
# the mean function, shared by the model, predictions and plots


def fwhm_of(params: dict[str, jnp.ndarray], model: PeakModel) -> jnp.ndarray:
    """FWHM (internal units) from the sampled width parameter."""
    if model.priors.width_kind == "fwhm":
        return params["fwhm"]
    return jnp.sqrt(2.0 * FOUR_LN2 / params["precision"])


def peak_components(
    params: dict[str, jnp.ndarray], u: jnp.ndarray, model: PeakModel
) -> jnp.ndarray:
    """Each peak on the grid ``u``, shape ``(K, n)``, internal units (data axis fastest)."""
    shape = lineshapes.get_lineshape(model.shape)
    fwhm = fwhm_of(params, model)[:, None]
    extra = [params[name][:, None] for name in shape.extra_params]
    profile = shape.profile(u[None, :], params["centre"][:, None], fwhm, *extra)
    if model.priors.amplitude_kind == "area":
        return params["area"][:, None] * profile
    named_extra = dict(zip(shape.extra_params, extra, strict=True))
    peak = lineshapes.peak_value(model.shape, fwhm, **named_extra)
    return params["height"][:, None] * profile / peak


def baseline_curve(
    params: dict[str, jnp.ndarray], u: jnp.ndarray, model: PeakModel, scaling: Scaling
) -> jnp.ndarray:
    """The baseline on ``u`` (internal units)."""
    if isinstance(model.baseline, CustomBaseline):
        x_user = scaling.x0 + scaling.dx * u
        named = {name: params[f"baseline_{name}"] for name in model.baseline.priors}
        return model.baseline.function(x_user, **named) / scaling.ys
    if isinstance(model.baseline, SplineBaseline):
        return spline_baseline(
            u,
            params["baseline"],
            params["baseline_wiggle"],
            model.baseline.segments,
        )
    if model.baseline == "none":
        return jnp.zeros_like(u)
    return polynomial_baseline(u, params["baseline"])


def mean_curve(
    params: dict[str, jnp.ndarray], u: jnp.ndarray, model: PeakModel, scaling: Scaling
) -> jnp.ndarray:
    """Noise-free model spectrum on ``u`` (internal units)."""
    peaks = jnp.sum(peak_components(params, u, model), axis=0)
    return peaks + baseline_curve(params, u, model, scaling)


def noise_scale(
    params: dict[str, jnp.ndarray], model: PeakModel, scaling: Scaling, sigma_points
) -> jnp.ndarray:
    """Noise standard deviation per point or scalar (internal units)."""
    if sigma_points is not None:
        return sigma_points
    if model.priors.sigma is not None:
        return model.priors.sigma / scaling.ys
    return params["sigma"]


def pointwise_log_likelihood(
    params: dict[str, jnp.ndarray],
    u: jnp.ndarray,
    v_obs: jnp.ndarray,
    model: PeakModel,
    scaling: Scaling,
    sigma_points=None,
) -> jnp.ndarray:
    """log p(y_j | theta) per point **in the user's units** (includes ``-log ys``).

    With ``noise="poisson"`` this is the log pmf of the counts ``y_j``, ``-log(y_j!)``
    included (see :class:`ScaledPoisson`; ``sigma_points`` may carry the count scale,
    :func:`count_scale`).
    """
    mean = mean_curve(params, u, model, scaling)
    if model.noise == "poisson":
        law = ScaledPoisson(poisson_rate(mean), count_scale(model, scaling, sigma_points))
        return law.log_prob(v_obs) - jnp.log(scaling.ys)
    scale = noise_scale(params, model, scaling, sigma_points)
    if model.noise == "student_t":
        log_density = dist.StudentT(params["nu"], mean, scale).log_prob(v_obs)
    else:
        log_density = dist.Normal(mean, scale).log_prob(v_obs)
    return log_density - jnp.log(scaling.ys)


# ---------------------------------------------------------------------------------------------
# the NumPyro model


def peak_model(
    u: jnp.ndarray,
    v_obs: jnp.ndarray | None = None,
    *,
    model: PeakModel,
    scaling: Scaling,
    sigma_points: jnp.ndarray | None = None,
) -> None:
    """NumPyro model of a spectrum on internal units ``u`` (axis) and ``v_obs`` (intensities).

    Sites: ``centre`` (ordered, K), per peak (plate ``peak``) the width (``fwhm`` or
    ``precision``), the amplitude (``height`` or ``area``) and the shape's extra parameters
    (``eta`` or ``fwhm_lorentz``); ``baseline`` (Chebyshev coefficients, plate
    ``baseline_term``) or ``baseline_<name>`` for a custom baseline; ``sigma`` unless fixed
    or Poisson; ``nu`` for Student-t noise; the observation ``v`` (for Poisson noise a
    :class:`ScaledPoisson`, whose count scale ``sigma_points`` may carry, :func:`count_scale`).
    """
    priors = scaled_priors(model, scaling)
    params: dict[str, jnp.ndarray] = {}
    if model.ordered:
        params["centre"] = numpyro.sample("centre", OrderedIID(priors["centre"], model.n_peaks))
    with numpyro.plate("peak", model.n_peaks):
        if not model.ordered:
            params["centre"] = numpyro.sample("centre", priors["centre"])
        for name in (model.priors.width_kind, model.priors.amplitude_kind, *model.extra_params):
            params[name] = numpyro.sample(name, priors[name])
    _sample_baseline(params, model, priors, scaling)
    if model.noise == "poisson":
        mean = mean_curve(params, u, model, scaling)
        likelihood = ScaledPoisson(poisson_rate(mean), count_scale(model, scaling, sigma_points))
        numpyro.sample("v", likelihood, obs=v_obs)
        return
    if model.priors.sigma is None and sigma_points is None:
        params["sigma"] = numpyro.sample("sigma", priors["sigma"])
    if model.noise == "student_t":
        params["nu"] = numpyro.sample("nu", priors["nu"])
    mean = mean_curve(params, u, model, scaling)
    scale = noise_scale(params, model, scaling, sigma_points)
    if model.noise == "student_t":
        likelihood = dist.StudentT(params["nu"], mean, scale)
    else:
        likelihood = dist.Normal(mean, scale)
    numpyro.sample("v", likelihood, obs=v_obs)


def _sample_baseline(params: dict, model: PeakModel, priors: dict, scaling: Scaling) -> None:
    if isinstance(model.baseline, CustomBaseline):
        for name, prior in model.baseline.priors.items():
            params[f"baseline_{name}"] = numpyro.sample(f"baseline_{name}", prior)
        return
    if isinstance(model.baseline, SplineBaseline):
        _sample_spline(params, model.baseline, priors, scaling.ys)
        return
    degree = POLYNOMIAL_DEGREES[model.baseline]
    if degree >= 0:
        with numpyro.plate("baseline_term", degree + 1):
            params["baseline"] = numpyro.sample("baseline", priors["baseline"])


def _sample_spline(params: dict, spline: SplineBaseline, priors: dict, ys) -> None:
    with numpyro.plate("baseline_term", 2):
        params["baseline"] = numpyro.sample("baseline", priors["baseline"])
    wiggle = wiggle_prior(spline, priors.get("smoothness"), ys)
    params["baseline_wiggle"] = numpyro.sample("baseline_wiggle", wiggle)


def to_user_units(
    samples: dict[str, Any], model: PeakModel, scaling: Scaling
) -> dict[str, np.ndarray]:
    """Map internal samples (any leading draw axes) to user units, adding derived quantities.

    Returns ``centre``, ``fwhm`` (total FWHM), ``height``, ``area`` and the shape's extra
    parameters per peak, the baseline parameters and ``sigma``/``nu`` where sampled.
    """
    x0, dx, ys = scaling
    shape = lineshapes.get_lineshape(model.shape)
    fwhm = jnp.asarray(fwhm_of(samples, model))
    extra = {name: jnp.asarray(samples[name]) for name in shape.extra_params}
    if model.priors.amplitude_kind == "height":
        height = jnp.asarray(samples["height"])
        area = lineshapes.height_to_area(model.shape, height, fwhm, **extra)
    else:
        area = jnp.asarray(samples["area"])
        height = lineshapes.area_to_height(model.shape, area, fwhm, **extra)
    total = lineshapes.total_fwhm(model.shape, fwhm, **extra)
    out = {
        "centre": x0 + dx * jnp.asarray(samples["centre"]),
        "fwhm": dx * total,
        "height": ys * height,
        "area": ys * dx * area,
    }
    if "eta" in extra:
        out["eta"] = extra["eta"]
    if "fwhm_lorentz" in extra:
        out["fwhm_gauss"] = dx * fwhm
        out["fwhm_lorentz"] = dx * extra["fwhm_lorentz"]
    if model.priors.width_kind == "precision":
        out["precision"] = jnp.asarray(samples["precision"]) / dx**2
    for name, value in samples.items():
        if name in ("baseline", "baseline_wiggle"):
            out[name] = ys * jnp.asarray(value)
        elif name.startswith("baseline_"):
            out[name] = jnp.asarray(value)
    if "sigma" in samples:
        out["sigma"] = ys * jnp.asarray(samples["sigma"])
    if "nu" in samples:
        out["nu"] = jnp.asarray(samples["nu"])
    return {name: np.asarray(value) for name, value in out.items()}


def vmap_draws(function, samples: dict[str, Any], n_lead: int):
    """Apply ``function(params)`` over ``n_lead`` leading draw axes of ``samples``."""
    for _ in range(n_lead):
        function = jax.vmap(function)
    return function(samples)
