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

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from deconv import _validation as v
from deconv.spectrum import SpectrumSeries

__all__ = ["Candidate", "SeriesSelection", "select_series"]


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
        Per candidate, the list of per-sample :class:`deconv.selection.ModelEvidence`.
    property_likelihoods : dict
        Per candidate, the :class:`gp_property.likelihood.PropertyLikelihood`.
    features : dict
        Per candidate, the :class:`gp_property.features.FeatureDraws`.
    policy : str
        The GP hyperparameter policy.
    """

    table: pd.DataFrame
    chosen: str
    spectrum_only_choice: str
    evidences: dict[str, list]
    property_likelihoods: dict[str, Any]
    features: dict[str, Any]
    properties: np.ndarray
    policy: str

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
    n_starts: int = 24,
    n_pairs: int | None = 1000,
    warm_start: bool = True,
    warm_warmup: int = 100,
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
        Multi-start MAP starts per sample (passed to :func:`deconv.free_energy`; default 24).
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
    progress : bool
        Show a progress bar.

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
    from tqdm.auto import tqdm

    from deconv.selection import warm_or_cold
    from gp_property.features import feature_draws
    from gp_property.likelihood import POLICY, property_log_likelihood

    t, weight, chosen_candidates, warm_warmup = _check_request(
        series, properties, candidates, features=features, peaks=peaks, weight=weight,
        key=key, priors=priors, sigma=sigma, sampler=sampler, n_starts=n_starts,
        n_pairs=n_pairs, warm_start=warm_start, warm_warmup=warm_warmup, progress=progress,
    )  # fmt: skip
    rows, evidences, likelihoods, all_features = [], {}, {}, {}
    jobs = [(c, i) for c in chosen_candidates for i in range(len(series))]
    bar = tqdm(total=len(jobs), desc="free energies", disable=not progress)
    for index, candidate in enumerate(chosen_candidates):
        per_sample, previous, restarts = [], None, 0
        for i, spectrum in enumerate(series):
            run = functools.partial(
                _sample_free_energy,
                spectrum,
                candidate,
                key=key * 100_003 + index * 1_009 + i,
                priors=priors,
                sigma=sigma,
                n_starts=n_starts,
            )
            evidence, restarted = warm_or_cold(run, sampler, warm_warmup, previous)
            restarts += restarted
            per_sample.append(evidence)
            previous = evidence.evidence if warm_start else None
            bar.update()
        draws = feature_draws(
            [e.fit for e in per_sample],
            features=features,
            peaks=peaks,
            sample_ids=series.sample_ids,
            seed=key,
        )
        likelihood = property_log_likelihood(draws, t, n_pairs=n_pairs, seed=key)
        evidences[candidate.label] = per_sample
        likelihoods[candidate.label] = likelihood
        all_features[candidate.label] = draws
        rows.append({**_row(candidate, per_sample, likelihood, weight), "cold_restarts": restarts})
    bar.close()
    table = pd.DataFrame(rows).sort_values("F_total", kind="stable").reset_index(drop=True)
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


def _sample_free_energy(
    spectrum: Any,
    candidate: Candidate,
    sampler: Mapping[str, Any] | None,
    warm_start: Any,
    *,
    key: int,
    priors: Any,
    sigma: Any,
    n_starts: int,
) -> Any:
    """One sample's free energy under ``candidate`` (see :func:`deconv.free_energy`)."""
    from deconv.selection import free_energy

    return free_energy(
        spectrum,
        candidate.n_peaks,
        shape=candidate.shape,
        baseline=candidate.baseline,
        priors=priors,
        sigma=sigma,
        key=key,
        compute_wbic=False,
        sampler=sampler,
        n_starts=n_starts,
        warm_start=warm_start,
    )


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
