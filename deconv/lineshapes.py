"""Unit-area peak profiles, their peak heights and a registry of line shapes.

Every profile is a pure ``jax.numpy`` function of ``(x, centre, fwhm, *extra)`` that broadcasts
over its arguments, accepts JAX tracers for all of them and is safe under ``jax.jit`` and
``jax.grad``. Each integrates to one over the real line, so ``area * profile`` is a peak of that
area. The profiles and :func:`faddeeva` are wrapped in ``jax.jit`` so that a call outside a
traced model compiles once per input shape instead of once per primitive.

Widths
    ``fwhm`` is the full width at half maximum of the Gaussian, Lorentzian and pseudo-Voigt, and
    of the Gaussian component of the Voigt. Widths below a tiny floor (zero included) are raised
    to it so that a zero width gives a finite, very narrow peak instead of NaN: the floor is the
    cube root of the smallest normal float, about ``6e-103`` in float64, small enough to be
    invisible on any physical axis and large enough that ``1 / fwhm**2`` (which enters the
    gradients) stays finite.

Voigt and the Faddeeva function
    The Voigt profile is ``Re w(z) / (sigma * sqrt(2 pi))`` with ``z = (x - centre + i gamma) /
    (sigma sqrt 2)`` and ``w`` the Faddeeva function. :func:`faddeeva` uses Weideman's rational
    approximation (J. A. C. Weideman, "Computation of the complex error function", SIAM J. Numer.
    Anal. 31, 1497-1518, 1994) with 40 terms inside ``|z| < 8``, and the asymptotic (Laplace)
    series ``w(z) ~ i / (sqrt(pi) z) * sum_n (2n-1)!! / (2 z^2)^n`` with 12 terms outside. Against
    :func:`scipy.special.wofz` the relative error is about ``3e-14`` over the upper half plane;
    16 terms give ``4e-7``, 32 terms ``3e-13`` and the error stops falling at about 36 terms
    (rounding), so 40 keeps a margin. In the outer region the Voigt is evaluated from ``x - centre
    + i gamma`` and ``sigma`` directly, so a vanishing Gaussian width tends to the Lorentzian
    without overflow. Derivatives of the rational part come from ``w'(z) = 2i / sqrt(pi) -
    2 z w(z)`` (a custom JVP), not from differentiating the polynomial.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from deconv import _jax  # noqa: F401  (float64 unless the user opted out)
from deconv import _validation as v

__all__ = [
    "LINESHAPES",
    "LineShape",
    "area_to_height",
    "faddeeva",
    "fwhm_to_sigma",
    "gaussian",
    "get_lineshape",
    "height_to_area",
    "lorentzian",
    "peak_value",
    "pseudo_voigt",
    "register_lineshape",
    "sigma_to_fwhm",
    "total_fwhm",
    "voigt",
    "voigt_fwhm",
]

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
"""Ratio FWHM / standard deviation of a Gaussian, ``2 sqrt(2 ln 2)``."""

_SQRT2 = math.sqrt(2.0)
_SQRT_PI = math.sqrt(math.pi)
_INV_SQRT_PI = 1.0 / _SQRT_PI
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

_WEIDEMAN_TERMS = 40
_ASYMPTOTIC_RADIUS = 8.0
_ASYMPTOTIC_TERMS = 12


# ---------------------------------------------------------------------------------------------
# small helpers


def _as_float(value: ArrayLike) -> jax.Array:
    """``value`` as a JAX array of the default float type (integers are promoted)."""
    return jnp.asarray(value) * 1.0


@functools.cache
def _width_floor(dtype: np.dtype) -> float:
    """Smallest width used: the cube root of the smallest normal number of ``dtype``."""
    return float(np.finfo(dtype).tiny) ** (1.0 / 3.0)


def _width(fwhm: ArrayLike) -> jax.Array:
    """``fwhm`` as a float array, raised to the width floor (zero and negatives included)."""
    fwhm = _as_float(fwhm)
    return jnp.maximum(fwhm, _width_floor(fwhm.dtype))


def _horner(coefficients: np.ndarray, z: jax.Array) -> jax.Array:
    """``sum_n coefficients[n] * z**n`` by Horner's rule (highest power last in the array)."""
    total = jnp.zeros_like(z) + coefficients[-1]
    for coefficient in coefficients[-2::-1]:
        total = total * z + coefficient
    return total


