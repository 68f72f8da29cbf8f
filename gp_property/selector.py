"""Property-informed model selection over a measurement series.

For candidate models M (K, shape and baseline shared by every sample of the series)::

    F_total(M) = sum_i F_i(M) - lambda * log L_prop(M)

where ``F_i`` is the Bayes free energy of sample i's spectrum and ``L_prop`` the Gaussian-process
likelihood of the measured property given the fitted peaks, averaged over paired posterior
draws. ``lambda`` (``weight``) defaults to 1, which is the exact joint evidence when the property
depends on the spectra only through the peak parameters; other values are a documented
heuristic for down- or up-weighting the property.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deconv import _validation as v
from deconv.spectrum import SpectrumSeries

__all__ = ["Candidate", "SampleEvidence", "SeriesSelection", "select_series"]

EVIDENCE_STARTS = 384  # deconv.selection.EVIDENCE_STARTS, kept literal: importing it loads JAX


@dataclass(frozen=True)
class Candidate:
    """One candidate structure for the whole series."""

    n_peaks: int
    shape: str = "pseudo_voigt"
    baseline: Any = "linear"

    @property
    def label(self) -> str:
        from deconv.baselines import baseline_label

        return f"K={self.n_peaks} {self.shape} + {baseline_label(self.baseline)}"


def _candidates(candidates: Any) -> list[Candidate]:
    if isinstance(candidates, Candidate | Mapping):
        candidates = [candidates]
    out = []
    for item in candidates:
        if isinstance(item, Mapping):
            item = Candidate(**item)
        elif isinstance(item, int | np.integer):
            item = Candidate(int(item))
        if not isinstance(item, Candidate):
            v.fail(
                "candidates", "hold Candidate objects, dicts or peak counts", item, error=TypeError
            )
        out.append(item)
    if not out:
        v.fail("candidates", "hold at least one candidate", candidates)
    return out


def _property(series: SpectrumSeries, properties: Any) -> np.ndarray:
    if isinstance(properties, str):
        return series.property(properties)
    values = v.as_float_array("properties", properties)
    if values.size != len(series):
        v.fail("properties", f"hold one value per sample ({len(series)})", f"{values.size}")
    v.check_finite("properties", values)
    return values


@dataclass(frozen=True, eq=False)
class SeriesSelection:
    """Candidates ranked by F_total, with the spectrum-only and property terms beside it.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate, best F_total first: ``sum_F`` and its se, ``neg_log_L_prop``
        and its se, ``F_total`` and its se, ``probability`` (from F_total) and
        ``spectrum_only_probability`` (from sum_F), plus ``weight`` and ``cold_restarts``
        (samples whose warm-started run did not mix and was redone cold).
    chosen : str
        The label of the candidate with the lowest F_total.
    spectrum_only_choice : str
        The label that sum_F alone would choose.
    evidences : dict
        Per candidate, the list of per-sample :class:`SampleEvidence` (series order).
    property_likelihoods : dict
        Per candidate, the :class:`gp_property.likelihood.PropertyLikelihood`.
    features : dict
        Per candidate, the :class:`gp_property.features.FeatureDraws`.
    policy : str
        The GP hyperparameter policy.
    failures : dict
        Per candidate whose free energy failed on some samples, sample id -> reason (such a
        candidate has NaN columns and is ranked last).
    """

    table: pd.DataFrame
    chosen: str
    spectrum_only_choice: str
    evidences: dict[str, list]
    property_likelihoods: dict[str, Any]
    features: dict[str, Any]
    properties: np.ndarray
    policy: str
    failures: dict[str, dict[str, str]] = field(default_factory=dict)

    def plot(self, axes: Any = None) -> np.ndarray:
        """Ranking of the three columns, and feature against property with the GP band for
        the chosen model (and the spectrum-only choice where it differs); see
        :func:`gp_property.plotting.plot_series_selection`."""
        from gp_property.plotting import plot_series_selection

        return plot_series_selection(self, axes=axes)

    def _repr_html_(self) -> str:
        return f"<h4>Property-informed selection: chosen {self.chosen}</h4>" + self.table.to_html(
            index=False, float_format=lambda f: f"{f:.4g}"
        )


def _probabilities(values: np.ndarray) -> np.ndarray:
    from deconv.selection import model_probabilities

    return model_probabilities(values, np.zeros(values.size))


def select_series(
    series: SpectrumSeries,
    properties: str | Sequence[float],
    candidates: Sequence[Candidate | Mapping | int],
    *,
    features: Sequence[str] = ("area",),
    peaks: Sequence[int] | None = None,
    weight: float = 1.0,
    key: int = 0,
    priors: Any = None,
    sigma: float | str | None = None,
    sampler: Mapping[str, Any] | None = None,
    n_starts: int = EVIDENCE_STARTS,
    n_pairs: int | None = 1000,
    warm_start: bool = True,
    warm_warmup: int = 100,
    out: str | Path | None = None,
    force: bool = False,
    executor: Any = None,
    chunk_size: int | None = None,
    progress: bool = True,
) -> SeriesSelection:
    """Rank candidate structures by spectra *and* a measured property.

    Parameters
    ----------
    series : SpectrumSeries
        The spectra, one per sample, on a shared axis.
    properties : str or sequence of float
        A column of ``series.properties``, or one value per sample.
    candidates : sequence of Candidate, dict or int
        Structures to compare (a dict holds Candidate's fields; an int is a peak count).
    features : sequence of str
        Peak features fed to the GP (see :func:`gp_property.features.feature_draws`);
        default: every peak's area.
    peaks : sequence of int, optional
        1-based peaks whose features are used (default all).
    weight : float
        Weight lambda of the property term (default 1: the exact joint evidence).
    key : int
        Seed, in ``[0, 2**32)``; each sample and candidate gets its own stream.
    priors, sigma
        Passed to :func:`deconv.free_energy` for every sample.
    sampler : mapping, optional
        Replica-exchange settings.
    n_starts : int
        Multi-start MAP starts per sample (default 384, as :func:`deconv.free_energy` and
        the batch: surplus-peak models need them).
    n_pairs : int, optional
        Paired draws averaged in the property likelihood.
    warm_start : bool
        Under each candidate, start every sample's replica exchange where the previous
        sample's ended (its replicas, ladder and metric), with a warm-up of ``warm_warmup``
        step-size-only sweeps: about 1.6 times fewer gradient evaluations at a standard error
        about 1.1 times the cold runs' when neighbouring spectra are alike (weak_band, six
        spectra; ``tests/test_batch.py``).
        Order the series so that neighbours are similar (e.g. by the property or by time). A
        warm-started run whose replicas do not mix (no round trip, a swap rate or HMC
        acceptance below its threshold) where its predecessor's did is redone cold, so a
        neighbour unlike its predecessor costs time, not accuracy (counted in the table's
        ``cold_restarts``; see :func:`deconv.selection.warm_or_cold`).
    warm_warmup : int
        Warm-up sweeps of a warm-started run.
    out : str or os.PathLike, optional
        A result folder (:class:`deconv.store.ResultStore`) that keeps every sample's result
        under every candidate as it finishes. A rerun after an interruption (Ctrl-C, a kill,
        a crash) computes only what is missing, with the store's guarantees: a stored result
        is used only if it belongs to this request (settings and data fingerprints). The same
        folder can be read by ``specbayes property`` and ``specbayes report``.
    force : bool
        Recompute results already in ``out``.
    executor : concurrent.futures.Executor-like, optional
        Where the chunks of spectra run (e.g. a Dask ``distributed.Client``); see
        :func:`deconv.batch.fit_series`.
    chunk_size : int, optional
        Spectra per chunk (default: the whole series, so that warm starts run along it).
        Smaller chunks spread a series over an executor's workers; each chunk's first
        spectrum starts cold.
    progress : bool
        Show a progress bar.

    The free energies are computed by :func:`deconv.batch.fit_series` with
    ``method="evidence"``, one call per candidate, so a selection and a batch of the same
    settings give the same per-sample free energies; a sample whose free energy fails is
    recorded with its reason and its candidate ranked last (``SeriesSelection.failures``).

    Returns
    -------
    SeriesSelection

    Raises
    ------
    TypeError, ValueError
        A bad argument, before any fitting: unknown features, a peak index beyond a
        candidate's peak count, ``n_pairs`` or ``n_starts`` below 1, a key outside
        ``[0, 2**32)``, an unknown ``sampler`` setting, a candidate model that one of the
        spectra cannot take (e.g. too few points).
    """
    from gp_property.features import feature_draws
    from gp_property.likelihood import POLICY, property_log_likelihood

    t, weight, chosen_candidates, warm_warmup = _check_request(
        series, properties, candidates, features=features, peaks=peaks, weight=weight,
        key=key, priors=priors, sigma=sigma, sampler=sampler, n_starts=n_starts,
        n_pairs=n_pairs, warm_start=warm_start, warm_warmup=warm_warmup, progress=progress,
    )  # fmt: skip
    options = {
        "priors": priors, "sigma": sigma, "sampler": dict(sampler or {}),
        "n_starts": n_starts, "warm_start": warm_start, "warm_warmup": warm_warmup,
    }  # fmt: skip
    rows, evidences, likelihoods, all_features, failed = [], {}, {}, {}, {}
    for candidate in chosen_candidates:
        batch = _series_free_energies(
            series, candidate, options, key=key, out=out, force=force, executor=executor,
            chunk_size=chunk_size, progress=progress,
        )  # fmt: skip
        per_sample = [_sample_evidence(batch, sample_id) for sample_id in series.sample_ids]
        restarts = sum(bool(e.row.get("restarted_cold", False)) for e in per_sample)
        evidences[candidate.label] = per_sample
        failures = {e.sample_id: e.reason for e in per_sample if e.fit is None}
        if failures:
            failed[candidate.label] = failures
            rows.append({**_failed_row(candidate, weight), "cold_restarts": restarts})
            continue
        draws = feature_draws(
            [e.fit for e in per_sample],
            features=features,
            peaks=peaks,
            sample_ids=series.sample_ids,
            seed=key,
        )
        likelihood = property_log_likelihood(draws, t, n_pairs=n_pairs, seed=key)
        likelihoods[candidate.label] = likelihood
        all_features[candidate.label] = draws
        rows.append({**_row(candidate, per_sample, likelihood, weight), "cold_restarts": restarts})
    _warn_failed(failed)
    table = pd.DataFrame(rows).sort_values("F_total", kind="stable", na_position="last")
    table = table.reset_index(drop=True)
    table["probability"] = _probabilities(table["F_total"].to_numpy())
    table["spectrum_only_probability"] = _probabilities(table["sum_F"].to_numpy())
    spectrum_only = table.loc[table["sum_F"].idxmin(), "model"]
    return SeriesSelection(
        table=table,
        chosen=str(table["model"].iloc[0]),
        spectrum_only_choice=str(spectrum_only),
        evidences=evidences,
        property_likelihoods=likelihoods,
        features=all_features,
        properties=t,
        policy=POLICY,
        failures=failed,
    )


@dataclass(frozen=True)
class SampleEvidence:
    """One sample's free energy under one candidate, as the batch computed it.

    Attributes
    ----------
    sample_id : str
    free_energy, free_energy_se : float
        F = -log p(y | M) in nats and its standard error (NaN for a failure).
    fit : deconv.Fit or None
        The posterior (``None`` for a failure).
    reason : str
        Why the sample failed (empty otherwise).
    row : dict
        The batch's summary row (diagnostics: ``n_temperatures``, ``round_trips``...).
    """

    sample_id: str
    free_energy: float
    free_energy_se: float
    fit: Any = field(default=None, repr=False)
    reason: str = ""
    row: dict = field(default_factory=dict, repr=False)


def _series_free_energies(
    series: SpectrumSeries,
    candidate: Candidate,
    options: dict[str, Any],
    *,
    key: int,
    out: Any,
    force: bool,
    executor: Any,
    chunk_size: int | None,
    progress: bool,
) -> Any:
    """Every sample's free energy under ``candidate`` through the batch machinery."""
    from deconv.batch import fit_series

    return fit_series(
        series,
        candidate.n_peaks,
        shape=candidate.shape,
        baseline=candidate.baseline,
        method="evidence",
        key=key,
        chunk_size=len(series) if chunk_size is None else chunk_size,
        executor=executor,
        out=out,
        force=force,
        progress=progress,
        **options,
    )


