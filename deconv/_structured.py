"""A model's structure apart from its numbers: what compiled functions may be keyed by.

Two spectra fitted with the same peak count, line shape, baseline and noise model differ only
in arrays: the axis, the intensities, the per-point noise and the priors in internal units
(scaled from each spectrum's data). :func:`split` separates a :class:`~deconv.inference.Problem`
into a hashable :class:`Structure` and those arrays, and :func:`model_kwargs` rebuilds the model
inside a compiled function from (traced) arrays, so that a new spectrum never recompiles.

The prior arrays travel in an order fixed by their names. NumPyro flattens a distribution's
fields in the iteration order of a ``set`` of their names, which changes with Python's string
hashing from one process to the next; in that order the compiled programs took their arguments
in a different order in every process, and JAX's persistent compilation cache never hit.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import distributions as dist
from numpyro import handlers
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from deconv import _jax
from deconv.baselines import CustomBaseline, SplineBaseline, baseline_label
from deconv.model import (
    PeakModel,
    Scaling,
    peak_model,
    pointwise_log_likelihood,
    scaled_priors,
)
from deconv.priors import AffineDistribution, Priors

IDENTITY = Scaling(0.0, 1.0, 1.0)


class Structure(NamedTuple):
    """Everything a compiled density depends on, apart from array values and shapes."""

    n_peaks: int
    shape: str
    baseline: str | SplineBaseline
    noise: str
    width_kind: str
    amplitude_kind: str
    treedef: Any
    point_sigma: bool
    leaf_order: tuple[int, ...]  # flattening index of each prior array, in name order

    @property
    def label(self) -> str:
        return f"K={self.n_peaks} {self.shape} + {baseline_label(self.baseline)}"


def supports(model: PeakModel) -> bool:
    """Whether :func:`split` handles the model (:func:`supports_baseline`)."""
    return supports_baseline(model.baseline)


def supports_baseline(baseline: Any) -> bool:
    """Not custom baselines (they carry their own priors), nor splines of fixed smoothness
    (the value, in user units, is part of the baseline, which a structure holds as a
    constant; an inferred smoothness has a prior, whose arrays are data)."""
    if isinstance(baseline, SplineBaseline):
        return baseline.smoothness is None
    return not isinstance(baseline, CustomBaseline)


def internal_priors(problem: Any) -> dict[str, Any]:
    """The priors of ``problem`` in internal units, the noise scale's included."""
    model, scaling = problem.model, problem.scaling
    internal = scaled_priors(model, scaling)
    internal.setdefault("sigma", AffineDistribution(model.priors.noise, 0.0, 1.0 / scaling.ys))
    return internal


def split(problem: Any) -> tuple[Structure, dict[str, Any]]:
    """The structure of ``problem`` and its arrays (``u``, ``v``, ``sigma_points``, ``leaves``,
    and ``log_ys``: log-likelihoods in user units are internal ones minus ``log_ys`` a point).

    A known sigma becomes a constant per-point sigma, so that its value is an array too. With
    Poisson noise the per-point array carries the count scale ``ys`` instead (the model runs on
    the identity scaling here; :func:`deconv.model.count_scale`).
    """
    model, scaling = problem.model, problem.scaling
    internal = internal_priors(problem)
    leaves, treedef = jax.tree_util.tree_flatten(internal)
    order = leaf_order(internal, leaves)
    n_points = int(np.size(problem.u))
    points = problem.sigma_points
    if points is None and model.priors.sigma is not None:
        points = np.full(n_points, model.priors.sigma / scaling.ys)
    if model.noise == "poisson":
        points = np.full(n_points, scaling.ys)
    structure = Structure(
        n_peaks=model.n_peaks,
        shape=model.shape,
        baseline=model.baseline,
        noise=model.noise,
        width_kind=model.priors.width_kind,
        amplitude_kind=model.priors.amplitude_kind,
        treedef=treedef,
        point_sigma=points is not None,
        leaf_order=order,
    )
    data = {
        "u": jnp.asarray(problem.u),
        "v": jnp.asarray(problem.v),
        "sigma_points": jnp.zeros(n_points) if points is None else jnp.asarray(points),
        "leaves": [jnp.asarray(leaves[i], dtype=float) for i in order],
        "log_ys": jnp.asarray(np.log(scaling.ys)),
    }
    return structure, data


