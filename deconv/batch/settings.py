"""The settings of a batch: model, method and options checked once, before any spectrum is read,
and the per-spectrum seeds."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from deconv import _structured
from deconv import _validation as v
from deconv.baselines import BaselineSpec, baseline_label
from deconv.model import (
    PeakModel,
)
from deconv.priors import Priors, describe
from deconv.selection import EVIDENCE_STARTS
from deconv.spectrum import Spectrum

METHODS = ("map", "nuts", "evidence")


COMMON_OPTIONS = ("noise", "priors", "sigma", "smallest_peak", "n_starts")


MAP_OPTIONS = (*COMMON_OPTIONS, "n_iter")


NUTS_OPTIONS = (
    *COMMON_OPTIONS,
    "num_warmup",
    "num_samples",
    "num_chains",
    "target_accept",
    "dense_mass",
)


EVIDENCE_OPTIONS = (*COMMON_OPTIONS, "sampler", "warm_start", "warm_warmup")


DEFAULT_MAP_STARTS = 2


DEFAULT_NUTS_STARTS = 24


DEFAULT_WARM_WARMUP = 100


DEFAULT_ITERATIONS = 200  # at most; each spectrum stops when converged (~10-30 steps)


@dataclass(frozen=True)
class _Settings:
    """Everything that defines the model and the fit, shared by every spectrum of a batch."""

    n_peaks: int
    shape: str
    baseline: BaselineSpec
    method: str
    noise: str = "normal"
    priors: Priors | str | None = None
    sigma: float | str | None = None
    smallest_peak: float | None = None
    n_starts: int = DEFAULT_MAP_STARTS
    n_iter: int = DEFAULT_ITERATIONS
    nuts: tuple[tuple[str, Any], ...] = ()
    evidence: tuple[tuple[str, Any], ...] = ()
    crop: tuple[float | None, float | None] | None = None
    precorrect: tuple[str, str] | None = None  # (method, keywords as JSON text)

    def prepare(self, spectrum: Spectrum) -> Spectrum:
        """``spectrum`` cropped to :attr:`crop`, then pre-corrected (:attr:`precorrect`)."""
        if self.crop is not None:
            lower, upper = self.crop
            lower = spectrum.x[0] if lower is None else lower
            upper = spectrum.x[-1] if upper is None else upper
            spectrum = spectrum.crop(lower, upper)
        if self.precorrect is not None:
            from deconv.precorrect import subtract_baseline

            method, keywords = self.precorrect
            spectrum = subtract_baseline(spectrum, method, **json.loads(keywords))
        return spectrum

    @property
    def label(self) -> str:
        """Model label used in file names and tables, e.g. ``K3_gaussian_linear_normal_map``."""
        baseline = baseline_label(self.baseline)
        return f"K{self.n_peaks}_{self.shape}_{baseline}_{self.noise}_{self.method}"

    @property
    def vectorised(self) -> bool:
        """Whether the MAP runs in the vmapped optimiser (else a loop of :func:`deconv.fit`)."""
        return (
            self.method == "map"
            and self.noise == "normal"
            and _structured.supports_baseline(self.baseline)
        )

    def fit_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`deconv.fit` for this model."""
        return {
            "shape": self.shape,
            "baseline": self.baseline,
            "noise": self.noise,
            "priors": self.priors,
            "sigma": self.sigma,
            "smallest_peak": self.smallest_peak,
        }

    @property
    def order_dependent(self) -> bool:
        """Whether a spectrum's result depends on its chunk: free energies warm-started from
        the spectrum before, or cold ones whose ladder size (and path) a chunk's first
        spectrum chooses for the rest (unless ``sampler`` fixes ``n_temperatures`` or
        ``betas``, and ``reference``)."""
        if self.method != "evidence":
            return False
        options = dict(self.evidence)
        sampler = dict(options["sampler"])
        ladder = "n_temperatures" in sampler or "betas" in sampler
        path = sampler.get("reference", "auto") != "auto"
        return bool(options["warm_start"]) or not (ladder and path)

    def describe(self, key: Any, chunk_size: int | None = None) -> dict[str, Any]:
        """A JSON-able record of the settings (what a stored result was computed with).

        ``chunk_size`` is part of it only where results depend on it (free energies, see
        :attr:`order_dependent`): elsewhere results are independent of chunking.
        """
        priors = self.priors
        if isinstance(priors, Priors):
            priors = {name: describe(value) for name, value in vars(priors).items()}
        chunking = {"chunk_size": chunk_size} if self.order_dependent else {}
        preparation = {}
        if self.crop is not None:
            preparation["crop"] = list(self.crop)
        if self.precorrect is not None:
            method, keywords = self.precorrect
            preparation["precorrect"] = {"method": method, "keywords": json.loads(keywords)}
        return {
            **chunking,
            **preparation,
            "model": self.label,
            "priors": priors if priors is not None else "default",
            "sigma": self.sigma,
            "smallest_peak": self.smallest_peak,
            "n_starts": self.n_starts,
            "n_iter": self.n_iter if self.vectorised else None,
            "nuts": dict(self.nuts),
            "evidence": {k: dict(a) if isinstance(a, tuple) else a for k, a in self.evidence},
            "key": np.asarray(key).tolist() if not isinstance(key, int) else key,
        }