# ---------------------------------------------------------------------------------------------
# Faddeeva function


@functools.cache
def _weideman_coefficients(n_terms: int) -> tuple[float, np.ndarray]:
    """Weideman's (1994) length ``L`` and coefficients ``a_1 .. a_N`` of his rational formula.

    With ``t = L tan(theta / 2)``, ``f(theta) = (L^2 + t^2) exp(-t^2)`` is a smooth, even,
    ``2 pi``-periodic function; ``a_n`` are its Fourier coefficients, computed by the trapezoidal
    rule on ``4N`` equispaced angles (``f`` vanishes at ``theta = pi``). ``L = 2**-0.25 sqrt(N)``
    is Weideman's recommended choice.
    """
    n_half = 2 * n_terms
    length = math.sqrt(n_terms / math.sqrt(2.0))
    theta = np.arange(-n_half + 1, n_half) * (np.pi / n_half)
    t = length * np.tan(theta / 2.0)
    f = np.exp(-t * t) * (length * length + t * t)
    orders = np.arange(1, n_terms + 1)
    coefficients = np.cos(orders[:, None] * theta[None, :]) @ f / (2 * n_half)
    return length, coefficients


@functools.cache
def _asymptotic_coefficients(n_terms: int) -> np.ndarray:
    """Double factorials ``(2n - 1)!!`` for ``n = 0 .. n_terms``."""
    return np.cumprod(np.concatenate([[1.0], np.arange(1.0, 2.0 * n_terms, 2.0)]))


@jax.custom_jvp
def _weideman(z: jax.Array) -> jax.Array:
    """Weideman's rational approximation of ``w(z)``, for ``Im z >= 0``.

    ``w(z) = 1 / (sqrt(pi) (L - iz)) + 2 p(Z) / (L - iz)^2`` with ``Z = (L + iz) / (L - iz)``
    and ``p(Z) = sum_{n=1}^{N} a_n Z^(n-1)``. Its derivative is taken from the differential
    equation ``w'(z) = 2i / sqrt(pi) - 2 z w(z)`` rather than through the polynomial, which
    keeps gradients cheap to compile and to run.
    """
    length, coefficients = _weideman_coefficients(_WEIDEMAN_TERMS)
    denominator = length - 1j * z
    poly = _horner(coefficients, (length + 1j * z) / denominator)
    return 2.0 * poly / (denominator * denominator) + _INV_SQRT_PI / denominator


@_weideman.defjvp
def _weideman_jvp(
    primals: tuple[jax.Array], tangents: tuple[jax.Array]
) -> tuple[jax.Array, jax.Array]:
    (z,), (dz,) = primals, tangents
    w = _weideman(z)
    return w, (2j * _INV_SQRT_PI - 2.0 * z * w) * dz


def _asymptotic_sum(inverse_two_z_squared: jax.Array) -> jax.Array:
    """``sum_n (2n - 1)!! v^n`` with ``v = 1 / (2 z^2)``, the Laplace series of ``w``."""
    return _horner(_asymptotic_coefficients(_ASYMPTOTIC_TERMS), inverse_two_z_squared)


def _faddeeva_upper(z: jax.Array) -> jax.Array:
    """``w(z)`` for ``Im z >= 0``: Weideman inside ``|z| < 8``, the Laplace series outside."""
    near = jnp.abs(z) < _ASYMPTOTIC_RADIUS
    inner = _weideman(jnp.where(near, z, 0.0))
    q = 1.0 / jnp.where(near, 1j * _ASYMPTOTIC_RADIUS, z)
    outer = (1j * _INV_SQRT_PI) * q * _asymptotic_sum(0.5 * q * q)
    return jnp.where(near, inner, outer)


