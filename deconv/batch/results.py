"""What a batch returns: one SpectrumResult per spectrum and the BatchResult that holds them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jax
import numpy as np
import pandas as pd

from deconv import _validation as v
from deconv._arviz import az
from deconv.batch.outcomes import _Outcome
from deconv.batch.settings import _Settings
from deconv.inference import make_problem
from deconv.results import PEAK_QUANTITIES, Fit, build_fit
from deconv.spectrum import Spectrum
from deconv.store import (
    ResultStore,
)

_STATUS_ORDER = ("done", "failed", "skipped")


@dataclass(frozen=True, eq=False)
class SpectrumResult:
    """The result of one spectrum in a batch.

    Attributes
    ----------
    sample_id : str
        The spectrum's id.
    status : {"done", "failed", "skipped"}
        ``"skipped"``: finished by an earlier run, read back from the store.
    reason : str
        Why it failed (empty otherwise).
    row : dict
        Its summary row (objective, per-peak centre/fwhm/height/area, sigma, diagnostics).
    """

    sample_id: str
    status: str
    reason: str
    row: dict[str, Any] = field(repr=False)
    spectrum: Spectrum | None = field(default=None, repr=False)
    internal: dict[str, np.ndarray] | None = field(default=None, repr=False)
    outcome: _Outcome | None = field(default=None, repr=False)
    store: ResultStore | None = field(default=None, repr=False)

    @property
    def objective(self) -> float:
        """``-log p(theta_MAP, y)`` in nats (user units); NaN for a failure."""
        return float(self.row["objective"])

    @property
    def peaks(self) -> pd.DataFrame:
        """Centre, FWHM, height and area per peak (posterior means; the MAP for MAP fits)."""
        n_peaks = sum(1 for name in self.row if name.startswith("centre["))
        table = pd.DataFrame(index=pd.Index(np.arange(1, n_peaks + 1), name="peak"))
        for quantity in PEAK_QUANTITIES:
            table[quantity] = [self.row[f"{quantity}[{k}]"] for k in table.index]
        return table

    @property
    def idata(self) -> az.InferenceData:
        """The posterior (arviz InferenceData, user units); read from the store if needed."""
        if self.outcome is not None and self.outcome.inference_data() is not None:
            return self.outcome.inference_data()
        if self.status == "failed" or self.store is None:
            v.fail(
                "sample_id", "name a finished result held in memory or in a store", self.sample_id
            )
        return self.store.load(self.sample_id)


class BatchResult:
    """Every spectrum of a batch under one model.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per spectrum, in input order: ``sample_id``, ``status`` (done, failed,
        skipped), ``reason``, ``model``, ``method``, ``objective`` (``-log p(theta_MAP, y)``,
        nats), diagnostics, per-peak ``centre[k]``, ``fwhm[k]``, ``height[k]``, ``area[k]``
        and ``sigma``.
    failures : pandas.DataFrame
        ``sample_id`` and ``reason`` of every failure.
    counts : dict
        Number of spectra done, failed and skipped.
    recomputed : dict
        Sample ids whose stored result was not trusted, and why (unreadable, other settings,
        other data, no fingerprint); they were computed again and count as done or failed.
    """

    def __init__(
        self,
        results: Sequence[SpectrumResult],
        settings: _Settings,
        recomputed: dict[str, str] | None = None,
    ) -> None:
        self._results = {result.sample_id: result for result in results}
        self._settings = settings
        self.recomputed = dict(recomputed or {})

    @property
    def label(self) -> str:
        """The model label, e.g. ``"K3_pseudo_voigt_linear_normal_map"``."""
        return self._settings.label

    @cached_property
    def summary(self) -> pd.DataFrame:
        rows = [{**r.row, "status": r.status} for r in self._results.values()]
        return pd.DataFrame(rows)

    @property
    def failures(self) -> pd.DataFrame:
        failed = [r for r in self._results.values() if r.status == "failed"]
        return pd.DataFrame(
            {"sample_id": [r.sample_id for r in failed], "reason": [r.reason for r in failed]}
        )

    @property
    def counts(self) -> dict[str, int]:
        tally = Counter(r.status for r in self._results.values())
        return {status: tally.get(status, 0) for status in _STATUS_ORDER}

    @property
    def message(self) -> str:
        """The closing line, ``"done N, failed M, skipped K"``, and a line on recomputed
        stored results where there were any."""
        line = ", ".join(f"{status} {count}" for status, count in self.counts.items())
        if not self.recomputed:
            return line
        tally = Counter(reason.split(":")[0] for reason in self.recomputed.values())
        kinds = "; ".join(f"{count} {reason}" for reason, count in sorted(tally.items()))
        return f"{line}\nrecomputed {len(self.recomputed)} stored results ({kinds})"

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[SpectrumResult]:
        return iter(self._results.values())

    def __getitem__(self, sample_id: str) -> SpectrumResult:
        if sample_id not in self._results:
            v.fail("sample_id", f"be one of the {len(self)} sample ids", sample_id, error=KeyError)
        return self._results[sample_id]

    def idata(self, sample_id: str) -> az.InferenceData:
        """The posterior of one spectrum (arviz InferenceData, user units)."""
        return self[sample_id].idata

    def fit(self, sample_id: str) -> Fit:
        """A :class:`deconv.Fit` (report, plot, predictions) of one finished spectrum.

        Results kept in memory are returned as they are; results already written to a result
        store (and skipped ones) are rebuilt from it (:meth:`deconv.store.ResultStore.load_fit`).
        """
        result = self[sample_id]
        if result.outcome is not None and result.outcome.fit is not None:
            return result.outcome.fit
        if result.internal is None or result.spectrum is None:
            if result.status != "failed" and result.store is not None:
                return result.store.load_fit(sample_id)
            v.fail("sample_id", "name a finished result of this batch", sample_id)
        settings = self._settings
        problem = make_problem(result.spectrum, settings.n_peaks, **settings.fit_options())
        samples = {k: np.asarray(a)[None, None] for k, a in result.internal.items()}
        centres = problem.scaling.x0 + problem.scaling.dx * result.internal["centre"]
        optima = pd.DataFrame(
            {
                "neg_log_posterior": [result.objective],
                "n_starts": [result.row.get("starts_at_best", 1)],
                "centres": [np.round(centres, 6).tolist()],
            }
        )
        return build_fit(
            problem, "map", samples, None, optima, key=jax.random.PRNGKey(0), wall_time=0.0
        )

    def __repr__(self) -> str:
        return f"BatchResult({self.label}: {self.message})"
