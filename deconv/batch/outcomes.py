"""One outcome per spectrum: its summary row and columns by method, its InferenceData, or a failure
recorded with its reason."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from deconv._arviz import az
from deconv.batch.settings import _Settings
from deconv.results import PEAK_QUANTITIES, Fit, posterior_layout


@dataclass
class _MapArrays:
    """What a MAP InferenceData is made of; assembling it is left until it is needed."""

    x: np.ndarray
    y: np.ndarray
    n_peaks: int
    user: dict[str, np.ndarray]
    log_likelihood: np.ndarray
    predictive: np.ndarray


@dataclass
class _Outcome:
    """One spectrum's result as a chunk returns it: row, posterior and internal MAP."""

    sample_id: str
    row: dict[str, Any]
    idata: Any = None
    internal: dict[str, np.ndarray] | None = None
    arrays: _MapArrays | None = None
    fit: Fit | None = None  # the full Fit where the loop built one (NUTS, free energies)

    def inference_data(self) -> az.InferenceData:
        """The posterior as arviz InferenceData (assembled on first use)."""
        if self.idata is None and self.arrays is not None:
            self.idata = _map_idata(self.arrays)
        return self.idata


def _reason(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return " ".join(str(text).split())


MISFIT_COLUMNS = ("misfit", "misfit_p_min")  # the residual check (deconv.misfit)


# how far a free energy's fit can be trusted (its Fit.diagnostics)
TRUST_COLUMNS = ("starts_at_best", "map_trusted", "n_runs_redone", "n_runs_dropped")


EVIDENCE_COLUMNS = (
    "free_energy",
    "free_energy_se",
    "n_gradient_evals",
    "warm_started",
    "restarted_cold",
    "n_temperatures",
    "swap_rate_min",
    "round_trips",
    "r_hat_max",
    "ess_bulk_min",
    *TRUST_COLUMNS,
    "warning",
)


def _extra_columns(method: str) -> tuple[str, ...]:
    return (*_method_columns(method), *MISFIT_COLUMNS)


def _misfit_of(diagnostics: dict[str, Any]) -> dict[str, Any]:
    return {name: diagnostics.get(name, math.nan) for name in MISFIT_COLUMNS}


def _method_columns(method: str) -> tuple[str, ...]:
    if method == "evidence":
        return EVIDENCE_COLUMNS
    return (
        ("starts_at_best", "converged")
        if method == "map"
        else ("r_hat_max", "ess_bulk_min", "divergences")
    )


def _row(
    settings: _Settings,
    sample_id: str,
    status: str,
    reason: str = "",
    *,
    objective: float = math.nan,
    user: dict[str, np.ndarray] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One summary row: id, status, objective, diagnostics, per-peak posterior means, sigma."""
    row: dict[str, Any] = {
        "sample_id": sample_id,
        "status": status,
        "reason": reason,
        "model": settings.label,
        "method": settings.method,
        "objective": objective,
    }
    extra = extra or {}
    row.update({name: extra.get(name, math.nan) for name in _extra_columns(settings.method)})
    for quantity in PEAK_QUANTITIES:
        values = None if user is None else np.asarray(user[quantity])
        for k in range(settings.n_peaks):
            mean = math.nan if values is None else float(np.mean(values[..., k]))
            row[f"{quantity}[{k + 1}]"] = mean
    sigma = None if user is None else user.get("sigma")
    row["sigma"] = math.nan if sigma is None else float(np.mean(sigma))
    return row


def _failure(settings: _Settings, sample_id: str, error: BaseException | str) -> _Outcome:
    return _Outcome(sample_id, _row(settings, sample_id, "failed", _reason(error)))


def _reproducible(idata: az.InferenceData) -> az.InferenceData:
    """Drop the creation time stamps, so equal results give equal files."""
    for group in idata.groups():
        getattr(idata, group).attrs.pop("created_at", None)
    return idata


def _map_idata(arrays: _MapArrays) -> az.InferenceData:
    """The InferenceData of a MAP fit, laid out like :attr:`deconv.Fit.idata` (one draw)."""
    coords, dims = posterior_layout(arrays.user, arrays.n_peaks, arrays.x)
    idata = az.from_dict(
        posterior=arrays.user,
        log_likelihood={"y": arrays.log_likelihood[None, None]},
        posterior_predictive={"y": arrays.predictive[None, None]},
        observed_data={"y": arrays.y},
        coords=coords,
        dims=dims,
    )
    return _reproducible(idata)
