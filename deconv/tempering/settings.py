"""The sampler's settings: their choices, minima and checks (one rule per setting, in one place)."""

from __future__ import annotations

from typing import Any

from deconv import _validation as _v
from deconv.tempering.setup import _check_betas
from deconv.tempering.states import Config

PRECONDITIONERS = ("gradient", "geometric", "draws")
"""Choices of the HMC preconditioner estimated during warm-up (see ``replica_exchange``)."""


REFERENCES = ("auto", "prior", "laplace")
"""Choices of the β = 0 end of the ladder (see ``replica_exchange``)."""


MIN_SAMPLES = 10
"""Fewest sampling sweeps (``n_samples``) of a replica-exchange run."""


MIN_WARMUP = 10
"""Fewest warm-up sweeps (``n_warmup``) of a cold replica-exchange run (a warm start: 1)."""


def _config(**values: Any) -> Config:
    ints = {
        "n_samples": MIN_SAMPLES,
        "n_independent": 1,
        "max_leapfrog": 1,
        "swap_rounds": 1,
    }
    for name, minimum in ints.items():
        values[name] = _v.check_positive_int(name, values[name], minimum=minimum)
    length = _v.check_positive_float("trajectory_length", values["trajectory_length"])
    values["trajectory_length"] = length
    values["target_accept"] = _v.check_fraction("target_accept", values["target_accept"])
    _v.check_choice("preconditioner", values["preconditioner"], PRECONDITIONERS)
    return Config(**values)


def _checked_settings(values: dict[str, Any], *, warm: bool) -> dict[str, Any]:
    """``values`` (one per name of :data:`SAMPLER_SETTINGS`) checked, the rule of each setting
    in one place; ``warm``: for a warm-started run (no ladder settings, a short warm-up)."""
    out = dict(values)
    minima = {
        "n_warmup": 1 if warm else MIN_WARMUP,
        "n_samples": MIN_SAMPLES,
        "n_independent": 1,
        "max_leapfrog": 1,
        "swap_rounds": 1,
    }
    for name, minimum in minima.items():
        out[name] = _v.check_positive_int(name, out[name], minimum=minimum)
    out["trajectory_length"] = _v.check_positive_float(
        "trajectory_length", out["trajectory_length"]
    )
    for name in ("target_accept", "target_swap"):
        out[name] = _v.check_fraction(name, out[name])
    _v.check_choice("preconditioner", out["preconditioner"], PRECONDITIONERS)
    _v.check_choice("reference", out["reference"], REFERENCES)
    out["mode_jumps"] = _v.check_bool("mode_jumps", out["mode_jumps"])
    if warm:
        if out["betas"] is not None or out["n_temperatures"] is not None:
            _v.fail("betas", "be None with warm_start (the ladder comes from it)", out["betas"])
    elif out["betas"] is not None:
        _check_betas(out["betas"])
    elif out["n_temperatures"] is not None:
        out["n_temperatures"] = _v.check_positive_int(
            "n_temperatures", out["n_temperatures"], minimum=2
        )
    return out
