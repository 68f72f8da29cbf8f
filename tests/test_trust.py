"""A free energy and a MAP you can trust on real spectra.

1. Optima on a bound of the prior's support (a centre on the window's edge) start samplers
   from inside the support instead of crashing them.
2. An independent run whose log Z is off by orders of magnitude is redone, or dropped with a
   warning, and counted.
3. A multi-start MAP whose best optimum few starts reached, or where the optimiser did not
   converge, says so.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import distributions as dist

import datasets
from deconv import ConvergenceWarning, EvidenceWarning, Spectrum, fit, selection
from deconv.baselines import CustomBaseline
from deconv.evidence import MAX_REDOS, outlying_runs, replica_exchange
from deconv.inference import inside_support, make_problem
from deconv.tempering import programs, redo

TINY = {"n_warmup": 200, "n_samples": 400, "n_independent": 2}


# -- 1. starts on a bound ---------------------------------------------------------------------


def _edge_spectrum() -> Spectrum:
    """A peak inside the window and a larger one centred beyond its right edge, whose tail
    the MAP fits with a second peak pinned on the edge (the centre prior's bound)."""
    x = np.linspace(0.0, 10.0, 120)
    peaks = {"centre": [4.0, 11.0], "fwhm": [1.0, 2.0], "height": [1.0, 3.0]}
    data = datasets.synthetic_spectrum(
        x, peaks, shape="gaussian", baseline=(0.1,), noise_sd=0.01, seed=0, name="edge"
    )
    return data.spectrum


def test_centres_on_the_bound_are_moved_inside_and_apart():
    problem = make_problem(_edge_spectrum(), 3, shape="gaussian", baseline="constant", sigma=0.01)
    params = {
        "centre": np.array([[0.4, 1.0, 1.0], [0.0, 0.0, 0.5]]),  # on the bounds 0 and 1
        "fwhm": np.full((2, 3), 0.1),
        "height": np.full((2, 3), 0.5),
        "baseline": np.full((2, 1), 0.03),
    }
    z = inside_support(problem, params)
    assert all(np.all(np.isfinite(a)) for a in z.values())
    centres = np.asarray(problem.constrain_all(z)["centre"])
    margin = 0.01 / 119  # CENTRE_MARGIN point spacings (internal units)
    np.testing.assert_allclose(centres[0], [0.4, 1 - 2 * margin, 1 - margin], atol=1e-12)
    np.testing.assert_allclose(centres[1], [margin, 2 * margin, 0.5], atol=1e-12)
    # points inside the support are left as they are, close centres included
    inside = {k: a for k, a in params.items()}
    inside["centre"] = np.array([[0.2, 0.5, 0.7], [0.3, 0.3 + 1e-7, 0.6]])
    np.testing.assert_allclose(
        np.asarray(problem.constrain_all(inside_support(problem, inside))["centre"]),
        inside["centre"],
        rtol=0,
        atol=1e-12,
    )


def _pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The MAP step returns its optima with every centre within 1e-6 of the upper bound put
    exactly on it (as on the real series where a K = 3 run died), the others removed."""
    original = selection.multi_start_map

    def pinned_map(problem, **kwargs):
        optima, table = original(problem, **kwargs)
        kept = [i for i, o in enumerate(optima) if np.max(o["centre"]) > 1.0 - 1e-6]
        assert kept, "the edge spectrum no longer pushes a centre onto the edge"
        for i in kept:
            optima[i]["centre"] = np.where(
                optima[i]["centre"] > 1.0 - 1e-6, 1.0, optima[i]["centre"]
            )
        return [optima[i] for i in kept], table.iloc[kept].reset_index(drop=True)

    monkeypatch.setattr(selection, "multi_start_map", pinned_map)


def test_free_energy_from_optima_on_the_bound_is_finite(monkeypatch):
    """Before: ValueError "init must contain a point of finite log prior, log likelihood and
    gradient" (every start had an infinite unconstrained centre)."""
    _pinned(monkeypatch)
    result = selection.free_energy(
        _edge_spectrum(), 2, shape="gaussian", baseline="constant", key=0, n_starts=8,
        compute_wbic=False, sampler=TINY,
    )  # fmt: skip
    assert np.isfinite(result.free_energy)
    assert np.isfinite(result.free_energy_se) and result.free_energy_se < 5.0
    assert result.optima["centres"].iloc[0][-1] == pytest.approx(10.0, abs=1e-4)


def test_no_usable_start_raises_a_value_error_naming_the_spectrum(monkeypatch):
    def nowhere(problem, params):
        return {k: np.full(np.shape(a), np.nan) for k, a in params.items()}

    monkeypatch.setattr(selection, "inside_support", nowhere)
    with pytest.raises(ValueError, match=r"spectrum 'edge', model K=1 .*finite log prior"):
        selection.free_energy(
            _edge_spectrum(), 1, shape="gaussian", baseline="constant", key=0, n_starts=4,
            compute_wbic=False, sampler=TINY,
        )  # fmt: skip


# -- 2. outlying independent runs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("runs", "anchor", "expected"),
    [
        ([-1000.1, -1000.3, -999.9, -3e14], None, [0, 0, 0, 1]),
        ([-244.1, -244.3, -243.9, -244.6], None, [0, 0, 0, 0]),
        ([-100.0, -101.0, -160.0], None, [0, 0, 1]),  # 59 nat > max(50, 20 x 1.48)
        ([-100.0, -101.0, -140.0], None, [0, 0, 0]),  # 39 nat: a bad run, not a failed one
        ([-1000.0, -3e14], -1002.0, [0, 1]),
        ([-3e14, -1000.0], None, [1, 0]),  # no anchor: the lower one
        ([-1000.0, 5e3], -1002.0, [0, 1]),  # the anchor decides, not the sign
        ([-1000.0, -1500.0], -1002.0, [0, 0]),  # 500 nat apart: left to the standard error
        ([np.nan, -1000.0, np.inf], None, [1, 0, 1]),
        ([-3e14], None, [0]),  # one run: nothing to compare it with
    ],
)
def test_outlying_runs_rule(runs, anchor, expected):
    np.testing.assert_array_equal(outlying_runs(runs, anchor), np.array(expected, bool))


