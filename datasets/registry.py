"""Spectra bundled with the package, each checked against its SHA-256 on load."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from deconv import _validation as v

REGISTRY = {
    "ir_carbonyl_demo": {
        "file": "ir_carbonyl_demo.csv",
        "sha256": "d18c5fe9d871676fcbe72e99dd23d4656810fe29ec9bb6d6939d9155a5912bba",
        "description": "synthetic IR carbonyl band (datasets.ir_carbonyl(seed=0)), descending axis",
    },
}


def available() -> list[str]:
    """Names of the bundled spectra."""
    return sorted(REGISTRY)


def path(name: str) -> Path:
    """Path of a bundled spectrum file, after checking its checksum."""
    v.check_choice("name", name, available())
    entry = REGISTRY[name]
    file = Path(str(resources.files("datasets") / "data" / entry["file"]))
    expected = entry["sha256"]
    if expected is not None:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        if digest != expected:
            raise OSError(f"bundled file {file} is corrupted: sha256 {digest} != {expected}")
    return file


def load(name: str):
    """Read a bundled spectrum as a :class:`deconv.Spectrum`."""
    from deconv.io import read_spectrum

    return read_spectrum(path(name))
