"""specbayes.datasets: synthetic spectra with ground truth and bundled spectra."""

from __future__ import annotations

from datasets.paper import PaperScenario, paper_background_series, paper_noise_series
from datasets.registry import available, load, path
from datasets.scenarios import Scenario, pla_carbonyl, unknown_background, weak_band
from datasets.synthetic import (
    GroundTruth,
    Synthetic,
    ir_carbonyl,
    nagata2012,
    smooth_background,
    synthetic_spectrum,
)

__all__ = [
    "GroundTruth",
    "PaperScenario",
    "Scenario",
    "Synthetic",
    "available",
    "ir_carbonyl",
    "load",
    "nagata2012",
    "paper_background_series",
    "paper_noise_series",
    "path",
    "pla_carbonyl",
    "smooth_background",
    "synthetic_spectrum",
    "unknown_background",
    "weak_band",
]