def _sample_evidence(batch: Any, sample_id: str) -> SampleEvidence:
    result = batch[sample_id]
    row = dict(result.row)
    if result.status == "failed":
        return SampleEvidence(sample_id, np.nan, np.nan, None, result.reason, row)
    fit = batch.fit(sample_id)
    return SampleEvidence(
        sample_id, float(row["free_energy"]), float(row["free_energy_se"]), fit, "", row
    )


def _failed_row(candidate: Candidate, weight: float) -> dict:
    nan = float("nan")
    return {
        "model": candidate.label, "n_peaks": candidate.n_peaks, "shape": candidate.shape,
        "sum_F": nan, "sum_F_se": nan, "neg_log_L_prop": nan, "neg_log_L_prop_se": nan,
        "F_total": nan, "F_total_se": nan, "weight": weight,
    }  # fmt: skip


def _warn_failed(failed: dict[str, dict[str, str]]) -> None:
    import warnings

    from deconv.exceptions import EvidenceWarning

    for label, failures in failed.items():
        listed = "; ".join(f"{i}: {reason}" for i, reason in list(failures.items())[:3])
        warnings.warn(
            f"{label}: the free energy of {len(failures)} sample(s) failed ({listed}); the "
            "candidate is ranked last with NaN columns (see SeriesSelection.failures)",
            EvidenceWarning,
            stacklevel=v.caller_stacklevel(),
        )


