"""Keeps every finished candidate of :func:`deconv.select` in a result folder, and reads it back.

A candidate's result (its posterior and its table row) is stored under a batch-style label
(``K3_pseudo_voigt_linear_normal_evidence``) with the fingerprints of the result store: the
settings record holds the model, priors, sigma, starts, sampler, WBIC switch and the
candidate's own key (derived from the selection's key and the candidate list), the data
fingerprint the spectrum. A rerun of the same selection reads back the candidates whose stored
result belongs to it and computes only the others, each with the key it would have had, so the
table equals that of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from deconv.store import (
    DATA_FINGERPRINT,
    SETTINGS_FINGERPRINT,
    ResultStore,
    data_fingerprint,
    folder_lock,
    settings_fingerprint,
)

ROW_FIELDS = ("F", "F_se", "WBIC", "swap_rate_min", "round_trips", "misfit", "wall_s")


class CandidateStores:
    """The result store of every candidate of one selection (``None`` folder: no store)."""

    def __init__(self, out: str | Path | None, problems: list, keys: Any, options: dict) -> None:
        self.out = None if out is None else Path(out)
        self.sample_id = str(problems[0].spectrum.name or "spectrum")
        self.data = data_fingerprint(problems[0].spectrum)
        self.records, self.stores = [], []
        for problem, key in zip(problems, keys, strict=True):
            label, record = _record(problem, key, options)
            self.records.append(record)
            self.stores.append(None if self.out is None else ResultStore(self.out, label))

    @contextlib.contextmanager
    def writing(self, *, force: bool) -> Iterator[None]:
        """Lock the folder and record every candidate's settings (nothing without a folder)."""
        if self.out is None:
            yield
            return
        combined = settings_fingerprint({"candidates": self.records})
        with folder_lock(self.out, "select", combined):
            for store, record in zip(self.stores, self.records, strict=True):
                store.check_settings(record, force=force)
            yield

    def stored(self, index: int, model: Any) -> tuple[Any, dict] | None:
        """The :class:`deconv.selection.ModelEvidence` and table row of candidate ``index``
        read back from its store, or ``None`` when it has no result that belongs here."""
        store = self.stores[index]
        if store is None:
            return None
        expected = settings_fingerprint(self.records[index])
        if store.verdict(self.sample_id, self.data, settings=expected) is not None:
            return None
        from deconv.selection import ModelEvidence

        row = store.load_row(self.sample_id)
        fit = store.load_fit(self.sample_id)
        evidence = ModelEvidence(
            model=model,
            free_energy=float(row["F"]),
            free_energy_se=float(row["F_se"]),
            wbic=float(row["WBIC"]),
            evidence=None,
            fit=fit,
            optima=fit.optima,
        )
        from deconv.baselines import baseline_label

        table_row = {
            "model": model.label,
            "n_peaks": model.n_peaks,
            "shape": model.shape,
            "baseline": baseline_label(model.baseline),
            **{name: row[name] for name in ROW_FIELDS},
        }
        return evidence, table_row

    def save(self, index: int, result: Any, table_row: dict) -> None:
        """Keep a finished candidate (its posterior and its table row) in its store."""
        store = self.stores[index]
        if store is None:
            return
        optima = result.fit.optima
        row = {
            "sample_id": self.sample_id,
            "status": "done",
            "reason": "",
            "model": store.label,
            "method": "evidence",
            "objective": float(optima["neg_log_posterior"].iloc[0]),
            "starts_at_best": int(optima["n_starts"].iloc[0]),
            **{name: _plain(table_row[name]) for name in ROW_FIELDS},
            SETTINGS_FINGERPRINT: settings_fingerprint(self.records[index]),
            DATA_FINGERPRINT: self.data,
        }
        store.save(self.sample_id, result.fit.idata, row, result.fit.spectrum.metadata)
        store.write_tables([row], [])


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _record(problem: Any, key: Any, options: dict) -> tuple[str, dict]:
    """The batch label of a candidate and the settings record of its result."""
    from deconv.batch.settings import _settings

    model = problem.model
    settings = _settings(
        model.n_peaks,
        model.shape,
        model.baseline,
        "evidence",
        {
            "noise": model.noise,
            "priors": options["priors"],
            "sigma": options["sigma"],
            "smallest_peak": options["smallest_peak"],
            "n_starts": options["n_starts"],
            "sampler": dict(options["sampler"]),
            "warm_start": False,
        },
    )
    record = settings.describe(np.asarray(key).tolist())
    record.update(route="select", compute_wbic=bool(options["compute_wbic"]))
    return settings.label, record
