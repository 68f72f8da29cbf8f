"""Bayes free energy F = -log Z by replica exchange (stepping stone), and WBIC as a screen.

The public door to :mod:`deconv.tempering`, where the method, its settings and their
measurements are described and the kernel lives: this module holds the names a user of the
free energy needs (the estimators, their results, settings and diagnostics).
"""

from __future__ import annotations

from deconv.tempering.diagnostics import (
    ACCEPT_MIN,
    DRIFT_MAX,
    MAX_REDOS,
    MIXING_CHECKS,
    OUTLIER_FLOOR,
    OUTLIER_GAP,
    OUTLIER_SCALES,
    SE_MAX,
    SWAP_RATE_MIN,
    diagnostic_problems,
    outlying_runs,
    poorly_mixed,
)
from deconv.tempering.launch import (
    SAMPLER_SETTINGS,
    check_sampler,
    launch_replica_exchange,
    replica_exchange,
)
from deconv.tempering.programs import compile_count
from deconv.tempering.results import EvidenceResult, SamplerState, WBICResult
from deconv.tempering.settings import MIN_SAMPLES, MIN_WARMUP, PRECONDITIONERS, REFERENCES
from deconv.tempering.setup import compile_setup_ahead
from deconv.tempering.wbic import wbic

__all__ = [
    "ACCEPT_MIN",
    "DRIFT_MAX",
    "MAX_REDOS",
    "MIN_SAMPLES",
    "MIN_WARMUP",
    "MIXING_CHECKS",
    "OUTLIER_FLOOR",
    "OUTLIER_GAP",
    "OUTLIER_SCALES",
    "PRECONDITIONERS",
    "REFERENCES",
    "SAMPLER_SETTINGS",
    "SE_MAX",
    "SWAP_RATE_MIN",
    "EvidenceResult",
    "SamplerState",
    "WBICResult",
    "check_sampler",
    "compile_count",
    "compile_setup_ahead",
    "diagnostic_problems",
    "launch_replica_exchange",
    "outlying_runs",
    "poorly_mixed",
    "replica_exchange",
    "wbic",
]
