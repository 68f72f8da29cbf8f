"""Line shapes against SciPy, unit area, limits, JIT/grad safety, conversions and the registry."""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats
from scipy.optimize import brentq

from deconv import lineshapes as ls

CENTRE = 2.5
WIDTHS = (1e-6, 1e-2, 1.0, 1e4)
# offsets in units of the (total) FWHM: a dense core and far wings
OFFSETS = np.concatenate(
    [np.linspace(-20.0, 20.0, 801), np.logspace(1.5, 3.0, 7), -np.logspace(1.5, 3.0, 7)]
)
EXTRA = {
    "gaussian": {},
    "lorentzian": {},
    "pseudo_voigt": {"eta": 0.3},
    "voigt": {"fwhm_lorentz": 0.7},
}


def scipy_profile(name: str, x, centre, fwhm, **extra):
    """The SciPy reference for each built-in shape."""
    sigma = fwhm / ls.FWHM_PER_SIGMA
    if name == "gaussian":
        return stats.norm.pdf(x, centre, sigma)
    if name == "lorentzian":
        return stats.cauchy.pdf(x, centre, fwhm / 2.0)
    if name == "pseudo_voigt":
        eta = extra["eta"]
        return (1 - eta) * stats.norm.pdf(x, centre, sigma) + eta * stats.cauchy.pdf(
            x, centre, fwhm / 2.0
        )
    return special.voigt_profile(x - centre, sigma, extra["fwhm_lorentz"] / 2.0)


def assert_close_to_reference(got, ref, *, abs_tol=1e-10, rel_tol=1e-9, central=1e-3):
    """Absolute error <= abs_tol * max(1, peak); relative <= rel_tol where ref > central * peak.

    The absolute criterion is scaled by the peak height when it exceeds one, because a peak of
    height 1e6 cannot be represented to 1e-10 absolute in float64.
    """
    got, ref = np.asarray(got), np.asarray(ref)
    assert np.all(np.isfinite(got))
    peak = ref.max(axis=0)
    err = np.abs(got - ref)
    assert np.all(err <= abs_tol * np.maximum(peak, 1.0)), (err / np.maximum(peak, 1.0)).max()
    core = ref > central * peak
    assert np.all(err[core] <= rel_tol * ref[core]), (err[core] / ref[core]).max()


# ---------------------------------------------------------------------------------------------
# against SciPy


@pytest.mark.parametrize("fwhm", WIDTHS)
@pytest.mark.parametrize("name", ["gaussian", "lorentzian"])
def test_simple_profiles_match_scipy(name, fwhm):
    x = CENTRE + fwhm * OFFSETS
    got = ls.LINESHAPES[name].profile(x, CENTRE, fwhm)
    assert_close_to_reference(got, scipy_profile(name, x, CENTRE, fwhm), rel_tol=1e-13)


@pytest.mark.parametrize("fwhm", WIDTHS)
def test_pseudo_voigt_matches_scipy_mixture(fwhm):
    eta = np.array([0.0, 0.3, 1.0])
    x = CENTRE + fwhm * OFFSETS[:, None]
    got = ls.pseudo_voigt(x, CENTRE, fwhm, eta)
    ref = scipy_profile("pseudo_voigt", x, CENTRE, fwhm, eta=eta)
    assert_close_to_reference(got, ref, rel_tol=1e-13)


@pytest.mark.parametrize("fwhm", WIDTHS)
def test_voigt_matches_scipy_over_width_ratios(fwhm):
    fwhm_lorentz = fwhm * np.logspace(-6.0, 6.0, 25)
    total = np.asarray(ls.voigt_fwhm(fwhm, fwhm_lorentz))
    x = CENTRE + OFFSETS[:, None] * total
    got = ls.voigt(x, CENTRE, fwhm, fwhm_lorentz)
    ref = scipy_profile("voigt", x, CENTRE, fwhm, fwhm_lorentz=fwhm_lorentz)
    # measured: <= 5e-15 of the peak, <= 1.3e-13 relative in the core
    assert_close_to_reference(got, ref, abs_tol=1e-13, rel_tol=1e-12)
    assert_close_to_reference(got, ref, rel_tol=1e-9, central=1e-6)