def _settings(
    n_peaks: int,
    shape: str,
    baseline: BaselineSpec,
    method: str,
    options: dict[str, Any],
    *,
    crop: Any = None,
    precorrect: Any = None,
) -> _Settings:
    v.check_choice("method", method, METHODS)
    allowed = {"map": MAP_OPTIONS, "nuts": NUTS_OPTIONS, "evidence": EVIDENCE_OPTIONS}[method]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        v.fail(f"fit_kwargs of method={method!r}", f"be among {allowed}", unknown, error=TypeError)
    noise = options.get("noise", "normal")
    PeakModel(n_peaks=n_peaks, shape=shape, baseline=baseline, noise=noise)  # validates them
    priors, smallest_peak = options.get("priors"), options.get("smallest_peak")
    if isinstance(priors, str):
        Priors.preset(priors)  # validates the name
    elif priors is not None and not isinstance(priors, Priors):
        v.fail("priors", "be None, a preset name or a Priors", priors, error=TypeError)
    if smallest_peak is not None:
        smallest_peak = v.check_positive_float("smallest_peak", smallest_peak)
    sigma = options.get("sigma")
    if isinstance(sigma, str):
        v.check_choice("sigma", sigma, ("data",))
    elif sigma is not None:
        sigma = v.check_positive_float("sigma", sigma)
    default_starts = {"map": DEFAULT_MAP_STARTS, "nuts": DEFAULT_NUTS_STARTS}.get(
        method, EVIDENCE_STARTS
    )
    n_starts = v.check_positive_int("n_starts", options.get("n_starts", default_starts))
    n_iter = v.check_positive_int("n_iter", options.get("n_iter", DEFAULT_ITERATIONS))
    nuts = {k: options[k] for k in NUTS_OPTIONS if k in options and k not in COMMON_OPTIONS}
    for name in ("num_warmup", "num_samples", "num_chains"):
        if name in nuts:
            v.check_positive_int(name, nuts[name])
    if "target_accept" in nuts:
        v.check_fraction("target_accept", nuts["target_accept"])
    return _Settings(
        n_peaks=n_peaks,
        shape=shape,
        baseline=baseline,
        method=method,
        noise=noise,
        priors=priors,
        sigma=sigma,
        smallest_peak=smallest_peak,
        n_starts=n_starts,
        n_iter=n_iter,
        nuts=tuple(sorted(nuts.items())),
        evidence=_evidence_options(options) if method == "evidence" else (),
        crop=_check_crop(crop),
        precorrect=_check_precorrect(precorrect),
    )


def _check_crop(crop: Any) -> tuple[float | None, float | None] | None:
    """``(lower, upper)`` bounds of x to keep (``None``: that end uncut)."""
    if crop is None:
        return None
    if not isinstance(crop, tuple | list) or len(crop) != 2:
        v.fail("crop", "be a (lower, upper) pair of x values (None for an open end)", crop)
    lower, upper = (
        None if bound is None else v.check_finite_float(f"crop[{i}]", bound)
        for i, bound in enumerate(crop)
    )
    if lower is not None and upper is not None and not lower < upper:
        v.fail("crop", "have lower < upper", crop)
    return None if lower is None and upper is None else (lower, upper)


def _check_precorrect(precorrect: Any) -> tuple[str, str] | None:
    """A pybaselines step as ``(method, keywords as JSON)``, checked before any data is read."""
    if precorrect is None:
        return None
    if isinstance(precorrect, str):
        precorrect = (precorrect, {})
    if not isinstance(precorrect, tuple | list) or len(precorrect) != 2:
        v.fail("precorrect", "be a method name or a (method, keywords) pair", precorrect)
    from deconv.precorrect import check_step

    method, keywords = precorrect
    return method, json.dumps(check_step(method, keywords), sort_keys=True)


def _evidence_options(options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    from deconv.evidence import check_sampler

    sampler = check_sampler(options.get("sampler"))
    warm = v.check_bool("warm_start", options.get("warm_start", True))
    warmup = v.check_positive_int("warm_warmup", options.get("warm_warmup", DEFAULT_WARM_WARMUP))
    return (
        ("sampler", tuple(sorted(sampler.items()))),
        ("warm_start", warm),
        ("warm_warmup", warmup),
    )


def _key_words(key: Any) -> tuple[int, ...]:
    """Entropy of a seed: an int, or the two words of a jax PRNG key (see ``v.check_key``)."""
    return v.check_key("key", key)


def _seed(words: tuple[int, ...], sample_id: str) -> int:
    """A per-spectrum seed from the batch seed and the sample id (not its position)."""
    entropy = [*words, zlib.crc32(sample_id.encode("utf-8"))]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0] >> 1)