@jax.jit
def faddeeva(z: ArrayLike) -> jax.Array:
    """Faddeeva function ``w(z) = exp(-z^2) erfc(-iz)``.

    Parameters
    ----------
    z : array_like
        Complex (or real) argument, any shape. Accuracy is best in the upper half plane
        ``Im z >= 0``; below it ``w(z) = 2 exp(-z^2) - w(-z)``, which overflows far from the real
        axis as the function itself does.

    Returns
    -------
    jax.Array
        ``w(z)``, complex128 in float64 mode. Relative error about ``3e-14`` against
        :func:`scipy.special.wofz` for ``Im z >= 0``; see the module docstring for the method.
    """
    z = jnp.asarray(z) * (1.0 + 0j)
    lower = z.imag < 0
    w = _faddeeva_upper(jnp.where(lower, -z, z))
    z_lower = jnp.where(lower, z, 0.0)
    return jnp.where(lower, 2.0 * jnp.exp(-z_lower * z_lower) - w, w)


# ---------------------------------------------------------------------------------------------
# profiles


@jax.jit
def gaussian(x: ArrayLike, centre: ArrayLike, fwhm: ArrayLike) -> jax.Array:
    """Unit-area Gaussian.

    Parameters
    ----------
    x : array_like
        Where to evaluate.
    centre : array_like
        Peak position.
    fwhm : array_like
        Full width at half maximum (``2 sqrt(2 ln 2)`` standard deviations); raised to the
        width floor (module docstring) when smaller.

    Returns
    -------
    jax.Array
        ``exp(-(x - centre)^2 / (2 sigma^2)) / (sigma sqrt(2 pi))``, broadcast over the inputs.
    """
    inv_sigma = FWHM_PER_SIGMA / _width(fwhm)
    t = (_as_float(x) - centre) * inv_sigma
    return _INV_SQRT_2PI * inv_sigma * jnp.exp(-0.5 * t * t)


@jax.jit
def lorentzian(x: ArrayLike, centre: ArrayLike, fwhm: ArrayLike) -> jax.Array:
    """Unit-area Lorentzian (Cauchy density).

    Parameters
    ----------
    x : array_like
        Where to evaluate.
    centre : array_like
        Peak position.
    fwhm : array_like
        Full width at half maximum (twice the half width ``gamma``); raised to the width floor
        when smaller.

    Returns
    -------
    jax.Array
        ``gamma / (pi ((x - centre)^2 + gamma^2))``, broadcast over the inputs.
    """
    inv_gamma = 2.0 / _width(fwhm)
    t = (_as_float(x) - centre) * inv_gamma
    return inv_gamma / (math.pi * (1.0 + t * t))


@jax.jit
def pseudo_voigt(x: ArrayLike, centre: ArrayLike, fwhm: ArrayLike, eta: ArrayLike) -> jax.Array:
    """Unit-area pseudo-Voigt: a Gaussian and a Lorentzian of the same FWHM, mixed.

    Parameters
    ----------
    x : array_like
        Where to evaluate.
    centre : array_like
        Peak position.
    fwhm : array_like
        Full width at half maximum of both components (and of the mixture).
    eta : array_like
        Lorentzian fraction, ``0 <= eta <= 1`` (not checked).

    Returns
    -------
    jax.Array
        ``(1 - eta) * gaussian + eta * lorentzian``, broadcast over the inputs.
    """
    return (1.0 - eta) * gaussian(x, centre, fwhm) + eta * lorentzian(x, centre, fwhm)