def test_voigt_pure_limits():
    x = CENTRE + np.linspace(-30.0, 30.0, 601)
    lorentz = stats.cauchy.pdf(x, CENTRE, 0.5)
    for tiny in (1e-12, 1e-300, 0.0):
        got = ls.voigt(x, CENTRE, tiny, 1.0)
        np.testing.assert_allclose(got, lorentz, rtol=1e-13, atol=0)
    sigma = 3.0 / ls.FWHM_PER_SIGMA
    gauss = stats.norm.pdf(x, CENTRE, sigma)
    for tiny in (1e-300, 0.0):
        assert_close_to_reference(ls.voigt(x, CENTRE, 3.0, tiny), gauss, rel_tol=1e-12)
    # fL = 1e-12 still adds Lorentzian wings of relative size ~1e-10 near 4 sigma
    ref = special.voigt_profile(x - CENTRE, sigma, 0.5e-12)
    assert_close_to_reference(ls.voigt(x, CENTRE, 3.0, 1e-12), ref, rel_tol=1e-12)


def test_faddeeva_matches_wofz():
    re_part = np.concatenate([-np.logspace(-3, 3, 121)[::-1], [0.0], np.logspace(-3, 3, 121)])
    im_part = np.concatenate([[0.0, 1e-300, 1e-12], np.logspace(-8, 3, 67)])
    z = re_part[None, :] + 1j * im_part[:, None]
    far = np.array([1e10 + 1e10j, 1e100j, 1e200 + 0j, -1e200 + 1e-5j, 1e250 + 1e250j])
    for points in (z, far):
        got = np.asarray(ls.faddeeva(points))
        ref = special.wofz(points)
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=0)  # measured 7e-15


def test_faddeeva_lower_half_plane_and_real_input():
    z = np.linspace(-5.0, 5.0, 41)[None, :] - 1j * np.linspace(0.01, 3.0, 13)[:, None]
    np.testing.assert_allclose(ls.faddeeva(z), special.wofz(z), rtol=1e-12, atol=0)
    x = np.linspace(-10.0, 10.0, 81)
    np.testing.assert_allclose(ls.faddeeva(x), special.wofz(x), rtol=1e-13, atol=0)
    assert ls.faddeeva(1.0).dtype == jnp.complex128


# ---------------------------------------------------------------------------------------------
# unit area


@pytest.mark.parametrize("name", list(ls.LINESHAPES))
@pytest.mark.parametrize("fwhm", [1e-3, 1.0, 50.0])
def test_unit_area(name, fwhm):
    # x = centre + scale tan(theta) maps the real line onto (-pi/2, pi/2), where the integrand is
    # smooth and pi-periodic, so the midpoint rule converges spectrally
    n = 400
    step = np.pi / n
    theta = -np.pi / 2 + (np.arange(n) + 0.5) * step
    extra = {"fwhm_lorentz": 0.7 * fwhm} if name == "voigt" else EXTRA[name]
    scale = float(ls.total_fwhm(name, fwhm, **extra))
    x = CENTRE + scale * np.tan(theta)
    values = np.asarray(ls.LINESHAPES[name].profile(x, CENTRE, fwhm, *extra.values()))
    area = np.sum(values * scale / np.cos(theta) ** 2) * step
    assert area == pytest.approx(1.0, abs=1e-12)  # measured 2e-14


# ---------------------------------------------------------------------------------------------
# tiny widths, gradients and JIT


@pytest.mark.parametrize("name", list(ls.LINESHAPES))
def test_tiny_widths_finite_with_finite_gradients(name):
    x = CENTRE + np.array([-1.0, -1e-12, 0.0, 1e-13, 1e-6, 1.0, 1e5])
    extra = tuple(EXTRA[name].values())
    profile = ls.LINESHAPES[name].profile
    grad = jax.jit(jax.grad(lambda c, w: jnp.sum(profile(x, c, w, *extra)), argnums=(0, 1)))
    for fwhm in (1e-12, 1e-300, 0.0):
        values = np.asarray(profile(x, CENTRE, fwhm, *extra))
        assert np.all(np.isfinite(values)), fwhm
        # the value at the centre is the (huge, or for the Voigt Lorentzian) peak value
        peak = float(ls.peak_value(name, fwhm, **EXTRA[name]))
        assert values[2] == pytest.approx(peak, rel=1e-14)
        assert peak > (0.9 if name == "voigt" else 1e11)
        assert np.all(np.isfinite(grad(CENTRE, fwhm))), fwhm


