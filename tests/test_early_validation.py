"""Bad arguments fail before any fitting, with the house message; short spectra obey one rule.

The early-failure tests replace the expensive step (the MAP fits, the samplers) by a function
that raises ``AssertionError("too late")``: the validation error must come instead.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import jax
import numpy as np
import pandas as pd
import pytest

import deconv
from deconv import Spectrum, SpectrumSeries, evidence, inference, selection
from deconv import _validation as v
from deconv.batch import run as batch_run
from deconv.exceptions import EvidenceWarning
from gp_property import Candidate, select_series
from gp_property import selector as gp_selector


def _too_late(*args, **kwargs):
    raise AssertionError("too late: the expensive work started before the check")


def _spectrum(n: int = 40) -> Spectrum:
    x = np.linspace(0.0, 10.0, n)
    y = np.exp(-4 * np.log(2) * (x - 5.0) ** 2 / 4.0) + 0.01 * np.cos(3 * x)
    return Spectrum(x, y)


@pytest.fixture
def no_fitting(monkeypatch):
    """Every route into the MAP fits and the samplers of deconv.selection and deconv.inference
    raises AssertionError."""
    for module, name in (
        (selection, "multi_start_map"),
        (selection, "_begin_free_energy"),
        (selection, "_compile_ahead"),
        (selection, "launch_replica_exchange"),
        (inference, "multi_start_map"),
        (inference, "run_nuts"),
    ):
        monkeypatch.setattr(module, name, _too_late)


# ---------------------------------------------------------------------------------------------
# check_key


def test_check_key_returns_the_seed_or_the_two_words_of_a_key():
    assert v.check_key("key", 0) == (0,)
    assert v.check_key("key", np.int64(7)) == (7,)
    assert v.check_key("key", 2**63 - 1) == (2**63 - 1,)
    raw = jax.random.PRNGKey(3)
    assert v.check_key("key", raw) == tuple(int(w) for w in np.asarray(raw))
    assert v.check_key("key", np.asarray(raw)) == v.check_key("key", raw)
    typed = jax.random.key(3)
    assert v.check_key("key", typed) == v.check_key("key", raw)
    # the words rebuild the same key
    np.testing.assert_array_equal(inference._as_key(raw), raw)
    np.testing.assert_array_equal(inference._as_key(typed), raw)
    np.testing.assert_array_equal(inference._as_key(5), jax.random.PRNGKey(5))


@pytest.mark.parametrize(
    ("key", "error", "message"),
    [
        (-1, ValueError, "key must be an int seed >= 0 and < 2**63; got -1"),
        (2**63, ValueError, "key must be an int seed >= 0 and < 2**63; got 9223372036854775808"),
        (2**70, ValueError, "key must be an int seed >= 0 and < 2**63"),
        (
            True,
            TypeError,
            "key must be an int seed or a jax PRNG key (jax.random.PRNGKey); got True",
        ),
        (1.5, TypeError, "key must be an int seed or a jax PRNG key"),
        ("0", TypeError, "key must be an int seed or a jax PRNG key"),
        (np.zeros(3, np.uint32), TypeError, "got 'array of shape (3,) and dtype uint32'"),
        (np.zeros(2, np.int64), TypeError, "got 'array of shape (2,) and dtype int64'"),
    ],
)
def test_check_key_refuses(key, error, message):
    with pytest.raises(error) as info:
        v.check_key("key", key)
    assert message in str(info.value)


def test_check_seed_bounds():
    assert v.check_seed("seed", 2**32 - 1) == 2**32 - 1
    with pytest.raises(ValueError, match=r"seed must be an int seed >= 0 and < 2\*\*32; got -1"):
        v.check_seed("seed", -1)
    with pytest.raises(TypeError, match="seed must be an int seed; got False"):
        v.check_seed("seed", False)


# ---------------------------------------------------------------------------------------------
# deconv: fit, free_energy, select


@pytest.mark.usefixtures("no_fitting")
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_starts": 0}, ValueError, "n_starts must be >= 1; got 0"),
        ({"key": -1}, ValueError, "key must be an int seed >= 0 and < 2**63; got -1"),
        ({"key": 2**70}, ValueError, "key must be an int seed >= 0 and < 2**63"),
        ({"sampler": {"n_bogus": 3}}, TypeError, "got ['n_bogus']"),
        ({"sampler": {"n_samples": 5}}, ValueError, "n_samples must be >= 10; got 5"),
        ({"sampler": {"n_warmup": 0}}, ValueError, "n_warmup must be >= 10; got 0"),
        ({"sampler": {"target_accept": 1.5}}, ValueError, "target_accept must lie strictly"),
        ({"sampler": {"reference": "posterior"}}, ValueError, "reference must be one of"),
        ({"sampler": {"betas": [0.0, 0.5]}}, ValueError, "betas must increase strictly"),
        ({"sampler": [("n_samples", 10)]}, TypeError, "sampler must be a mapping"),
    ],
)
def test_free_energy_checks_before_fitting(kwargs, error, message):
    with pytest.raises(error) as info:
        deconv.free_energy(_spectrum(), 1, shape="gaussian", **kwargs)
    assert message in str(info.value)


@pytest.mark.usefixtures("no_fitting")
def test_unknown_sampler_setting_names_sampler_the_keys_and_the_allowed_ones():
    with pytest.raises(TypeError) as info:
        deconv.select(_spectrum(), [1, 2], sampler={"n_bogus": 3, "n_samples": 100})
    message = str(info.value)
    assert message.startswith("sampler must hold only settings of replica_exchange (")
    assert message.endswith("got ['n_bogus']")
    for allowed in ("n_warmup", "n_samples", "n_independent", "n_temperatures", "reference"):
        assert allowed in message
    for reserved in ("key", "data", "warm_start", "init"):
        assert f" {reserved}," not in message and f"({reserved}," not in message


@pytest.mark.usefixtures("no_fitting")
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_starts": 0}, ValueError, "n_starts must be >= 1; got 0"),
        ({"key": -1}, ValueError, "key must be an int seed >= 0 and < 2**63; got -1"),
        ({"sampler": {"swap_rounds": 0}}, ValueError, "swap_rounds must be >= 1; got 0"),
        ({"n_peaks": [1, 40]}, ValueError, "spectrum must have more points than the model"),
    ],
)
def test_select_checks_before_fitting(kwargs, error, message):
    arguments = {"n_peaks": [1, 2], "shapes": "gaussian", "progress": False, **kwargs}
    with pytest.raises(error) as info:
        deconv.select(_spectrum(), **arguments)
    assert message in str(info.value)


def test_check_sampler_accepts_the_settings_of_replica_exchange():
    assert evidence.check_sampler(None) == {}
    settings = {"n_warmup": 10, "n_samples": 10, "betas": [0.0, 0.5, 1.0], "mode_jumps": False}
    assert evidence.check_sampler(settings) == settings
    assert evidence.check_sampler({"n_warmup": 1}, warm=True) == {"n_warmup": 1}
    with pytest.raises(ValueError, match="betas must be None with warm_start"):
        evidence.check_sampler({"n_temperatures": 8}, warm=True)
    assert "key" not in evidence.SAMPLER_SETTINGS and "n_warmup" in evidence.SAMPLER_SETTINGS


@pytest.mark.usefixtures("no_fitting")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 0}, "num_samples must be >= 1; got 0"),
        ({"num_chains": 0}, "num_chains must be >= 1; got 0"),
        ({"target_accept": 1.0}, "target_accept must lie strictly between 0 and 1; got 1.0"),
        ({"key": 2**70}, "key must be an int seed >= 0 and < 2**63"),
    ],
)
def test_fit_checks_nuts_settings_before_the_map_fits(kwargs, message):
    with pytest.raises(ValueError) as info:
        deconv.fit(_spectrum(), 1, shape="gaussian", method="nuts", **kwargs)
    assert message in str(info.value)


def test_sampler_warnings_point_at_the_caller(monkeypatch):
    """A warning re-emitted by warm_or_cold (as for every sample of select_series) names the
    caller's line, not the package line that first emitted it."""
    monkeypatch.setattr(selection, "warm_run_failed", lambda previous, warm: False)

    def run(settings, warm_start):
        warnings.warn_explicit("swap rate low", EvidenceWarning, evidence.__file__, 1)
        return SimpleNamespace(evidence=None)

    with pytest.warns(EvidenceWarning, match="swap rate low") as record:
        selection.warm_or_cold(run, None, 50, SimpleNamespace(state=None))
    assert record[0].filename == __file__