def _gaussian_2d():
    """log Z of a N(1, 0.05²) x N(-2, 0.02²) likelihood under a N(0, 5²) prior (closed form)."""
    centre, sd, prior_sd = jnp.array([1.0, -2.0]), jnp.array([0.05, 0.02]), 5.0

    def log_prior(theta):
        return jnp.sum(
            -0.5 * (theta["x"] / prior_sd) ** 2 - jnp.log(prior_sd * jnp.sqrt(2 * jnp.pi))
        )

    def log_likelihood(theta):
        return jnp.sum(
            -0.5 * ((theta["x"] - centre) / sd) ** 2 - jnp.log(sd * jnp.sqrt(2 * jnp.pi))
        )

    total = np.sqrt(np.asarray(sd) ** 2 + prior_sd**2)
    exact = float(
        np.sum(-0.5 * (np.asarray(centre) / total) ** 2 - np.log(total * np.sqrt(2 * np.pi)))
    )
    return log_prior, log_likelihood, {"x": centre[None, :]}, exact


def _corrupting(monkeypatch: pytest.MonkeyPatch, calls: list[int], every: bool) -> None:
    """Runs of the sampler program give run 0 a log Z of about -3e14: on the first call only
    (``every=False``) or on every call."""
    original = redo._run_program

    def corrupted(program, args, tracing_s):
        carry, trace, compile_time = original(program, args, tracing_s)
        calls.append(1)
        if every or len(calls) == 1:
            log_lik = np.array(trace.log_lik)
            log_lik[:, 0, :-1] = -3e14
            trace = trace._replace(log_lik=jnp.asarray(log_lik))
        return carry, trace, compile_time

    monkeypatch.setattr(programs, "_run_program", corrupted)
    monkeypatch.setattr(redo, "_run_program", corrupted)


def _run(log_prior, log_likelihood, init):
    return replica_exchange(
        log_prior, log_likelihood, init, key=jax.random.key(3), n_temperatures=8, n_warmup=200,
        n_samples=400, n_independent=2,
    )  # fmt: skip


def test_an_outlying_run_is_redone(monkeypatch):
    log_prior, log_likelihood, init, exact = _gaussian_2d()
    clean = _run(log_prior, log_likelihood, init)
    assert (clean.n_runs_redone, clean.n_runs_dropped) == (0, 0)
    calls: list[int] = []
    _corrupting(monkeypatch, calls, every=False)
    redone = _run(log_prior, log_likelihood, init)
    assert len(calls) == 2  # the run, and one redo
    assert (redone.n_runs_redone, redone.n_runs_dropped) == (1, 0)
    assert redone.log_z_runs.shape == (2,) and np.all(np.abs(redone.log_z_runs - exact) < 0.5)
    # the untouched run is the clean one; the redone one is a new draw of the same kernel
    assert redone.log_z_runs[1] == pytest.approx(clean.log_z_runs[1], abs=1e-9)
    tolerance = 3 * max(clean.log_z_se, redone.log_z_se)
    assert abs(redone.log_z - clean.log_z) <= tolerance
    assert abs(redone.log_z - exact) <= tolerance + 0.05
    assert redone.samples["x"].shape == (800, 2)