def test_voigt_without_lorentzian_has_finite_gradients():
    x = CENTRE + np.array([-100.0, -1.0, 0.0, 0.3, 2.0, 1e5])

    def total(centre, fwhm, fwhm_lorentz):
        return jnp.sum(ls.voigt(x, centre, fwhm, fwhm_lorentz))

    grad = jax.jit(jax.grad(total, argnums=(0, 1, 2)))
    gauss = jax.grad(lambda c, w: jnp.sum(ls.gaussian(x, c, w)), argnums=(0, 1))(CENTRE, 1.5)
    for fwhm_lorentz in (0.0, 1e-300):
        grads = grad(CENTRE, 1.5, fwhm_lorentz)
        assert np.all(np.isfinite(grads))
        # the Gaussian limit has the Gaussian's derivatives
        np.testing.assert_allclose(grads[:2], gauss, rtol=1e-12, atol=1e-15)
    # both widths zero: a finite spike with finite gradients
    assert np.isfinite(float(ls.voigt(CENTRE, CENTRE, 0.0, 0.0)))
    assert np.all(np.isfinite(grad(CENTRE, 0.0, 0.0)))


def test_gradient_matches_finite_difference():
    x = np.linspace(-3.0, 4.0, 29)

    @jax.jit
    def total(params):
        centre, fwhm, fwhm_lorentz, eta = params
        voigt = ls.voigt(x, centre, fwhm, fwhm_lorentz)
        return jnp.sum(jnp.sin(x) * (voigt + ls.pseudo_voigt(x, centre, fwhm, eta)))

    params = np.array([0.2, 1.1, 0.6, 0.3])
    grad = np.asarray(jax.jit(jax.grad(total))(params))
    step = 1e-6
    numeric = [
        (total(params + step * e) - total(params - step * e)) / (2 * step) for e in np.eye(4)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)