def test_property_likelihood_warnings_point_at_the_caller():
    from gp_property.likelihood import property_log_likelihood

    x = np.linspace(0.0, 1.0, 6)
    draws = np.tile(x[None, :, None], (3, 1, 1))  # the feature interpolates the property
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        property_log_likelihood(draws, 2.0 * x + 1.0)
    assert record and all(w.filename == __file__ for w in record), [w.filename for w in record]


# ---------------------------------------------------------------------------------------------
# gp_property.select_series


@pytest.fixture
def series():
    x = np.linspace(0.0, 10.0, 40)
    rows = [np.exp(-((x - 5.0) ** 2)) * (1.0 + 0.1 * i) + 0.01 * np.cos(x + i) for i in range(3)]
    ids = ["a", "b", "c"]
    properties = pd.DataFrame({"rate": [1.0, 2.0, 3.0]}, index=ids)
    return SpectrumSeries(x, np.array(rows), sample_ids=ids, properties=properties)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"features": ["bogus"]}, ValueError, "features must be one of"),
        ({"features": ["area", "area"]}, ValueError, "features must not repeat a feature"),
        (
            {"peaks": [2]},
            ValueError,
            "peaks must hold 1-based peak indices between 1 and 1 (the peaks of K=1 gaussian + "
            "none); got [2]",
        ),
        ({"peaks": [0]}, ValueError, "peaks must hold 1-based peak indices between 1 and 1"),
        ({"peaks": [1.0]}, TypeError, "peaks must hold integer peak indices"),
        ({"n_pairs": 0}, ValueError, "n_pairs must be >= 1; got 0"),
        ({"key": -1}, ValueError, "key must be an int seed >= 0 and < 2**32; got -1"),
        ({"key": 2**40}, ValueError, "key must be an int seed >= 0 and < 2**32"),
        ({"n_starts": 0}, ValueError, "n_starts must be >= 1; got 0"),
        ({"sampler": {"n_bogus": 3}}, TypeError, "got ['n_bogus']"),
        ({"sampler": {"n_samples": 1}}, ValueError, "n_samples must be >= 10; got 1"),
        ({"warm_warmup": 0}, ValueError, "warm_warmup must be >= 1; got 0"),
        ({"warm_start": "yes"}, TypeError, "warm_start must be True or False"),
        ({"weight": -1.0}, ValueError, "weight must be finite and >= 0"),
        ({"sigma": -0.1}, ValueError, "sigma must be finite and > 0"),
        ({"sigma": "data"}, ValueError, "sigma must be present in the spectrum"),
        ({"features": ["projection"], "n_pairs": 5}, None, None),
    ],
)
def test_select_series_checks_before_fitting(monkeypatch, series, kwargs, error, message):
    monkeypatch.setattr(gp_selector, "_series_free_energies", _too_late)
    candidates = [Candidate(1, "gaussian", "none"), Candidate(2, "gaussian", "none")]
    if error is None:  # valid: reaches the fits
        with pytest.raises(AssertionError, match="too late"):
            select_series(series, "rate", candidates, progress=False, **kwargs)
        return
    with pytest.raises(error) as info:
        select_series(series, "rate", candidates, progress=False, **kwargs)
    assert message in str(info.value)


