"""Property-informed model selection over a measurement series.

For candidate models M (K, shape and baseline shared by every sample of the series)::

    F_total(M) = sum_i F_i(M) - lambda * log L_prop(M)

where ``F_i`` is the Bayes free energy of sample i's spectrum and ``L_prop`` the Gaussian-process
likelihood of the measured property given the fitted spectra, averaged over paired posterior
draws. ``lambda`` (``weight``) defaults to 1, which is the exact joint evidence when the property
depends on the spectra only through the fitted model; other values are a documented heuristic
for down- or up-weighting the property.

Three criteria rank the same candidates (:data:`CRITERIA`); every table shows all three:

- ``"joint"`` (default): ``F_total`` -- which structure explains the spectra *and* the property;
- ``"property"``: ``-log L_prop`` alone, the seed paper's property-informed free energy
  ``FE~(M) = -log E[p(t | Y)]`` (Okubo et al. 2026) -- which structure's fitted spectra are most
  informative about the property;
- ``"spectrum"``: ``sum_i F_i`` -- the spectra alone.

The seed paper's configuration is ``features="predictive_spectrum"``,
``kernel="rational_quadratic"`` (its noise case; ``"rbf"`` for its background and PLA cases),
``policy="per_draw"``, ``criterion="property"``.
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

__all__ = [
    "CRITERIA",
    "Candidate",
    "SampleEvidence",
    "SeriesSelection",
    "property_gp",
    "rank_table",
    "select_series",
]

EVIDENCE_STARTS = 384  # deconv.selection.EVIDENCE_STARTS, kept literal: importing it loads JAX
CRITERIA = {"joint": "F_total", "property": "neg_log_L_prop", "spectrum": "sum_F"}
KERNELS = ("rbf", "rational_quadratic")  # gp_property.regressor.KERNELS (sklearn loads late)
POLICY_NAMES = ("fixed", "per_draw")  # gp_property.likelihood.POLICIES


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
    """Candidates ranked by the chosen criterion, with all three criteria side by side.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate, best under ``criterion`` first: ``sum_F`` and its se,
        ``neg_log_L_prop`` and its se, ``F_total`` and its se; the model probabilities of each
        criterion, ``probability_joint`` (from F_total), ``probability_property`` (from
        -log L_prop) and ``probability_spectrum`` (from sum_F); ``probability`` (that of the
        criterion in use) and ``spectrum_only_probability`` (= ``probability_spectrum``), kept
        for compatibility; ``criterion``, ``gp_input``, ``gp_kernel`` and ``gp_policy`` (the
        settings behind the property term), ``weight`` and ``cold_restarts`` (samples whose
        warm-started run did not mix and was redone cold). ``table.attrs["policy"]`` holds
        the policy in words.
    chosen : str
        The label of the best candidate under ``criterion``.
    spectrum_only_choice : str
        The label that sum_F alone would choose.
    evidences : dict
        Per candidate, the list of per-sample :class:`SampleEvidence` (series order).
    property_likelihoods : dict
        Per candidate, the :class:`gp_property.likelihood.PropertyLikelihood`.
    features : dict
        Per candidate, the :class:`gp_property.features.FeatureDraws`.
    policy : str
        The GP hyperparameter policy, in words (for ``"per_draw"``, with why it is
        optimistic).
    failures : dict
        Per candidate whose free energy failed on some samples, sample id -> reason (such a
        candidate has NaN columns and is ranked last).
    criterion : str
        The criterion that ranked the table and chose (``"joint"``, ``"property"`` or
        ``"spectrum"``).
    choices : dict
        The choice of every criterion, criterion -> label.
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
    criterion: str = "joint"
    choices: dict[str, str] = field(default_factory=dict)

    def plot(self, axes: Any = None) -> np.ndarray:
        """Ranking of the three columns, and feature against property with the GP band for
        the chosen model (and the spectrum-only choice where it differs); see
        :func:`gp_property.plotting.plot_series_selection`."""
        from gp_property.plotting import plot_series_selection

        return plot_series_selection(self, axes=axes)

    def _repr_html_(self) -> str:
        import html

        head = (
            f"<h4>Property-informed selection: chosen {html.escape(self.chosen)} "
            f"(criterion {self.criterion})</h4><p>GP policy: {html.escape(self.policy)}</p>"
        )
        return head + self.table.to_html(index=False, float_format=lambda f: f"{f:.4g}")


def _probabilities(values: np.ndarray) -> np.ndarray:
    """Model probabilities proportional to ``exp(-value)`` over the finite values (equal
    priors, log-sum-exp safe); NaN where the value is not finite."""
    out = np.full(values.size, np.nan)
    finite = np.isfinite(values)
    if finite.any():
        weights = np.exp(-(values[finite] - values[finite].min()))
        out[finite] = weights / weights.sum()
    return out


