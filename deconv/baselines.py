"""Baseline terms: none, constant, Chebyshev polynomials, penalised splines and user functions.

Polynomial baselines use the Chebyshev basis on x mapped to [-1, 1], whose columns are well
conditioned, so coefficient priors can be independent. A :class:`CustomBaseline` wraps any pure
JAX function of x (user units) with its own named priors, e.g. an exponential background.

Penalised splines
-----------------
``"spline"`` (or a :class:`SplineBaseline`) is a Bayesian P-spline (Eilers & Marx 1996; Lang &
Brezger 2004) inferred with the peaks: cubic B-splines on ``S`` equal segments of the x range
(``S + 3`` coefficients ``c``) and a Gaussian prior whose precision on the coefficients' second
differences is the penalty ``D2' D2`` over a variance ``tau**2``. The penalty leaves straight
lines free, so the prior is written in its eigenbasis, ``c = N a + W w / sqrt(g)``:

* ``a`` (site ``baseline``, 2 terms): the straight line ``a0 + a1 (2u - 1)``, the same two
  Chebyshev coefficients, with the same prior, as ``"linear"``. ``N`` holds the line's values
  at the Greville abscissae, which cubic B-splines reproduce exactly.
* ``w`` (site ``baseline_wiggle``, ``S + 1`` terms, y units): the penalised part. ``W = U /
  sqrt(e)`` scales the eigenvectors ``U`` of the penalty with non-zero eigenvalues ``e``, and
  ``g`` is the mean over [0, 1] of the variance of ``B(u)' W w`` for ``w ~ N(0, I)``. So
  ``w ~ N(0, s**2 I)`` is a P-spline of smoothness ``lambda = g / s**2`` whose departure from a
  straight line has prior sd ``s`` in rms over the x range: ``s`` is the *smoothness*, in y
  units.

``s`` is fixed (``SplineBaseline(smoothness=...)``), or inferred under an inverse-gamma prior
on ``s**2`` (``Priors.smoothness``), which is integrated out in closed form: ``w`` is then
multivariate Student-t with ``2 alpha`` degrees of freedom and scale ``sqrt(beta / alpha)``.
Integrating keeps the density bounded and the geometry Gaussian-like where the data pin the
background down; sampling ``s`` beside ``w`` would not (the centred form has no MAP, the
non-centred one a curved ridge that cost a 0.5-nat standard error on a 400-point spectrum).

No maintained JAX library evaluates B-splines inside a traced model (SciPy's ``BSpline`` is
NumPy), so the uniform cubic basis is written out here: four cubic pieces per basis function.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np
from numpyro import distributions as dist

from deconv import _jax  # noqa: F401
from deconv import _validation as v

POLYNOMIAL_DEGREES = {"none": -1, "constant": 0, "linear": 1, "quadratic": 2, "cubic": 3}
BASELINES = (*POLYNOMIAL_DEGREES, "spline")
SPLINE_SEGMENTS = 10
"""Default number of equal segments of a spline baseline (13 coefficients): features of the
background down to about a fifth of the x range, while peaks narrower than a segment stay
peaks."""
_RMS_GRID = 2001  # points on [0, 1] over which the spline's prior rms is taken


def chebyshev_basis(t: jnp.ndarray, degree: int) -> jnp.ndarray:
    """Chebyshev polynomials ``T_0..T_degree`` at ``t`` in [-1, 1], shape ``(degree + 1, n)``."""
    rows = [jnp.ones_like(t)]
    if degree >= 1:
        rows.append(t)
    for _ in range(2, degree + 1):
        rows.append(2.0 * t * rows[-1] - rows[-2])
    return jnp.stack(rows[: degree + 1])


def polynomial_baseline(u: jnp.ndarray, coefficients: jnp.ndarray) -> jnp.ndarray:
    """Evaluate ``sum_d c_d T_d(2u - 1)`` for ``u`` in [0, 1]."""
    degree = coefficients.shape[-1] - 1
    return coefficients @ chebyshev_basis(2.0 * u - 1.0, degree)


@dataclass(frozen=True)
class CustomBaseline:
    """A user-supplied baseline ``function(x, **params)`` with named priors.

    Parameters
    ----------
    function : callable
        Pure JAX function of the axis in user units and the named parameters, returning the
        background in the user's y units, e.g. ``lambda x, a, k: a * jnp.exp(-k * x)``.
    priors : mapping of str to Distribution
        One scalar numpyro distribution per parameter of ``function``, in user units.
    name : str
        Label used in reports and model names.
    """

    function: Callable[..., jnp.ndarray]
    priors: Mapping[str, dist.Distribution] = field(default_factory=dict)
    name: str = "custom"

    def __post_init__(self) -> None:
        if not callable(self.function):
            v.fail("function", "be callable", self.function, error=TypeError)
        if not isinstance(self.priors, Mapping) or not self.priors:
            v.fail(
                "priors",
                "be a non-empty mapping of parameter name to Distribution",
                self.priors,
                error=TypeError,
            )
        for key, prior in self.priors.items():
            if not isinstance(prior, dist.Distribution):
                v.fail(f"priors[{key!r}]", "be a numpyro Distribution", prior, error=TypeError)
        object.__setattr__(self, "priors", dict(self.priors))

    @property
    def n_parameters(self) -> int:
        return len(self.priors)

    def __hash__(self) -> int:
        return hash((id(self.function), tuple(self.priors), self.name))


@dataclass(frozen=True)
class SplineBaseline:
    """A penalised cubic B-spline baseline inferred with the peaks (see the module docstring).

    Parameters
    ----------
    segments : int
        Equal segments of the x range (>= 2); the spline has ``segments + 3`` coefficients.
        More segments follow sharper background features, and take longer to sample.
    smoothness : float, optional
        Fixed smoothness ``s``: the prior sd of the baseline's departure from a straight line,
        in rms over the x range, in y units. ``None`` (default) infers it, integrated over
        ``Priors.smoothness``.
    """

    segments: int = SPLINE_SEGMENTS
    smoothness: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "segments", v.check_positive_int("segments", self.segments, minimum=2)
        )
        if self.smoothness is not None:
            object.__setattr__(
                self, "smoothness", v.check_positive_float("smoothness", self.smoothness)
            )

    @property
    def n_coefficients(self) -> int:
        return self.segments + 3

    @property
    def n_parameters(self) -> int:
        """The line (2) and the penalised terms (the smoothness is fixed or integrated)."""
        return self.n_coefficients

    @property
    def label(self) -> str:
        """``"spline"`` for the default, else e.g. ``"spline16"`` or ``"spline16_s0.02"``."""
        text = "spline" if self.segments == SPLINE_SEGMENTS else f"spline{self.segments}"
        if self.smoothness is None:
            return text
        if self.segments == SPLINE_SEGMENTS:
            text = f"spline{self.segments}"
        return f"{text}_s{self.smoothness:.6g}"


def bspline_basis(u: jnp.ndarray, segments: int) -> jnp.ndarray:
    """Uniform cubic B-splines on ``u`` in [0, 1], shape ``(segments + 3, n)``.

    Basis ``j`` is the cardinal cubic B-spline ``B(s)`` at ``s = segments u - j + 3``, which
    lives on ``0 <= s < 4``; the functions sum to one on [0, 1].
    """
    return _cubic_bsplines(u, segments, jnp)


def _cubic_bsplines(u, segments: int, xp):
    """:func:`bspline_basis` with the array module ``xp`` (NumPy for constants, else JAX)."""
    j = xp.arange(segments + 3)[:, None]
    s = segments * u[None, :] - j + 3.0
    pieces = [
        s**3,
        -3.0 * s**3 + 12.0 * s**2 - 12.0 * s + 4.0,
        3.0 * s**3 - 24.0 * s**2 + 60.0 * s - 44.0,
        (4.0 - s) ** 3,
    ]
    value = xp.zeros_like(s)
    for index, piece in enumerate(pieces):
        value = xp.where((s >= index) & (s < index + 1), piece, value)
    return value / 6.0


@functools.cache
@functools.cache
def spline_prior_factors(segments: int) -> tuple[np.ndarray, np.ndarray]:
    """``(N, W / sqrt(g))``: the coefficients are ``N a + (W / sqrt(g)) w`` (module docstring).

    ``N`` (coefficients x 2) maps the line ``a0 + a1 (2u - 1)`` to its Greville values; the
    second maps the penalised terms, scaled so that ``w ~ N(0, s**2 I)`` departs from a line
    by ``s`` in rms over [0, 1]. NumPy, computed once per number of segments.
    """
    n = segments + 3
    greville = (np.arange(n) - 1.0) / segments
    line = np.stack([np.ones(n), 2.0 * greville - 1.0], axis=1)
    difference = np.diff(np.eye(n), n=2, axis=0)
    eigenvalues, vectors = np.linalg.eigh(difference.T @ difference)
    penalised = np.argsort(eigenvalues)[2:]  # the two zero eigenvalues span the lines
    wiggle = vectors[:, penalised] / np.sqrt(eigenvalues[penalised])
    basis = _cubic_bsplines(np.linspace(0.0, 1.0, _RMS_GRID), segments, np)
    variance = float(np.mean(np.sum((wiggle.T @ basis) ** 2, axis=0)))
    return line, wiggle / np.sqrt(variance)


def spline_baseline(
    u: jnp.ndarray, line: jnp.ndarray, wiggle: jnp.ndarray, segments: int
) -> jnp.ndarray:
    """The spline ``(N a + W w / sqrt(g)) @ B(u)`` of the line terms ``a`` (2) and the
    penalised terms ``w`` (``segments + 1``), in the units of the curve."""
    to_line, to_wiggle = spline_prior_factors(segments)
    coefficients = jnp.asarray(to_line) @ line + jnp.asarray(to_wiggle) @ wiggle
    return coefficients @ bspline_basis(u, segments)


BaselineSpec = str | CustomBaseline | SplineBaseline


def check_baseline(baseline: object) -> BaselineSpec:
    """Validate a baseline choice: one of :data:`BASELINES`, a :class:`SplineBaseline` or a
    :class:`CustomBaseline`. ``"spline"`` becomes ``SplineBaseline()``."""
    if isinstance(baseline, CustomBaseline | SplineBaseline):
        return baseline
    choice = v.check_choice("baseline", baseline, BASELINES)
    return SplineBaseline() if choice == "spline" else choice


def n_baseline_parameters(baseline: BaselineSpec) -> int:
    """How many parameters a baseline adds to the model."""
    if isinstance(baseline, CustomBaseline | SplineBaseline):
        return baseline.n_parameters
    return POLYNOMIAL_DEGREES[baseline] + 1


_SPLINE_LABEL = re.compile(r"spline(\d+)?(?:_s(.+))?")


def baseline_from_label(label: str) -> BaselineSpec:
    """The baseline a :func:`baseline_label` names: a :class:`SplineBaseline` for ``"spline"``,
    ``"spline16"`` or ``"spline16_s0.02"``, else the label itself (a polynomial's name, or a
    custom baseline's, which a label cannot rebuild)."""
    match = _SPLINE_LABEL.fullmatch(label)
    if match is None:
        return label
    segments, smoothness = match.groups()
    return SplineBaseline(
        int(segments) if segments else SPLINE_SEGMENTS,
        float(smoothness) if smoothness else None,
    )


def baseline_label(baseline: BaselineSpec) -> str:
    if isinstance(baseline, SplineBaseline):
        return baseline.label
    return baseline.name if isinstance(baseline, CustomBaseline) else baseline