def test_select_series_checks_every_candidate_model_before_fitting(monkeypatch, series):
    monkeypatch.setattr(gp_selector, "_series_free_energies", _too_late)
    candidates = [Candidate(1, "gaussian", "none"), Candidate(20, "gaussian", "none")]
    with pytest.raises(ValueError, match="spectrum must have more points than the model"):
        select_series(series, "rate", candidates, progress=False)
    with pytest.raises(ValueError, match="n_peaks must be >= 1; got 0"):
        select_series(series, "rate", [Candidate(1), Candidate(0)], progress=False)
    with pytest.raises(ValueError, match="shape must be one of"):
        select_series(series, "rate", [Candidate(1, "triangle")], progress=False)
    single = SpectrumSeries(series.x, series.y[:1], sample_ids=["a"])
    with pytest.raises(ValueError, match="series must hold at least 2 samples"):
        select_series(single, [1.0], [Candidate(1)], progress=False)


def test_feature_and_property_seeds_are_checked():
    from gp_property.likelihood import property_log_likelihood

    draws = np.ones((4, 3, 1))
    with pytest.raises(ValueError, match=r"seed must be an int seed >= 0 and < 2\*\*32; got -1"):
        property_log_likelihood(draws, [1.0, 2.0, 3.0], seed=-1)