def test_faddeeva_derivative():
    z = np.array([0.3 + 0.1j, 2.0 + 1e-9j, 5.0 + 4.0j, 20.0 + 0.5j])
    dre = jax.vmap(jax.grad(lambda a, b: ls.faddeeva(a + 1j * b).real))(z.real, z.imag)
    expected = (2j / np.sqrt(np.pi) - 2 * z * special.wofz(z)).real
    np.testing.assert_allclose(dre, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", list(ls.LINESHAPES))
def test_jit_equals_eager(name):
    profile = ls.LINESHAPES[name].profile
    x = CENTRE + np.linspace(-40.0, 40.0, 401)
    extra = tuple(EXTRA[name].values())
    for fwhm in (1e-3, 2.0):
        jitted = jax.jit(profile)(x, CENTRE, fwhm, *extra)
        with jax.disable_jit():  # op by op, no compilation anywhere
            eager = profile(x, CENTRE, fwhm, *extra)
        np.testing.assert_allclose(jitted, eager, rtol=1e-15, atol=0)


# ---------------------------------------------------------------------------------------------
# peak values and conversions


@pytest.mark.parametrize("name", list(ls.LINESHAPES))
def test_peak_value_is_profile_at_centre(name):
    fwhm = np.array([1e-4, 0.5, 3.0, 2e3])
    extra = EXTRA[name]
    if name == "voigt":
        extra = {"fwhm_lorentz": fwhm * np.array([1e-6, 0.2, 5.0, 1e6])}
    peak = ls.peak_value(name, fwhm, **extra)
    at_centre = ls.LINESHAPES[name].profile(CENTRE, CENTRE, fwhm, *extra.values())
    np.testing.assert_allclose(peak, at_centre, rtol=1e-14, atol=0)
    ref = scipy_profile(name, CENTRE, CENTRE, fwhm, **extra)
    np.testing.assert_allclose(peak, ref, rtol=1e-13, atol=0)


def test_peak_value_closed_forms():
    assert float(ls.peak_value("gaussian", 2.0)) == pytest.approx(
        math.sqrt(math.log(2) / math.pi), rel=1e-15
    )
    assert float(ls.peak_value("lorentzian", 2.0)) == pytest.approx(1 / math.pi, rel=1e-15)
    # Voigt: Re w(iy) = exp(y^2) erfc(y) at y = gamma / (sigma sqrt 2)
    sigma, gamma = 0.8, 0.3
    y = gamma / (sigma * math.sqrt(2))
    expected = special.erfcx(y) / (sigma * math.sqrt(2 * math.pi))
    got = ls.peak_value("voigt", ls.sigma_to_fwhm(sigma), fwhm_lorentz=2 * gamma)
    assert float(got) == pytest.approx(expected, rel=1e-14)
    assert np.isfinite(float(ls.peak_value("voigt", 0.0, fwhm_lorentz=0.0)))


@pytest.mark.parametrize("name", list(ls.LINESHAPES))
def test_area_height_round_trip(name):
    area = np.array([0.1, 2.0, 3e4])
    fwhm = np.array([0.01, 1.0, 70.0])
    extra = {"fwhm_lorentz": fwhm / 3} if name == "voigt" else EXTRA[name]
    height = ls.area_to_height(name, area, fwhm, **extra)
    np.testing.assert_allclose(height, area * ls.peak_value(name, fwhm, **extra), rtol=1e-15)
    np.testing.assert_allclose(ls.height_to_area(name, height, fwhm, **extra), area, rtol=1e-15)


def test_sigma_fwhm_conversions():
    assert pytest.approx(2.3548200450309493, rel=1e-15) == ls.FWHM_PER_SIGMA
    sigma = np.array([1e-5, 1.0, 42.0])
    np.testing.assert_allclose(ls.fwhm_to_sigma(ls.sigma_to_fwhm(sigma)), sigma, rtol=1e-15)
    assert float(ls.sigma_to_fwhm(1)) == pytest.approx(2.3548200450309493, rel=1e-15)


def test_voigt_fwhm_pure_limits():
    fwhm = np.array([0.0, 1e-3, 1.0, 250.0])
    np.testing.assert_allclose(ls.voigt_fwhm(fwhm, 0.0), fwhm, rtol=1e-15)
    # fL (0.5346 + sqrt(0.2166)) = 1.0000 fL to the printed digits of the formula
    np.testing.assert_allclose(ls.voigt_fwhm(0.0, fwhm), fwhm, rtol=2e-5)


def test_voigt_fwhm_matches_measured_width():
    fwhm = 1.0
    for ratio in np.logspace(-3.0, 3.0, 13):
        fwhm_lorentz = ratio * fwhm
        sigma, gamma = fwhm / ls.FWHM_PER_SIGMA, fwhm_lorentz / 2

        def above_half(x, sigma=sigma, gamma=gamma):
            return (
                special.voigt_profile(x, sigma, gamma)
                - special.voigt_profile(0.0, sigma, gamma) / 2
            )

        half = brentq(above_half, 0.0, 10.0 * (fwhm + fwhm_lorentz), xtol=1e-14, rtol=1e-14)
        approx = float(ls.voigt_fwhm(fwhm, fwhm_lorentz))
        assert approx == pytest.approx(2 * half, rel=2.5e-4)
        assert float(ls.total_fwhm("voigt", fwhm, fwhm_lorentz=fwhm_lorentz)) == approx


def test_total_fwhm_of_other_shapes_is_fwhm():
    assert float(ls.total_fwhm("gaussian", 3.0)) == 3.0
    assert float(ls.total_fwhm("pseudo_voigt", 3.0, eta=0.5)) == 3.0


def test_extra_parameters_are_checked():
    message = "the extra parameters of shape 'voigt' must be exactly ('fwhm_lorentz',); got ()"
    with pytest.raises(TypeError, match=re.escape(message)):
        ls.peak_value("voigt", 1.0)
    with pytest.raises(TypeError, match="exactly \\(\\); got \\('eta',\\)"):
        ls.total_fwhm("gaussian", 1.0, eta=0.2)


# ---------------------------------------------------------------------------------------------
# registry


def test_registry_contents():
    assert tuple(ls.LINESHAPES) == ("gaussian", "lorentzian", "pseudo_voigt", "voigt")
    assert ls.get_lineshape("gaussian").extra_params == ()
    assert ls.get_lineshape("lorentzian").extra_params == ()
    assert ls.get_lineshape("pseudo_voigt").extra_params == ("eta",)
    assert ls.get_lineshape("voigt").extra_params == ("fwhm_lorentz",)
    assert ls.get_lineshape("voigt").profile is ls.voigt
    assert all(shape.description for shape in ls.LINESHAPES.values())


def test_unknown_shape_message():
    message = "shape must be one of ('gaussian', 'lorentzian', 'pseudo_voigt', 'voigt'); got 'foo'"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ls.get_lineshape("foo")
    with pytest.raises(ValueError, match=re.escape(message)):
        ls.peak_value("foo", 1.0)


@pytest.mark.parametrize("bad", [3, None, ("gaussian",)])
def test_non_string_shape_is_type_error(bad):
    with pytest.raises(TypeError, match=r"^shape must be one of"):
        ls.get_lineshape(bad)


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, restored after the test."""
    monkeypatch.setattr(ls, "LINESHAPES", dict(ls.LINESHAPES))
    return ls.LINESHAPES


def _square(x, centre, fwhm, skew):
    inside = jnp.abs(x - centre) <= fwhm / 2
    return jnp.where(inside, 1.0 / fwhm, 0.0) * (1.0 + 0.0 * skew)


def test_register_user_shape(registry):
    shape = ls.LineShape("square", _square, ("skew",), "top hat")
    assert ls.register_lineshape(shape) is shape
    assert ls.get_lineshape("square") is shape
    assert float(ls.peak_value("square", 4.0, skew=1.0)) == 0.25
    assert float(ls.area_to_height("square", 2.0, 4.0, skew=1.0)) == 0.5
    assert float(ls.total_fwhm("square", 4.0, skew=1.0)) == 4.0
    message = "shape.name must not be registered already (pass overwrite=True); got 'square'"
    with pytest.raises(ValueError, match=re.escape(message)):
        ls.register_lineshape(shape)
    replacement = shape._replace(description="another top hat")
    assert ls.register_lineshape(replacement, overwrite=True) is replacement
    assert ls.get_lineshape("square").description == "another top hat"


def test_overwritten_builtin_uses_its_own_profile(registry):
    doubled = ls.LineShape("gaussian", lambda x, c, w: 2 * ls.gaussian(x, c, w))
    ls.register_lineshape(doubled, overwrite=True)
    expected = 2 * ls.peak_value(ls._BUILTIN["gaussian"], 1.0)
    assert float(ls.peak_value("gaussian", 1.0)) == pytest.approx(float(expected), rel=1e-15)


@pytest.mark.parametrize(
    ("shape", "error", "pattern"),
    [
        ("gaussian", TypeError, "^shape must be a LineShape; got 'gaussian'$"),
        (ls.LineShape("s", 3.0), TypeError, "^shape.profile must be callable; got 3.0$"),
        (ls.LineShape("", _square), ValueError, "^shape.name must not be empty; got ''$"),
        (ls.LineShape(1, _square), TypeError, "^shape.name must be a string; got 1$"),
        (ls.LineShape("s", _square, ["a"]), TypeError, "^shape.extra_params must be a tuple"),
        (ls.LineShape("s", _square, ("a", "a")), ValueError, "distinct Python identifiers"),
        (ls.LineShape("s", _square, ("not ok",)), ValueError, "distinct Python identifiers"),
        (ls.LineShape("s", _square, (), None), TypeError, "^shape.description must be"),
    ],
)
def test_register_rejects_bad_shapes(registry, shape, error, pattern):
    with pytest.raises(error, match=pattern):
        ls.register_lineshape(shape)
    assert "s" not in registry