def _named_leaves(node: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """``(name path, array)`` of every leaf of ``node`` in JAX's flattening order; a child is
    named by its dict key, its distribution field (NumPyro's order) or its position."""
    children = jax.tree_util.tree_flatten(node, is_leaf=lambda x: x is not node)[0]
    if len(children) == 1 and children[0] is node:
        return [(path, node)]
    if isinstance(node, dict):
        labels = [str(key) for key in sorted(node)]
    elif isinstance(node, dist.Distribution):
        labels = list(type(node).gather_pytree_data_fields())
    else:
        labels = [str(i) for i in range(len(children))]
    if len(labels) != len(children):
        labels = [str(i) for i in range(len(children))]
    return [
        leaf for label, child in zip(labels, children, strict=True)
        for leaf in _named_leaves(child, (*path, label))
    ]  # fmt: skip


def leaf_order(tree: Any, leaves: list) -> tuple[int, ...]:
    """Positions in ``leaves`` (JAX's flattening of ``tree``) taken in the order of the arrays'
    names: the same in every process. Identity where the names cannot be matched."""
    named = _named_leaves(tree)
    names = [name for name, _ in named]
    matched = len(named) == len(leaves) and len(set(names)) == len(names)
    if not matched or not all(a is b for (_, a), b in zip(named, leaves, strict=True)):
        return tuple(range(len(leaves)))
    return tuple(sorted(range(len(leaves)), key=names.__getitem__))


def _flattening_order(structure: Any, leaves: list) -> list:
    """``leaves`` given in name order, back in JAX's flattening order of this process."""
    flattened = [None] * len(leaves)
    for position, index in enumerate(structure.leaf_order):
        flattened[index] = leaves[position]
    return flattened


def model_kwargs(structure: Any, leaves: list, sigma_points: jnp.ndarray) -> dict:
    """Keyword arguments of :func:`~deconv.model.peak_model` in internal units, the priors
    rebuilt from (traced) arrays; ``structure`` needs the fields of :class:`Structure`."""
    internal = jax.tree_util.tree_unflatten(structure.treedef, _flattening_order(structure, leaves))
    priors = Priors(
        centre=internal["centre"],
        width=internal[structure.width_kind],
        amplitude=internal[structure.amplitude_kind],
        eta=internal["eta"],
        fwhm_lorentz=internal["fwhm_lorentz"],
        baseline=internal["baseline"],
        smoothness=internal.get("smoothness"),
        noise=internal["sigma"],
        nu=internal["nu"],
        width_kind=structure.width_kind,
        amplitude_kind=structure.amplitude_kind,
    )
    model = PeakModel(
        n_peaks=structure.n_peaks,
        shape=structure.shape,
        baseline=structure.baseline,
        noise=getattr(structure, "noise", "normal"),
        priors=priors,
    )
    points = sigma_points if structure.point_sigma else None
    return {"model": model, "scaling": IDENTITY, "sigma_points": points}


@functools.cache
def transforms(structure: Structure) -> tuple[Any, Any]:
    """``(constrain(z, data), unconstrain(params, data))`` over a leading axis of points, each
    one compiled program per structure and batch size (eager, they run the model one small
    compiled operation at a time)."""

    def constrain(z: dict, data: dict) -> dict:
        kwargs = model_kwargs(structure, data["leaves"], data["sigma_points"])
        return constrain_fn(peak_model, (data["u"], data["v"]), kwargs, z)

    def unconstrain(params: dict, data: dict) -> dict:
        kwargs = model_kwargs(structure, data["leaves"], data["sigma_points"])
        return unconstrain_fn(peak_model, (data["u"], data["v"]), kwargs, params)

    return jax.jit(jax.vmap(constrain, (0, None))), jax.jit(jax.vmap(unconstrain, (0, None)))


@functools.cache
def evidence_densities(structure: Structure):
    """``(log_prior(z, data), log_likelihood(z, data))`` for the tempered samplers.

    The same densities as :func:`deconv.selection.evidence_densities`, with the data as an
    argument: one pair of functions per structure, so the compiled sampler is reused.
    """

    def log_prior(z: dict, data: dict) -> jnp.ndarray:
        kwargs = model_kwargs(structure, data["leaves"], data["sigma_points"])
        hidden = handlers.block(peak_model, hide=["v"])
        return -potential_energy(hidden, (data["u"], data["v"]), kwargs, z)

    def log_likelihood(z: dict, data: dict) -> jnp.ndarray:
        kwargs = model_kwargs(structure, data["leaves"], data["sigma_points"])
        params = constrain_fn(peak_model, (data["u"], data["v"]), kwargs, z)
        pointwise = pointwise_log_likelihood(
            params, data["u"], data["v"], kwargs["model"], IDENTITY, kwargs["sigma_points"]
        )
        return jnp.sum(pointwise) - data["u"].shape[0] * data["log_ys"]

    log_prior.__qualname__ = f"log_prior[{structure.label}]"
    log_likelihood.__qualname__ = f"log_likelihood[{structure.label}]"
    return log_prior, log_likelihood


_jax.keeps_programs(transforms.cache_clear)
_jax.keeps_programs(evidence_densities.cache_clear)
