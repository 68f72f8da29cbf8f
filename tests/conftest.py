"""Shared fixtures: the third-party spectra in ``../shared/data`` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]

# One compilation cache for the whole suite: both xdist workers, the examples and notebooks
# run in subprocesses and the CLI's own cache (never the user's ~/.cache) share it.
_CACHE = REPO / ".pytest_cache" / "specbayes-jax"
os.environ.setdefault("SPECBAYES_CACHE_DIR", str(_CACHE))
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.environ["SPECBAYES_CACHE_DIR"])
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# A size cap turns on JAX's file lock around cache reads and writes: without it two processes
# (both xdist workers, or a test and its subprocess) can read an entry another is still
# writing, and deserialising half an executable crashed a worker (SIGSEGV in
# compilation_cache.get_executable_and_time). 1 GiB, as deconv.enable_compilation_cache sets.
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2**30))


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
