"""Baseline terms: none, constant, Chebyshev polynomials and user-supplied JAX functions.

Polynomial baselines use the Chebyshev basis on x mapped to [-1, 1], whose columns are well
conditioned, so coefficient priors can be independent. A :class:`CustomBaseline` wraps any pure
JAX function of x (user units) with its own named priors, e.g. an exponential background.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jax.numpy as jnp
from numpyro import distributions as dist

from deconv import _jax  # noqa: F401
from deconv import _validation as v

POLYNOMIAL_DEGREES = {"none": -1, "constant": 0, "linear": 1, "quadratic": 2, "cubic": 3}
BASELINES = tuple(POLYNOMIAL_DEGREES)


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


BaselineSpec = str | CustomBaseline


def check_baseline(baseline: object) -> BaselineSpec:
    """Validate a baseline choice: one of :data:`BASELINES` or a :class:`CustomBaseline`."""
    if isinstance(baseline, CustomBaseline):
        return baseline
    return v.check_choice("baseline", baseline, BASELINES)


def n_baseline_parameters(baseline: BaselineSpec) -> int:
    """How many parameters a baseline adds to the model."""
    if isinstance(baseline, CustomBaseline):
        return baseline.n_parameters
    return POLYNOMIAL_DEGREES[baseline] + 1


def baseline_label(baseline: BaselineSpec) -> str:
    return baseline.name if isinstance(baseline, CustomBaseline) else baseline