def rank_table(table: pd.DataFrame, criterion: str = "joint") -> pd.DataFrame:
    """Sort a candidate table by a criterion and add every criterion's model probabilities.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per candidate with columns ``model``, ``sum_F``, ``neg_log_L_prop`` and
        ``F_total`` (NaN for a failed candidate, ranked last).
    criterion : {"joint", "property", "spectrum"}
        Rank by ``F_total``, ``neg_log_L_prop`` or ``sum_F`` (lowest first).

    Returns
    -------
    pandas.DataFrame
        A sorted copy with ``probability_joint``, ``probability_property``,
        ``probability_spectrum`` (each proportional to ``exp(-column)``, equal model priors),
        ``probability`` (that of ``criterion``), ``spectrum_only_probability`` (=
        ``probability_spectrum``) and a ``criterion`` column.
    """
    v.check_choice("criterion", criterion, CRITERIA)
    ranked = table.sort_values(CRITERIA[criterion], kind="stable", na_position="last")
    ranked = ranked.reset_index(drop=True)
    for name, column in CRITERIA.items():
        ranked[f"probability_{name}"] = _probabilities(ranked[column].to_numpy(dtype=float))
    ranked["probability"] = ranked[f"probability_{criterion}"]
    ranked["spectrum_only_probability"] = ranked["probability_spectrum"]
    ranked["criterion"] = criterion
    return ranked


def _choices(table: pd.DataFrame) -> dict[str, str]:
    """The best label under every criterion (the first row where all are NaN)."""
    out = {}
    for name, column in CRITERIA.items():
        values = table[column].to_numpy(dtype=float)
        best = int(np.nanargmin(values)) if np.isfinite(values).any() else 0
        out[name] = str(table["model"].iloc[best])
    return out


