"""specbayes.deconv: Bayesian deconvolution of one spectrum into peaks, baseline and noise.

Importing this package is cheap: the JAX-based modules load on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Spectrum": "deconv.spectrum",
    "SpectrumSeries": "deconv.spectrum",
    "ConvergenceWarning": "deconv.exceptions",
    "EvidenceWarning": "deconv.exceptions",
    "MisfitWarning": "deconv.exceptions",
    "ReadError": "deconv.exceptions",
    "read_spectrum": "deconv.io",
    "read_series": "deconv.io",
    "write_spectrum": "deconv.io",
    "Priors": "deconv.priors",
    "default_priors": "deconv.priors",
    "PeakModel": "deconv.model",
    "peak_model": "deconv.model",
    "write_series": "deconv.io",
    "fit": "deconv.inference",
    "Fit": "deconv.inference",
    "CustomBaseline": "deconv.baselines",
    "SplineBaseline": "deconv.baselines",
    "free_energy": "deconv.selection",
    "select": "deconv.selection",
    "Selection": "deconv.selection",
    "ModelEvidence": "deconv.selection",
    "replica_exchange": "deconv.evidence",
    "wbic": "deconv.evidence",
    "EvidenceResult": "deconv.evidence",
    "enable_compilation_cache": "deconv._jax",
    "clear_compiled_programs": "deconv._jax",
    "subtract_baseline": "deconv.precorrect",
    "baseline_methods": "deconv.precorrect",
    "PAPER_ASLS": "deconv.precorrect",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'deconv' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
