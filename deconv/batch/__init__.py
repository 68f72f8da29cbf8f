"""Many spectra under one model: a vectorised MAP, a NUTS loop or free energies, locally or on
an executor.

MAP (``method="map"``)
    One optimiser is compiled per model structure and ``jax.vmap``-ed over a chunk of spectra
    (and over a few data-driven starts per spectrum). It runs Levenberg-Marquardt steps until
    each start has converged (``jax.lax.while_loop``; a lane that is done is frozen while the
    others go on, so a spectrum's result does not depend on its chunk) on the negative log
    posterior of each spectrum in unconstrained
    coordinates -- the objective :func:`deconv.fit` minimises with ``method="map"``. The
    curvature is Gauss-Newton on the whitened residuals ``(y - mean) / sigma`` (one forward-mode
    Jacobian of the mean curve) plus the exact Hessian of the prior, with the noise-scale block
    made exact at the optimum: positive semi-definite everywhere. From a data-driven start it
    reached :func:`deconv.fit`'s optimum in ~10 steps where exact-Hessian Newton steps needed
    over 100 (an indefinite Hessian far from the optimum); at most ``n_iter`` (default 200)
    steps are taken, and the summary's ``converged`` column says whether the best start
    converged within them.

    Each spectrum keeps its own data-scaled priors: the priors, in internal units, enter the
    compiled function as arrays, not constants, so a new spectrum never recompiles.
    Normal noise and polynomial baselines are vectorised; Student-t noise and custom baselines
    fall back to a loop of :func:`deconv.fit`.

NUTS (``method="nuts"``)
    A loop of :func:`deconv.fit` per spectrum. Its MAP optimiser is compiled once per model
    structure, but NumPyro's NUTS sampler closes over each spectrum's data and compiles for
    every spectrum (seconds each).

Free energies (``method="evidence"``)
    :func:`deconv.free_energy` (multi-start MAP, then replica exchange) per spectrum, the
    spectra of a chunk in order, each warm-started from the previous one's final replicas,
    ladder, step sizes and preconditioners (``warm_start=True``, the default): a short
    step-size warm-up (``warm_warmup`` sweeps, default 100) replaces the full one. The model's
    densities take the data as arguments, so one compiled sampler (and one compiled MAP
    optimiser) serves every spectrum of a structure: a warm start keeps the ladder size, and
    cold runs after a chunk's first reuse its number of temperatures. A warm-started run whose
    replicas do not mix (:func:`deconv.evidence.poorly_mixed`: the neighbour's ladder or step
    sizes do not fit this spectrum) where the run it started from did mix is redone cold,
    flagged ``restarted_cold`` in the summary.
    Warm-started results depend on which spectrum preceded in the chunk: equal in
    distribution, not bit for bit, across chunk sizes or a resumed run.

Chunks run in a background thread (while the main thread writes results) or on any executor
with ``submit`` (``concurrent.futures`` pools, a Dask ``distributed.Client``). Results depend
only on the data, the settings and the seed, never on where or in which chunk a spectrum ran.
"""

from __future__ import annotations

from deconv.batch.outcomes import EVIDENCE_COLUMNS, MISFIT_COLUMNS, TRUST_COLUMNS
from deconv.batch.results import BatchResult, SpectrumResult
from deconv.batch.run import fit_files, fit_series
from deconv.batch.settings import (
    COMMON_OPTIONS,
    DEFAULT_MAP_STARTS,
    DEFAULT_NUTS_STARTS,
    DEFAULT_WARM_WARMUP,
    EVIDENCE_OPTIONS,
    MAP_OPTIONS,
    METHODS,
    NUTS_OPTIONS,
)
from deconv.batch.vectorised_map import clear_cache, compile_count

__all__ = [
    "COMMON_OPTIONS",
    "DEFAULT_MAP_STARTS",
    "DEFAULT_NUTS_STARTS",
    "DEFAULT_WARM_WARMUP",
    "EVIDENCE_COLUMNS",
    "EVIDENCE_OPTIONS",
    "MAP_OPTIONS",
    "METHODS",
    "MISFIT_COLUMNS",
    "NUTS_OPTIONS",
    "TRUST_COLUMNS",
    "BatchResult",
    "SpectrumResult",
    "clear_cache",
    "compile_count",
    "fit_files",
    "fit_series",
]
