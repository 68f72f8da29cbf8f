"""Shared fixtures: the third-party spectra in ``../shared/data`` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]


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
