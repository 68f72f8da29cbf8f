"""Shared fixtures: the third-party spectra in ``../shared/data`` beside the repository."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import matplotlib
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
