"""Shared fixtures: the third-party spectra in ``../shared/data`` beside the repository."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]

# No persistent compilation cache in the suite: serialising an executable into JAX's disk cache
# crashed an xdist worker twice (SIGSEGV/SIGABRT inside put_executable_and_time, jax 0.10.2),
# and a crashed worker hung CI. The CLI, run in-process or as a subprocess, is told the same;
# tests/test_compilation.py exercises the cache in fresh processes with folders of their own.
os.environ["SPECBAYES_COMPILATION_CACHE"] = "0"
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """Let go of each test module's compiled programs when it ends. A worker runs many modules
    in one process; kept, their executables reached ~50 000 memory maps, and at the kernel's
    limit (vm.max_map_count, 65 530) XLA's compiler crashed the worker (SIGSEGV in
    backend_compile_and_load)."""
    yield
    if "deconv._jax" in sys.modules:
        sys.modules["deconv._jax"].clear_compiled_programs()
        gc.collect()


def _shared_data_dir() -> Path:
    override = os.environ.get("SPECBAYES_SHARED_DATA")
    return Path(override) if override else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real third-party spectra (``../shared/data``); skips the test if absent."""
    folder = _shared_data_dir()
    if not folder.is_dir():
        pytest.skip(f"shared data folder not found at {folder} (set SPECBAYES_SHARED_DATA)")
    return folder


def two_band_spectrum(index: int):
    """Two Gaussian bands on 0.1 (centres 4 and 6.5; the second's height 1 + 0.5 index), noise
    sd 0.02 from seed ``index``, 100 points on [0, 10]."""
    import deconv

    x = np.linspace(0.0, 10.0, 100)
    rng = np.random.default_rng(index)
    y = (
        2.0 * np.exp(-0.5 * ((x - 4.0) / 0.5) ** 2)
        + (1.0 + 0.5 * index) * np.exp(-0.5 * ((x - 6.5) / 0.6) ** 2)
        + 0.1
        + 0.02 * rng.standard_normal(x.size)
    )
    return deconv.Spectrum(x, y, name=f"s{index}")


@pytest.fixture(scope="session")
def two_band_map_fits():
    """MAP fits (K = 2 Gaussian + constant, 4 starts, key 0) of ``two_band_spectrum(0..3)``."""
    import deconv

    options = {"shape": "gaussian", "baseline": "constant", "method": "map", "key": 0}
    return [deconv.fit(two_band_spectrum(i), 2, n_starts=4, **options) for i in range(4)]