def select_series(
    series: SpectrumSeries,
    properties: str | Sequence[float],
    candidates: Sequence[Candidate | Mapping | int],
    *,
    features: str | Sequence[str] = ("area",),
    peaks: Sequence[int] | None = None,
    region: Sequence[float] | None = None,
    kernel: str = "rbf",
    policy: str = "fixed",
    criterion: str = "joint",
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
    """Rank candidate structures by spectra and a measured property, under a chosen criterion.

    Parameters
    ----------
    series : SpectrumSeries
        The spectra, one per sample, on a shared axis.
    properties : str or sequence of float
        A column of ``series.properties``, or one value per sample.
    candidates : sequence of Candidate, dict or int
        Structures to compare (a dict holds Candidate's fields; an int is a peak count).
    features : str or sequence of str
        The GP input (see :func:`gp_property.features.feature_draws`): peak features (default:
        every peak's area), or alone ``"predictive_spectrum"`` (each sample's posterior
        predictive spectrum ``Y ~ p(Y | theta)``, a posterior draw plus fresh noise, the seed
        paper's input) or ``"noise_free_spectrum"`` (the mean curve of each posterior draw).
    peaks : sequence of int, optional
        1-based peaks whose features are used (default all).
    region : (float, float), optional
        ``(xmin, xmax)``: a spectrum input keeps only the axis points inside (default the
        whole axis); only with a spectrum input.
    kernel : {"rbf", "rational_quadratic"}
        The GP kernel family, times a constant, plus white noise (scikit-learn kernels). With
        peak features ``"rbf"`` has one length scale per standardised feature
        (:func:`gp_property.regressor.default_kernel`) and ``"rational_quadratic"`` one for
        all; with a spectrum input both act on the Euclidean distance between spectra (columns
        centred, one shared scale; :func:`gp_property.regressor.distance_kernel`).
    policy : {"fixed", "per_draw"}
        GP hyperparameters: ``"fixed"`` fits them once by maximum marginal likelihood on the
        posterior-mean inputs and holds them across draws (specbayes' default); ``"per_draw"``
        refits them on every paired draw (the seed paper's empirical Bayes; optimistic: each
        draw gets the hyperparameters that make it look best, so the average over draws is
        biased upwards; one GP fit per draw). See
        :func:`gp_property.likelihood.property_log_likelihood`.
    criterion : {"joint", "property", "spectrum"}
        What ranks the table and picks ``chosen``: ``F_total`` (default), ``-log L_prop``
        alone (the seed paper's FE~) or ``sum_F``. All three columns, their standard errors
        and their model probabilities are in the table whatever the choice.
    weight : float
        Weight lambda of the property term in ``F_total`` (default 1: the exact joint
        evidence).
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
        Paired draws averaged in the property likelihood (with a spectrum input, also the
        draws extracted per sample).
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
        A bad argument, before any fitting: unknown features, a spectrum input beside other
        features, a region without a spectrum input or with fewer than 2 axis points, an
        unknown kernel, policy or criterion, a peak index beyond a
        candidate's peak count, ``n_pairs`` or ``n_starts`` below 1, a key outside
        ``[0, 2**32)``, an unknown ``sampler`` setting, a candidate model that one of the
        spectra cannot take (e.g. too few points).
    """
    from gp_property.features import feature_draws, is_spectrum_input
    from gp_property.likelihood import POLICIES, property_log_likelihood

    t, weight, chosen_candidates, warm_warmup, names = _check_request(
        series, properties, candidates, features=features, peaks=peaks, region=region,
        kernel=kernel, policy=policy, criterion=criterion, weight=weight,
        key=key, priors=priors, sigma=sigma, sampler=sampler, n_starts=n_starts,
        n_pairs=n_pairs, warm_start=warm_start, warm_warmup=warm_warmup, progress=progress,
    )  # fmt: skip
    spectra = is_spectrum_input(names)
    regressor, settings = property_gp(names, region, kernel, policy, criterion, key)
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
            failed_row = _failed_row(candidate, weight)
            rows.append({**failed_row, **settings, "cold_restarts": restarts})
            continue
        draws = feature_draws(
            [e.fit for e in per_sample],
            features=names,
            peaks=peaks,
            region=region,
            n_draws=n_pairs if spectra else None,
            sample_ids=series.sample_ids,
            seed=key,
        )
        likelihood = property_log_likelihood(
            draws, t, regressor=regressor, policy=policy, n_pairs=n_pairs, seed=key
        )
        likelihoods[candidate.label] = likelihood
        all_features[candidate.label] = draws
        row = _row(candidate, per_sample, likelihood, weight)
        rows.append({**row, **settings, "cold_restarts": restarts})
    _warn_failed(failed)
    table = rank_table(pd.DataFrame(rows), criterion)
    table.attrs["policy"] = POLICIES[policy]
    choices = _choices(table)
    return SeriesSelection(
        table=table,
        chosen=str(table["model"].iloc[0]),
        spectrum_only_choice=choices["spectrum"],
        evidences=evidences,
        property_likelihoods=likelihoods,
        features=all_features,
        properties=t,
        policy=POLICIES[policy],
        failures=failed,
        criterion=criterion,
        choices=choices,
    )


def property_gp(
    names: Sequence[str], region: Any, kernel: str, policy: str, criterion: str, seed: int
) -> tuple[Any, dict[str, str]]:
    """The template GP of the property term and the table columns that describe the choice.

    Parameters
    ----------
    names : sequence of str
        Checked feature names (peak features, or one whole-spectrum input).
    region : (float, float) or None
        The x region of a spectrum input.
    kernel, policy, criterion : str
        As in :func:`select_series`.
    seed : int
        Seed of the GP optimiser's restarts.

    Returns
    -------
    (PropertyGP, dict)
        The regressor, and ``criterion``, ``gp_input``, ``gp_kernel`` and ``gp_policy``.
    """
    from gp_property.features import is_spectrum_input

    spectra = is_spectrum_input(names)
    settings = {
        "criterion": criterion,
        "gp_input": _input_label(names, region),
        "gp_kernel": _kernel_label(spectra, kernel),
        "gp_policy": policy,
    }
    return _regressor(spectra, kernel, seed), settings


def _regressor(spectra: bool, kernel: str, seed: int) -> Any:
    """The template GP of the property term."""
    from gp_property.regressor import PropertyGP, distance_kernel

    if spectra:
        return PropertyGP(distance_kernel(kernel), x_scaling="shared", random_state=seed)
    if kernel == "rbf":
        return PropertyGP(random_state=seed)  # default_kernel: one length scale per feature
    return PropertyGP(distance_kernel(kernel), random_state=seed)


def _input_label(names: Sequence[str], region: Any) -> str:
    label = "+".join(names)
    if region is not None:
        label += f" on [{float(region[0]):g}, {float(region[1]):g}]"
    return label


def _kernel_label(spectra: bool, kernel: str) -> str:
    """``rbf-ard`` (one length scale per peak feature), else the kernel's name."""
    return "rbf-ard" if kernel == "rbf" and not spectra else kernel


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
    region: Any,
    kernel: Any,
    policy: Any,
    criterion: Any,
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
) -> tuple[np.ndarray, float, list[Candidate], int, tuple[str, ...]]:
    """Every argument check of :func:`select_series`, before any fitting.

    Builds each candidate's model for every spectrum (cheap: no compilation), so that a bad
    candidate, prior, noise level or a spectrum too short for a model fails here, not after
    the free energies of the candidates before it. Returns the property, the weight, the
    candidates, the warm-up and the feature names.
    """
    from deconv.evidence import check_sampler
    from deconv.inference import make_problem
    from gp_property.features import (
        _check_features,
        _check_n_components,
        _check_peaks,
        check_region_for,
    )

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
    check_region_for(names, region, np.asarray(series.x))
    v.check_choice("kernel", kernel, KERNELS)
    v.check_choice("policy", policy, POLICY_NAMES)
    v.check_choice("criterion", criterion, CRITERIA)
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
    return t, weight, chosen, warm_warmup, names


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
