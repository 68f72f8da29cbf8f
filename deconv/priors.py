"""Prior choices: data-scaled defaults, per-parameter overrides and named presets.

Every prior is given in the **user's units** (the units of the spectrum's x and y). The model works
on scaled data (x to [0, 1], y divided by max |y|) and maps each prior there exactly with
:class:`AffineDistribution`, so densities, and therefore free energies, are unchanged.

Default amplitude prior
-----------------------
Peak heights default to ``Gamma(2, rate=4 / h)`` where ``h`` is the data's peak-to-peak range: its
mean is half the range and its density vanishes at zero height. A prior with mass near zero would
let a superfluous peak switch itself off almost for free, so the free energy could barely penalise
an extra peak; a density that vanishes at zero makes every peak a claim. Tell the model the
smallest peak you care about with ``default_priors(..., smallest_peak=...)``, which moves the
prior's mode there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
from numpyro import distributions as dist
from numpyro.distributions import constraints

from deconv import _jax  # noqa: F401
from deconv import _validation as v
from deconv.spectrum import Spectrum

AMPLITUDE_KINDS = ("height", "area")
WIDTH_KINDS = ("fwhm", "precision")
PRESETS = ("nagata2012", "okubo2026_noise", "okubo2026_background")

SD_TO_FWHM = float(2.0 * np.sqrt(2.0 * np.log(2.0)))
"""FWHM of a Gaussian per unit standard deviation: ``FWHM = 2 sqrt(2 ln 2) a``."""

OKUBO2026 = {
    "okubo2026_noise": {"centre": (3.25, 6.5), "sd": (0.005, 0.05), "height": (0.2, 5.0)},
    "okubo2026_background": {"centre": (3.5, 6.5), "sd": (0.005, 0.18), "height": (0.001, 0.5)},
}
"""The uniform priors of Okubo et al. (2026), as published: bounds of the centre ``mu``, the
Gaussian standard deviation ``a`` and the height ``w`` of peaks ``w exp(-(x - mu)**2 / (2 a**2))``,
for experiment 1 (noise-dominated) and experiment 2 (unknown background)."""


class AffineDistribution(dist.Distribution):
    """The law of ``loc + scale * X`` for ``X ~ base``, with its support mapped too.

    NumPyro's ``TransformedDistribution`` forgets a bounded support under an affine map; this
    keeps it, so constrained priors stay constrained after rescaling to internal units.
    """

    arg_constraints: ClassVar[dict] = {}
    pytree_data_fields = ("base", "loc", "scale")

    def __init__(self, base: dist.Distribution, loc: float, scale: float) -> None:
        if not scale > 0:
            v.fail("scale", "be > 0", scale)
        self.base, self.loc, self.scale = base, loc, scale
        super().__init__(base.batch_shape, base.event_shape)

    @constraints.dependent_property(is_discrete=False)
    def support(self) -> constraints.Constraint:
        return _affine_support(self.base.support, self.loc, self.scale)

    def sample(self, key, sample_shape=()):
        return self.loc + self.scale * self.base.sample(key, sample_shape)

    def log_prob(self, value):
        log_density = self.base.log_prob((value - self.loc) / self.scale)
        n_event = int(np.prod(self.event_shape)) if self.event_shape else 1
        return log_density - n_event * jnp.log(self.scale)

    @property
    def mean(self):
        return self.loc + self.scale * self.base.mean

    @property
    def variance(self):
        return self.scale**2 * self.base.variance


def _affine_support(
    support: constraints.Constraint, loc: float, scale: float
) -> constraints.Constraint:
    if isinstance(support, constraints._Real | constraints._RealVector):
        return support
    if isinstance(support, constraints._Interval):
        return constraints.interval(
            loc + scale * support.lower_bound, loc + scale * support.upper_bound
        )
    if isinstance(support, constraints._GreaterThan):
        return constraints.greater_than(loc + scale * support.lower_bound)
    if isinstance(support, constraints._Simplex) and loc == 0 and scale == 1:
        return support
    v.fail("prior", "have real, interval or lower-bounded support to be rescaled", support)
    return support  # pragma: no cover


@dataclass(frozen=True)
class Priors:
    """Priors of the peak model, in the user's units. ``None`` means "scale from the data".

    Parameters
    ----------
    centre : Distribution
        Prior of one peak centre (the model orders the centres and uses the density of the order
        statistics, K! times the product of this prior on the ordered set).
    width : Distribution
        Prior of one peak's width: its FWHM when ``width_kind="fwhm"``, or its precision
        ``b = 8 ln 2 / FWHM**2`` (a peak ``exp(-b (x - mu)**2 / 2)``) when
        ``width_kind="precision"``.
    amplitude : Distribution
        Prior of one peak's height (``amplitude_kind="height"``) or area (``"area"``).
    eta : Distribution
        Pseudo-Voigt Lorentzian fraction (0..1).
    fwhm_lorentz : Distribution
        Voigt Lorentzian FWHM; ``width`` then holds the Gaussian FWHM.
    baseline : Distribution
        Prior of each baseline coefficient (y units; Chebyshev basis on x scaled to [-1, 1]).
        A spline baseline's straight line takes the same two coefficients.
    smoothness : InverseGamma
        Prior of the square ``s**2`` of a spline baseline's smoothness ``s`` (the prior sd of
        the baseline's departure from a straight line, rms over x; y**2 units), integrated out
        in closed form (:mod:`deconv.baselines`). Unused by other baselines.
    noise : Distribution
        Prior of the noise standard deviation (ignored when ``sigma`` fixes it).
    nu : Distribution
        Degrees of freedom of the Student-t likelihood.
    sigma : float, optional
        Known noise standard deviation; fixes the noise instead of inferring it.
    width_kind, amplitude_kind : str
        Which width and amplitude parameter the priors describe.
    """

    centre: dist.Distribution | None = None
    width: dist.Distribution | None = None
    amplitude: dist.Distribution | None = None
    eta: dist.Distribution | None = None
    fwhm_lorentz: dist.Distribution | None = None
    baseline: dist.Distribution | None = None
    smoothness: dist.Distribution | None = None
    noise: dist.Distribution | None = None
    nu: dist.Distribution | None = None
    sigma: float | None = None
    width_kind: str = "fwhm"
    amplitude_kind: str = "height"

    def __post_init__(self) -> None:
        v.check_choice("width_kind", self.width_kind, WIDTH_KINDS)
        v.check_choice("amplitude_kind", self.amplitude_kind, AMPLITUDE_KINDS)
        if self.sigma is not None:
            object.__setattr__(self, "sigma", v.check_positive_float("sigma", self.sigma))
        for item in fields(self):
            value = getattr(self, item.name)
            if item.type.startswith("dist.") and value is not None:
                if not isinstance(value, dist.Distribution):
                    v.fail(item.name, "be a numpyro Distribution or None", value, error=TypeError)
                if value.event_shape != ():
                    v.fail(item.name, "be a scalar (univariate) distribution", value)
        if self.smoothness is not None and not _is_inverse_gamma(self.smoothness):
            v.fail(
                "smoothness",
                "be an InverseGamma (the prior of s**2, integrated out in closed form)",
                self.smoothness,
                error=TypeError,
            )

    def with_defaults(self, spectrum: Spectrum, *, smallest_peak: float | None = None) -> Priors:
        """Fill every unset prior with the data-scaled default."""
        defaults = default_priors(
            spectrum,
            width_kind=self.width_kind,
            amplitude_kind=self.amplitude_kind,
            smallest_peak=smallest_peak,
        )
        changes = {
            item.name: getattr(defaults, item.name)
            for item in fields(self)
            if getattr(self, item.name) is None and item.name != "sigma"
        }
        return replace(self, **changes)

    @classmethod
    def preset(cls, name: str) -> Priors:
        """A named preset. ``"nagata2012"``: the benchmark of Nagata, Sugita and Okada (2012).

        Peaks ``a exp(-b (x - mu)**2 / 2)`` with ``a ~ Gamma(5, rate 5)``,
        ``mu ~ Normal(1.5, var 0.2)``, ``b ~ Gamma(5, rate 0.04)`` and known ``sigma = 0.1``.
        Use it with ``shape="gaussian"`` and ``baseline="none"``.

        ``"okubo2026_noise"`` and ``"okubo2026_background"``: the uniform priors of Okubo et al.
        (2026, experiments 1 and 2; :data:`OKUBO2026`) for peaks
        ``w exp(-(x - mu)**2 / (2 a**2))``: ``mu ~ U(3.25, 6.5)``, ``a ~ U(0.005, 0.05)``,
        ``w ~ U(0.2, 5)`` and ``mu ~ U(3.5, 6.5)``, ``a ~ U(0.005, 0.18)``, ``w ~ U(0.001, 0.5)``.
        The model's width is the FWHM, so ``a ~ U(lo, hi)`` becomes
        ``FWHM ~ U(c lo, c hi)`` with ``c = 2 sqrt(2 ln 2)`` (:data:`SD_TO_FWHM`): a linear map
        of a uniform law is uniform, and a change of variable leaves the evidence unchanged, so
        this is the paper's prior exactly; ``w`` is the height. The noise is left to the
        data-scaled default (the paper states no noise prior): fix it with
        ``dataclasses.replace(Priors.preset(...), sigma=0.2)`` where it is known. The paper
        removes the background beforehand (:func:`deconv.precorrect.subtract_baseline` with
        :data:`deconv.precorrect.PAPER_ASLS`): use these with ``shape="gaussian"`` and
        ``baseline="none"``.
        """
        v.check_choice("preset", name, PRESETS)
        if name in OKUBO2026:
            bounds = OKUBO2026[name]
            low, high = bounds["sd"]
            return cls(
                centre=dist.Uniform(*bounds["centre"]),
                width=dist.Uniform(SD_TO_FWHM * low, SD_TO_FWHM * high),
                amplitude=dist.Uniform(*bounds["height"]),
                width_kind="fwhm",
                amplitude_kind="height",
            )
        return cls(
            centre=dist.Normal(1.5, float(np.sqrt(0.2))),
            width=dist.Gamma(5.0, 0.04),
            amplitude=dist.Gamma(5.0, 5.0),
            sigma=0.1,
            width_kind="precision",
            amplitude_kind="height",
        )


def _is_inverse_gamma(prior: dist.Distribution) -> bool:
    """An ``InverseGamma``, possibly rescaled (as the model holds it in internal units)."""
    while isinstance(prior, AffineDistribution):
        prior = prior.base
    return isinstance(prior, dist.InverseGamma)


def data_scales(spectrum: Spectrum) -> tuple[float, float, float]:
    """``(x0, dx, ys)``: the internal scaling ``u = (x - x0) / dx``, ``v = y / ys``."""
    x0 = float(spectrum.x[0])
    dx = float(spectrum.x[-1] - spectrum.x[0])
    ys = float(np.max(np.abs(spectrum.y)))
    if ys == 0:
        v.fail("y", "not be identically zero", "all zeros")
    return x0, dx, ys


def default_priors(
    spectrum: Spectrum,
    *,
    width_kind: str = "fwhm",
    amplitude_kind: str = "height",
    smallest_peak: float | None = None,
) -> Priors:
    """Weakly informative priors scaled from the data, in the user's units.

    * centre: uniform over the x range;
    * FWHM: log-normal whose central 95 % spans from 2 point spacings to half the x range;
    * height: ``Gamma(2, rate = 2 / mode_scale)`` with its mean at half the peak-to-peak range
      (or its mode at ``smallest_peak`` when given); area priors multiply by a typical FWHM;
    * baseline coefficients: ``Normal(0, max |y|)``;
    * a spline baseline's squared smoothness: ``InverseGamma(1, (range / 10)**2)``, so that its
      penalised terms are Student-t with 2 degrees of freedom and a scale of a tenth of the
      peak-to-peak range (heavy tails leave room for large backgrounds);
    * noise sigma: half-normal with scale the peak-to-peak range;
    * eta: uniform on (0, 1); Student-t nu: ``Gamma(2, rate 0.1)``.

    For counts (``noise="poisson"``) the same priors apply with y in counts; the noise prior
    is unused (the Poisson variance is its mean), and a baseline coefficient prior centred on
    zero leaves the floor of the mean (:data:`deconv.model.POISSON_FLOOR`) to keep the
    mean positive.
    """
    _, dx, ys = data_scales(spectrum)
    spacing = float(np.median(np.diff(spectrum.x)))
    y_range = float(np.ptp(spectrum.y)) or ys
    w_min, w_max = 2.0 * spacing, 0.5 * dx
    w_typ = float(np.sqrt(w_min * w_max))
    fwhm_prior = dist.LogNormal(float(np.log(w_typ)), float(np.log(w_max / w_min) / 4.0))
    if width_kind == "fwhm":
        width = fwhm_prior
    else:
        # precision b = 8 ln2 / FWHM^2: log-normal again
        b_typ = 8 * np.log(2) / w_typ**2
        width = dist.LogNormal(float(np.log(b_typ)), float(2 * np.log(w_max / w_min) / 4.0))
    rate = 4.0 / y_range
    if smallest_peak is not None:
        smallest = v.check_positive_float("smallest_peak", smallest_peak)
        rate = 1.0 / smallest  # Gamma(2, rate) has its mode at 1 / rate
    amplitude = dist.Gamma(2.0, rate if amplitude_kind == "height" else rate / w_typ)
    return Priors(
        centre=dist.Uniform(float(spectrum.x[0]), float(spectrum.x[-1])),
        width=width,
        amplitude=amplitude,
        eta=dist.Uniform(0.0, 1.0),
        fwhm_lorentz=fwhm_prior,
        baseline=dist.Normal(0.0, ys),
        smoothness=dist.InverseGamma(1.0, (0.1 * y_range) ** 2),
        noise=dist.HalfNormal(y_range),
        nu=dist.Gamma(2.0, 0.1),
        width_kind=width_kind,
        amplitude_kind=amplitude_kind,
    )


def resolve_priors(
    priors: Priors | str | None, spectrum: Spectrum, *, smallest_peak: float | None = None
) -> Priors:
    """Turn ``None``, a preset name or a partial :class:`Priors` into complete priors."""
    if priors is None:
        priors = Priors()
    elif isinstance(priors, str):
        priors = Priors.preset(priors)
    elif not isinstance(priors, Priors):
        v.fail("priors", "be None, a preset name or a Priors", priors, error=TypeError)
    return priors.with_defaults(spectrum, smallest_peak=smallest_peak)


def describe(prior: Any) -> str:
    """A short human-readable description of a numpyro distribution."""
    if prior is None:
        return "fixed"
    args = {
        name: float(np.asarray(getattr(prior, name)))
        for name in prior.arg_constraints
        if np.ndim(getattr(prior, name, None)) == 0 and hasattr(prior, name)
    }
    inner = ", ".join(f"{k}={val:.4g}" for k, val in args.items())
    return f"{type(prior).__name__}({inner})"