# ---------------------------------------------------------------------------------------------
# short spectra: one minimum-points rule


def _short(n: int) -> Spectrum:
    x = np.linspace(0.0, 10.0, n)
    return Spectrum(x, np.exp(-4 * np.log(2) * (x - 5.0) ** 2 / 4.0) + 0.01 * np.cos(3 * x))


def _clustered(n: int) -> Spectrum:
    """Points bunched at both ends: the median spacing is large against the x range."""
    half = n // 2
    x = np.r_[np.arange(half) * 0.01, 10.0 - np.arange(n - half)[::-1] * 0.01]
    return Spectrum(x, np.exp(-((x - 5.0) ** 2)) + 0.01 * np.cos(3 * x))


@pytest.mark.parametrize("shape", ["gaussian", "pseudo_voigt"])
@pytest.mark.parametrize("n_peaks", [1, 2, 3])
@pytest.mark.parametrize("n", range(3, 13))
@pytest.mark.parametrize("spacing", ["even", "clustered"])
def test_short_spectra_fail_the_rule_or_get_valid_priors_and_starts(shape, n_peaks, n, spacing):
    """The most permissive model (no baseline, known noise): a spectrum either fails the
    minimum-points rule, naming the spectrum and its points, or every optimiser start has a
    finite log posterior under the default priors."""
    spectrum = _short(n) if spacing == "even" else _clustered(n)
    try:
        problem = inference.make_problem(
            spectrum, n_peaks, shape=shape, baseline="none", sigma=0.01
        )
    except ValueError as error:
        assert str(error).startswith("spectrum must have ")
        assert str(error).endswith(f"got '{n} points'")
        assert n < v.MIN_POINTS or n <= problem_size(n_peaks, shape)
        return
    assert n >= v.MIN_POINTS
    z = inference._unconstrained_starts(problem, 6, 0)
    params = problem.constrain_all(z)
    for i in range(6):
        value = problem.log_joint({k: a[i] for k, a in params.items()})
        assert np.isfinite(float(value))


def problem_size(n_peaks: int, shape: str) -> int:
    return n_peaks * (3 if shape == "gaussian" else 4)


@pytest.mark.parametrize(
    ("n", "n_peaks", "shape", "baseline", "sigma"),
    [
        (7, 1, "gaussian", "none", 0.01),  # the fewest points the rule lets through
        (9, 2, "pseudo_voigt", "none", 0.01),
        (7, 1, "gaussian", "linear", None),
    ],
)
def test_shortest_spectra_passing_the_rule_fit(n, n_peaks, shape, baseline, sigma):
    result = deconv.fit(
        _short(n), n_peaks, shape=shape, baseline=baseline, sigma=sigma, method="map", n_starts=3
    )
    assert np.isfinite(result.optima["neg_log_posterior"].iloc[0])


def test_too_few_points_names_the_rule():
    with pytest.raises(ValueError) as info:
        deconv.fit(_short(5), 1, shape="gaussian", baseline="none", sigma=0.01, method="map")
    assert str(info.value) == (
        "spectrum must have at least 7 points (the default width prior spans 2 point spacings "
        "to half the x range); got '5 points'"
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"method": "evidence", "sampler": {"n_samples": 0}}, ValueError, "n_samples"),
        ({"method": "evidence", "sampler": {"n_bogus": 3}}, TypeError, "n_bogus"),
        ({"key": 2**63}, ValueError, "key must"),
        ({"key": True}, TypeError, "key must"),
    ],
)
def test_batch_checks_before_fitting(monkeypatch, kwargs, error, message):
    from deconv import batch

    monkeypatch.setattr(batch_run, "_run_chunk", lambda task: pytest.fail("too late"))
    x = np.linspace(0.0, 10.0, 40)
    items = [("a", x, np.exp(-((x - 5.0) ** 2)) + 0.01 * np.sin(x))]
    with pytest.raises(error, match=message):
        batch.fit_series(items, 1, shape="gaussian", baseline="none", progress=False, **kwargs)