def _check_request(
    series: Any,
    properties: Any,
    candidates: Any,
    *,
    features: Any,
    peaks: Any,
    weight: Any,
    key: Any,
    priors: Any,
    sigma: Any,
    sampler: Any,
    n_starts: Any,
    n_pairs: Any,
    warm_start: Any,
    warm_warmup: Any,
    progress: Any,
) -> tuple[np.ndarray, float, list[Candidate], int]:
    """Every argument check of :func:`select_series`, before any fitting.

    Builds each candidate's model for every spectrum (cheap: no compilation), so that a bad
    candidate, prior, noise level or a spectrum too short for a model fails here, not after
    the free energies of the candidates before it. Returns the property, the weight, the
    candidates and the warm-up.
    """
    from deconv.evidence import check_sampler
    from deconv.inference import make_problem
    from gp_property.features import _check_features, _check_n_components, _check_peaks

    if not isinstance(series, SpectrumSeries):
        v.fail("series", "be a deconv.SpectrumSeries", type(series).__name__, error=TypeError)
    if len(series) < 2:
        v.fail("series", "hold at least 2 samples (the property GP needs them)", len(series))
    t = _property(series, properties)
    weight = v.check_positive_float("weight", weight, allow_zero=True)
    chosen = _candidates(candidates)
    names = _check_features(features)
    if "projection" in names:  # feature_draws' default number of components
        _check_n_components(2, len(series), series.n_points)
    for candidate in chosen:
        _check_peaks(peaks, v.check_positive_int("n_peaks", candidate.n_peaks), candidate.label)
    v.check_seed("key", key)
    v.check_positive_int("n_starts", n_starts)
    if n_pairs is not None:
        v.check_positive_int("n_pairs", n_pairs)
    check_sampler(sampler)  # the first sample, and cold restarts, run it as given
    v.check_bool("warm_start", warm_start)
    warm_warmup = v.check_positive_int("warm_warmup", warm_warmup)
    v.check_bool("progress", progress)
    for candidate in chosen:
        for spectrum in series:
            make_problem(
                spectrum, candidate.n_peaks, shape=candidate.shape,
                baseline=candidate.baseline, priors=priors, sigma=sigma,
            )  # fmt: skip
    return t, weight, chosen, warm_warmup


def _row(candidate: Candidate, per_sample: list, likelihood: Any, weight: float) -> dict:
    sum_f = float(sum(e.free_energy for e in per_sample))
    sum_f_se = float(np.sqrt(sum(e.free_energy_se**2 for e in per_sample)))
    prop_se = float(likelihood.se) if np.isfinite(likelihood.se) else 0.0
    return {
        "model": candidate.label,
        "n_peaks": candidate.n_peaks,
        "shape": candidate.shape,
        "sum_F": sum_f,
        "sum_F_se": sum_f_se,
        "neg_log_L_prop": -float(likelihood.log_likelihood),
        "neg_log_L_prop_se": float(likelihood.se),
        "F_total": sum_f - weight * float(likelihood.log_likelihood),
        "F_total_se": float(np.hypot(sum_f_se, weight * prop_se)),
        "weight": weight,
    }