@jax.jit
def _voigt_at(offset: jax.Array, sigma: jax.Array, gamma: jax.Array) -> jax.Array:
    """Voigt profile at ``offset = x - centre`` for ``sigma > 0`` and ``gamma >= 0``.

    Inside ``|z| < 8`` this is ``Re w(z) / (sigma sqrt(2 pi))`` with Weideman's ``w``. Outside,
    with ``u = offset + i gamma = sigma sqrt(2) z``, the Laplace series gives
    ``Re(i S(sigma^2 / u^2) / u) / pi``, which involves no division by ``sigma``.
    """
    u = offset + 1j * gamma
    scale = _SQRT2 * sigma
    near = jnp.abs(u) < _ASYMPTOTIC_RADIUS * scale
    inner = jnp.real(_weideman(jnp.where(near, u, 0.0) / scale)) / (_SQRT_PI * scale)
    u_outer = jnp.where(near, 1j * _ASYMPTOTIC_RADIUS * scale, u)
    ratio = sigma / u_outer
    outer = jnp.real(1j * _asymptotic_sum(ratio * ratio) / u_outer) / math.pi
    return jnp.where(near, inner, outer)


def _voigt_widths(fwhm: ArrayLike, fwhm_lorentz: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """``(sigma, gamma)`` from the two FWHM (Gaussian floored, Lorentzian clipped at 0)."""
    sigma = _width(fwhm) / FWHM_PER_SIGMA
    gamma = 0.5 * jnp.maximum(_as_float(fwhm_lorentz), 0.0)
    return sigma, gamma


@jax.jit
def voigt(x: ArrayLike, centre: ArrayLike, fwhm: ArrayLike, fwhm_lorentz: ArrayLike) -> jax.Array:
    """Unit-area Voigt profile: a Gaussian convolved with a Lorentzian.

    Parameters
    ----------
    x : array_like
        Where to evaluate.
    centre : array_like
        Peak position.
    fwhm : array_like
        FWHM of the Gaussian component (not of the Voigt; see :func:`voigt_fwhm`); raised to
        the width floor when smaller, so ``fwhm = 0`` gives the Lorentzian.
    fwhm_lorentz : array_like
        FWHM of the Lorentzian component, ``>= 0`` (negative values count as 0); ``0`` gives the
        Gaussian.

    Returns
    -------
    jax.Array
        ``scipy.special.voigt_profile(x - centre, sigma, gamma)`` with
        ``sigma = fwhm / (2 sqrt(2 ln 2))`` and ``gamma = fwhm_lorentz / 2``, broadcast over the
        inputs.
    """
    sigma, gamma = _voigt_widths(fwhm, fwhm_lorentz)
    return _voigt_at(_as_float(x) - centre, sigma, gamma)


# ---------------------------------------------------------------------------------------------
# registry


class LineShape(NamedTuple):
    """A named unit-area peak profile.

    Attributes
    ----------
    name : str
        Registry key.
    profile : callable
        ``profile(x, centre, fwhm, *extra)``, unit area, pure ``jax.numpy``.
    extra_params : tuple of str
        Names of the extra per-peak parameters, in the order ``profile`` takes them.
    description : str
        One line for reports.
    """

    name: str
    profile: Callable[..., jax.Array]
    extra_params: tuple[str, ...] = ()
    description: str = ""


_BUILTIN: Mapping[str, LineShape] = {
    shape.name: shape
    for shape in (
        LineShape("gaussian", gaussian, (), "Gaussian (normal density)"),
        LineShape("lorentzian", lorentzian, (), "Lorentzian (Cauchy density)"),
        LineShape(
            "pseudo_voigt",
            pseudo_voigt,
            ("eta",),
            "(1 - eta) Gaussian + eta Lorentzian of the same FWHM",
        ),
        LineShape(
            "voigt",
            voigt,
            ("fwhm_lorentz",),
            "Gaussian (FWHM fwhm) convolved with a Lorentzian (FWHM fwhm_lorentz)",
        ),
    )
}

LINESHAPES: dict[str, LineShape] = dict(_BUILTIN)
"""Registered line shapes by name; add to it with :func:`register_lineshape`."""


def get_lineshape(name: str) -> LineShape:
    """The registered :class:`LineShape` called ``name``.

    Raises
    ------
    TypeError
        ``name`` is not a string.
    ValueError
        No shape of that name is registered.
    """
    return LINESHAPES[v.check_choice("shape", name, LINESHAPES)]


def _check_new_shape(shape: Any) -> None:
    if not isinstance(shape, LineShape):
        v.fail("shape", "be a LineShape", shape, error=TypeError)
    if not isinstance(shape.name, str):
        v.fail("shape.name", "be a string", shape.name, error=TypeError)
    if not shape.name:
        v.fail("shape.name", "not be empty", shape.name)
    if not callable(shape.profile):
        v.fail("shape.profile", "be callable", shape.profile, error=TypeError)
    params = shape.extra_params
    if not isinstance(params, tuple) or not all(isinstance(p, str) for p in params):
        v.fail("shape.extra_params", "be a tuple of strings", params, error=TypeError)
    if not all(p.isidentifier() for p in params) or len(set(params)) != len(params):
        v.fail("shape.extra_params", "hold distinct Python identifiers", params)
    if not isinstance(shape.description, str):
        v.fail("shape.description", "be a string", shape.description, error=TypeError)


def register_lineshape(shape: LineShape, *, overwrite: bool = False) -> LineShape:
    """Add a user line shape to :data:`LINESHAPES`.

    Parameters
    ----------
    shape : LineShape
        Its ``profile(x, centre, fwhm, *extra)`` must have unit area and be pure
        ``jax.numpy``; :func:`peak_value` evaluates it at the centre and :func:`total_fwhm`
        takes ``fwhm`` as its full width.
    overwrite : bool
        Replace a shape already registered under the same name.

    Returns
    -------
    LineShape
        ``shape``, now registered.

    Raises
    ------
    TypeError
        ``shape`` is not a well-formed :class:`LineShape` (e.g. ``profile`` not callable).
    ValueError
        The name is taken and ``overwrite`` is false, or ``extra_params`` repeats a name.
    """
    _check_new_shape(shape)
    if shape.name in LINESHAPES and not overwrite:
        v.fail("shape.name", "not be registered already (pass overwrite=True)", shape.name)
    LINESHAPES[shape.name] = shape
    return shape


def _resolve(shape: str | LineShape) -> LineShape:
    return shape if isinstance(shape, LineShape) else get_lineshape(shape)


def _extra_args(shape: LineShape, extra: Mapping[str, ArrayLike]) -> tuple[ArrayLike, ...]:
    """The extra parameters of ``shape`` in profile order; every one required, no others."""
    if set(extra) != set(shape.extra_params):
        v.fail(
            f"the extra parameters of shape {shape.name!r}",
            f"be exactly {shape.extra_params}",
            tuple(sorted(extra)),
            error=TypeError,
        )
    return tuple(extra[name] for name in shape.extra_params)


def _is_builtin(shape: LineShape, name: str) -> bool:
    return _BUILTIN.get(name) is shape


# ---------------------------------------------------------------------------------------------
# peak heights and widths


def _gaussian_peak(fwhm: ArrayLike) -> jax.Array:
    return 2.0 * math.sqrt(math.log(2.0) / math.pi) / _width(fwhm)


def _lorentzian_peak(fwhm: ArrayLike) -> jax.Array:
    return 2.0 / (math.pi * _width(fwhm))


def _pseudo_voigt_peak(fwhm: ArrayLike, eta: ArrayLike) -> jax.Array:
    return (1.0 - eta) * _gaussian_peak(fwhm) + eta * _lorentzian_peak(fwhm)


def _voigt_peak(fwhm: ArrayLike, fwhm_lorentz: ArrayLike) -> jax.Array:
    sigma, gamma = _voigt_widths(fwhm, fwhm_lorentz)
    return _voigt_at(jnp.zeros_like(gamma), sigma, gamma)


_PEAKS: dict[str, Callable[..., jax.Array]] = {
    "gaussian": _gaussian_peak,
    "lorentzian": _lorentzian_peak,
    "pseudo_voigt": _pseudo_voigt_peak,
    "voigt": _voigt_peak,
}


def peak_value(shape: str | LineShape, fwhm: ArrayLike, **extra: ArrayLike) -> jax.Array:
    """Height at the centre of the unit-area profile.

    Parameters
    ----------
    shape : str or LineShape
        Registered name or shape.
    fwhm : array_like
        Width parameter of the shape.
    **extra : array_like
        The shape's extra parameters by name (e.g. ``eta=0.3``, ``fwhm_lorentz=2.0``).

    Returns
    -------
    jax.Array
        Analytic for the built-in shapes: ``2 sqrt(ln 2 / pi) / fwhm`` (Gaussian),
        ``2 / (pi fwhm)`` (Lorentzian), their mixture (pseudo-Voigt) and
        ``Re w(i gamma / (sigma sqrt 2)) / (sigma sqrt(2 pi))`` (Voigt); the profile at its
        centre for user shapes.

    Raises
    ------
    TypeError
        Missing or unexpected extra parameters, or ``shape`` not a string.
    ValueError
        Unknown shape name.
    """
    line = _resolve(shape)
    args = _extra_args(line, extra)
    if _is_builtin(line, line.name):
        return _PEAKS[line.name](fwhm, *args)
    return line.profile(0.0, 0.0, fwhm, *args)


def area_to_height(
    shape: str | LineShape, area: ArrayLike, fwhm: ArrayLike, **extra: ArrayLike
) -> jax.Array:
    """Peak height of a profile of the given ``area``: ``area * peak_value(...)``."""
    return area * peak_value(shape, fwhm, **extra)


def height_to_area(
    shape: str | LineShape, height: ArrayLike, fwhm: ArrayLike, **extra: ArrayLike
) -> jax.Array:
    """Area of a profile of the given peak ``height``: ``height / peak_value(...)``."""
    return height / peak_value(shape, fwhm, **extra)


def fwhm_to_sigma(fwhm: ArrayLike) -> jax.Array:
    """Standard deviation of a Gaussian of the given FWHM: ``fwhm / (2 sqrt(2 ln 2))``."""
    return _as_float(fwhm) / FWHM_PER_SIGMA


def sigma_to_fwhm(sigma: ArrayLike) -> jax.Array:
    """FWHM of a Gaussian of standard deviation ``sigma``: ``2 sqrt(2 ln 2) sigma``."""
    return _as_float(sigma) * FWHM_PER_SIGMA


def voigt_fwhm(fwhm: ArrayLike, fwhm_lorentz: ArrayLike) -> jax.Array:
    """Approximate FWHM of a Voigt profile (Olivero & Longbothum 1977).

    Parameters
    ----------
    fwhm : array_like
        FWHM ``fG`` of the Gaussian component.
    fwhm_lorentz : array_like
        FWHM ``fL`` of the Lorentzian component.

    Returns
    -------
    jax.Array
        ``0.5346 fL + sqrt(0.2166 fL^2 + fG^2)``: exact in both pure limits, within about
        0.02 % in between (J. J. Olivero and R. L. Longbothum, J. Quant. Spectrosc. Radiat.
        Transfer 17, 233-236, 1977).
    """
    fwhm_lorentz = _as_float(fwhm_lorentz)
    return 0.5346 * fwhm_lorentz + jnp.hypot(math.sqrt(0.2166) * fwhm_lorentz, fwhm)


def total_fwhm(shape: str | LineShape, fwhm: ArrayLike, **extra: ArrayLike) -> jax.Array:
    """Full width at half maximum of the whole profile.

    ``fwhm`` itself for every shape except the Voigt, where it is :func:`voigt_fwhm` of the
    Gaussian and Lorentzian widths. ``extra`` is checked as in :func:`peak_value`.
    """
    line = _resolve(shape)
    args = _extra_args(line, extra)
    if _is_builtin(line, "voigt"):
        return voigt_fwhm(fwhm, *args)
    return _as_float(fwhm)