def test_a_run_that_stays_outlying_is_dropped_with_a_warning(monkeypatch):
    log_prior, log_likelihood, init, exact = _gaussian_2d()
    calls: list[int] = []
    _corrupting(monkeypatch, calls, every=True)
    with pytest.warns(EvidenceWarning, match="1 of 2 independent runs had an outlying") as record:
        result = _run(log_prior, log_likelihood, init)
    assert any(w.filename == __file__ for w in record)
    assert len(calls) == 1 + MAX_REDOS
    assert (result.n_runs_redone, result.n_runs_dropped) == (MAX_REDOS, 1)
    assert result.log_z_runs.shape == (1,)
    assert result.samples["x"].shape == (400, 2)
    assert result.state.positions.shape[0] == 1
    assert abs(result.log_z - exact) <= 3 * result.log_z_se + 0.05


# -- 3. a MAP that knows when it is unsure --------------------------------------------------------


def _overlapping_on_exponential() -> tuple[Spectrum, CustomBaseline]:
    """Two overlapping Gaussians on a decaying exponential (the certified NIST Gauss3
    parameters, the second peak moved closer, 0.2 noise), broad uniform baseline priors: a
    narrow basin that few starts reach."""
    x = np.arange(1.0, 251.0)
    clean = (
        98.94 * np.exp(-0.010946 * x)
        + 100.70 * np.exp(-(((x - 111.64) / 23.30) ** 2))
        + 73.71 * np.exp(-(((x - 135.0) / 19.67) ** 2))
    )
    y = clean + 0.2 * np.random.default_rng(0).standard_normal(x.size)
    baseline = CustomBaseline(
        lambda x, amplitude, rate: amplitude * jnp.exp(-rate * x),
        {"amplitude": dist.Uniform(0.0, 1000.0), "rate": dist.Uniform(0.0, 0.1)},
        name="exponential",
    )
    return Spectrum(x, y, name="gauss3-like"), baseline


@pytest.fixture(scope="module")
def narrow():
    return _overlapping_on_exponential()


def _map(spectrum, baseline, key):
    return fit(
        spectrum, 2, shape="gaussian", baseline=baseline, sigma=0.2, method="map", key=key,
        n_starts=8,
    )  # fmt: skip


def test_a_best_optimum_reached_by_one_start_warns(narrow):
    with pytest.warns(ConvergenceWarning, match="reached by 1 of 8 starts") as record:
        result = _map(*narrow, key=0)
    assert any(w.filename == __file__ for w in record)
    diagnostics = result.diagnostics
    assert diagnostics["starts_at_best"] == 1 and diagnostics["starts_near_best"] == 1
    assert diagnostics["map_converged"] is True and diagnostics["map_trusted"] is False
    assert result.peak_table["centre"].to_numpy() == pytest.approx([111.83, 135.13], abs=0.02)


@pytest.mark.filterwarnings("ignore::deconv.exceptions.MisfitWarning")  # it misfits: rightly
def test_a_best_start_the_optimiser_did_not_converge_is_not_trusted(narrow):
    """Key 1 ends 119 nat above the right optimum, where BFGS and the Newton polish stopped
    short; two stalled starts nearby must not make it trusted."""
    with pytest.warns(ConvergenceWarning):
        result = _map(*narrow, key=1)
    diagnostics = result.diagnostics
    assert diagnostics["map_converged"] is False and diagnostics["map_trusted"] is False
    assert diagnostics["starts_near_best"] == 2


def test_an_easy_map_stays_quiet():
    """Nagata 2012, K = 3, the default 24 starts: 4-6 starts at the best over keys 0-11."""
    data = datasets.nagata2012(seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(
            data.spectrum, 3, shape="gaussian", baseline="none", priors="nagata2012",
            method="map", key=0,
        )  # fmt: skip
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    diagnostics = result.diagnostics
    assert diagnostics["starts_at_best"] >= 4 and diagnostics["map_trusted"] is True
    assert diagnostics["map_converged"] is True
    assert bool(result.optima["converged"].iloc[0]) is True
