"""Free-energy estimators against closed-form evidences (fixed keys, explicit tolerances).

Measured on the 2-core development CPU with the defaults (n_warmup=500, n_samples=4000,
n_independent=4, trajectory_length=1.5, preconditioner="gradient", swap_rounds=4,
target_accept=0.75, target_swap=0.5); "err" is log Z_est - log Z_exact over 8 keys (100-107),
"se" the reported standard error, "run" the sampling time without compiling (compiling costs
2.5-3.5 s per new problem):

==================================  ==  =====  =========  =======  =========  =======  =====
problem                             L   rms    max |err|  mean se  grad evals run (s)  trips
==================================  ==  =====  =========  =======  =========  =======  =====
linear-Gaussian, d=5, n=1000        19  0.041  0.066      0.049    5.3e5      1.9      643
2-D Gaussian, prior/post sd ~250    13  0.025  0.047      0.037    3.1e5      0.3      1485
bimodal 2-D, init in minor mode     11  0.035  0.068      0.028    2.8e5      0.4      2654
==================================  ==  =====  =========  =======  =========  =======  =====

max |err| / se over those 24 runs: 3.6 (bimodal; 1.5 and 1.1 for the Gaussians). The previous
defaults (n_warmup=1000, n_samples=2000, one swap round, gradient metric estimated once in 60-80 %
of the warm-up) gave rms 0.075 / 0.045 / 0.041 at 3.4e5 / 2.0e5 / 1.6e5 evaluations.
The variance of one run's log Z was 2.4 times the sum of its stepping-stone factors' variances
(neighbouring factors are correlated through the swaps), so the standard error comes from
independent runs cut into batches, never from per-temperature ESS. Bennett's ratio agrees with
stepping-stone to ~0.03 nat on the same draws; thermodynamic integration (trapezoid) is 1.6 nat
off on the linear-Gaussian ladder. WBIC on the linear-Gaussian case: exact WBIC - F = -8.70,
estimates -8.76, -8.86, -8.73 (se 0.23-0.29) in 0.2-0.4 s after compiling.

Nagata 2012 benchmark (``datasets.nagata2012(0)``: 301 points, sigma 0.1 known, K Gaussian peaks,
d = 3K; ``deconv.selection.evidence_densities`` and ``_inits`` of ``multi_start_map(n_starts=24,
seed=0)``), defaults, keys 0-9, one fresh process per key running K = 1..5 with the MAP; "wall" is
the replica_exchange call (compile ~3 s and Laplace set-up ~1 s included), "se" the mean reported
standard error, "ref." the dynesty runs of ``benchmarks/results/nagata_dynesty.json`` (10 runs,
nlive 1000; at K = 1 importance sampling with 2e6 multivariate-t draws gives -49.191 +- 0.002, so
dynesty's K = 1 is 0.1 nat low):

==  ==  ========  =====  =====  ========  ==========  ===============
K   L   F mean    sd     se     wall (s)  grad evals  ref. F (dynesty)
==  ==  ========  =====  =====  ========  ==========  ===============
1   17  -49.177   0.038  0.035  5.8       4.9e5       -49.30 +- 0.02
2   18  -147.543  0.037  0.043  9.0       6.4e5       -147.64 +- 0.04
3   18  -244.190  0.042  0.050  11.4      7.3e5       -244.13 +- 0.07
4   21  -244.001  0.093  0.072  16.7      1.1e6       -244.04 +- 0.05
5   22  -242.604  0.301  0.162  20.8      1.2e6       -242.20 +- 0.07
==  ==  ========  =====  =====  ========  ==========  ===============

argmin F = 3 for 9 of 10 keys (key 6: F(4) = -244.179 against F(3) = -244.177). The whole
K = 1..5 set (MAP ~3.7 s per K included) took 69-71 s per key on the idle machine and 90-102 s
while another engineer's pytest held the other core (86 s with a busy loop on it). The previous
defaults gave, per run: K = 3 sd 0.11 over 8 keys (se 0.04-0.08) in 7.5 s; K = 4 106 s (5.4e6
evaluations: the step sizes, carried over the switch of metric, had collapsed to 1e-11 at
beta = 1); K = 4 with max_leapfrog=8 acceptance 0 at beta = 1, F 10-12 nat off, no warning.

Metrics on Nagata K = 4 (one key, 16 runs, n_warmup=500), per-run sd of log Z and gradient
evaluations per run: gradient (n_samples=3000) step 0.94 at beta = 1, sd 0.17, 2.1e5 (sd^2 x
evals 6.4e3); geometric mean of draw covariance and inverse gradient moment, trajectory 0.9
(n_samples=1500) step 0.13, sd 0.16, 3.4e5 (8.1e3); the same with trajectory 1.5 (n_samples=1000)
sd 0.25, 4.0e5 (2.5e4); draw covariance alone: step 0.017, 30 leapfrog steps per trajectory.
Four swap rounds per sweep doubled the round trips (1282 against 706) at no gradient cost, sd
0.16 against 0.18. Bennett's ratio and the multistate (MBAR) estimator on the same draws had the
same run-to-run spread as stepping-stone: the error is in the sampling, not the estimator.

Known weaknesses (not tested):

* K >= 4 on Nagata: a superfluous peak can sit at the left edge (x ~ 0, where the first ~20
  points average +0.07, 3 sigma) with a higher likelihood than the arrangements splitting a real
  peak. Replicas cooling from the prior rarely create that arrangement and the ones carrying it
  rarely lose it, so runs differ by which they carry: heavy-tailed run estimates at K = 4 and a
  seed-to-seed sd of 0.3 at K = 5 (one 20000-sweep run never regained it). With the geometric
  metric the arrangement held 63-88 % of the beta = 1 draws and F(5) came out ~ -243.3 (runs
  -242.7 to -244.2): F(5) is uncertain by ~1 nat, which does not change the choice of K = 3.
* A mixture of modes with very unequal widths (sd 0.01 vs 0.2) whose weights shift near beta = 1
  mixes torpidly under power tempering (Woodard, Schmidler & Huber 2009): errors of +0.6 to
  +1.0 nat with se 0.2-0.45 at the previous defaults.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from deconv import _jax  # noqa: F401
from deconv.evidence import (
    ACCEPT_MIN,
    PRECONDITIONERS,
    SWAP_RATE_MIN,
    EvidenceResult,
    replica_exchange,
    wbic,
)
from deconv.exceptions import EvidenceWarning
from deconv.tempering.adaptation import _respace_ladder
from deconv.tempering.estimators import _bar_pair
from deconv.tempering.states import LaplaceModel, Tuning

LOG_2PI = float(np.log(2.0 * np.pi))


def _normal_logpdf(x: jax.Array, sd: float) -> jax.Array:
    return -0.5 * (x / sd) ** 2 - jnp.log(sd) - 0.5 * LOG_2PI


# --------------------------------------------------------------------------------------------
# Problems with known evidence
# --------------------------------------------------------------------------------------------


class LinearGaussian:
    """Three fixed Gaussian peaks + constant + linear baseline, Gaussian prior, known sigma."""

    n = 1000
    sigma = 0.05
    prior_mean = np.array([1.0, 0.8, 0.5, 0.2, 0.0])
    prior_sd = np.array([1.0, 1.0, 1.0, 0.5, 0.5])

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        x = np.linspace(0.0, 1.0, self.n)
        centres, widths = np.array([0.25, 0.5, 0.7]), np.array([0.05, 0.08, 0.04])
        peaks = np.exp(-0.5 * ((x[None, :] - centres[:, None]) / widths[:, None]) ** 2)
        self.design = np.vstack([peaks, np.ones(self.n), x]).T  # (n, 5)
        truth = self.prior_mean + self.prior_sd * rng.standard_normal(5)
        self.y = self.design @ truth + self.sigma * rng.standard_normal(self.n)
        self.post_mean, self.post_cov = self.posterior(beta=1.0)

    def log_prior(self, theta: dict) -> jax.Array:
        coef = jnp.concatenate([theta["amplitude"], theta["baseline"]])
        return jnp.sum(_normal_logpdf(coef - self.prior_mean, self.prior_sd))

    def log_likelihood(self, theta: dict) -> jax.Array:
        coef = jnp.concatenate([theta["amplitude"], theta["baseline"]])
        resid = jnp.asarray(self.y) - jnp.asarray(self.design) @ coef
        norm = self.n * (np.log(self.sigma) + 0.5 * LOG_2PI)
        return -0.5 * jnp.sum(resid**2) / self.sigma**2 - norm

    def exact_log_z(self) -> float:
        cov = self.sigma**2 * np.eye(self.n) + (self.design * self.prior_sd**2) @ self.design.T
        mean = self.design @ self.prior_mean
        return float(stats.multivariate_normal(mean, cov).logpdf(self.y))

    def posterior(self, beta: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of p(θ) p(y|θ)^β."""
        gram = self.design.T @ self.design / self.sigma**2
        precision = np.diag(self.prior_sd**-2.0) + beta * gram
        rhs = self.prior_mean / self.prior_sd**2 + beta * self.design.T @ self.y / self.sigma**2
        cov = np.linalg.inv(precision)
        return cov @ rhs, cov

    def exact_wbic(self) -> float:
        """E_β[-log p(y|θ)] at β = 1/log n, in closed form."""
        mean, cov = self.posterior(beta=1.0 / np.log(self.n))
        resid = self.y - self.design @ mean
        spread = np.trace(self.design @ cov @ self.design.T)
        norm = self.n * (np.log(self.sigma) + 0.5 * LOG_2PI)
        return float(norm + 0.5 * (resid @ resid + spread) / self.sigma**2)

    def init(self) -> dict:
        """The exact posterior mode (what a MAP optimiser would return), one start."""
        return {"amplitude": self.post_mean[None, :3], "baseline": self.post_mean[None, 3:]}


class NarrowGaussian2D:
    """Correlated 2-D Gaussian likelihood (sd 0.05, 0.02) under a N(0, 5²) prior."""

    prior_sd = 5.0
    centre = np.array([1.0, -2.0])
    offset = -40.0  # log-likelihood constant, as from many data points
    cov = np.array([[0.05**2, 0.6 * 0.05 * 0.02], [0.6 * 0.05 * 0.02, 0.02**2]])

    def log_prior(self, theta: dict) -> jax.Array:
        return jnp.sum(_normal_logpdf(theta["theta"], self.prior_sd))

    def log_likelihood(self, theta: dict) -> jax.Array:
        resid = theta["theta"] - self.centre
        quad = resid @ jnp.asarray(np.linalg.inv(self.cov)) @ resid
        return self.offset - 0.5 * quad - 0.5 * np.linalg.slogdet(self.cov)[1] - LOG_2PI

    def exact_log_z(self) -> float:
        total = self.cov + self.prior_sd**2 * np.eye(2)
        return self.offset + float(
            stats.multivariate_normal(np.zeros(2), total).logpdf(self.centre)
        )

    def init(self) -> dict:
        return {"theta": self.centre[None, :]}


class Bimodal2D:
    """Mixture likelihood 0.3 N(μ1, 0.05²) + 0.7 N(μ2, 0.1²), N(0, 3²) prior, start at μ1.

    The modes differ in weight and width, so a sampler that never leaves μ1 is off by 1.27 nat
    (a symmetric mixture would hide that: each mode alone then has the same evidence ratio).
    """

    prior_sd = 3.0
    centres = (np.array([2.0, 2.0]), np.array([-2.0, -1.5]))
    sds = (0.05, 0.1)
    weights = (0.3, 0.7)
    offset = -30.0

    def log_prior(self, theta: dict) -> jax.Array:
        return jnp.sum(_normal_logpdf(theta["theta"], self.prior_sd))

    def _mode_log_mass(self, k: int) -> float:
        """log of w_k ∫ N(θ; μ_k, s_k²) p(θ) dθ."""
        var = self.prior_sd**2 + self.sds[k] ** 2
        normal = stats.multivariate_normal(np.zeros(2), var * np.eye(2))
        return float(np.log(self.weights[k]) + normal.logpdf(self.centres[k]))

    def log_likelihood(self, theta: dict) -> jax.Array:
        terms = [
            np.log(w) + jnp.sum(_normal_logpdf(theta["theta"] - mu, s))
            for mu, s, w in zip(self.centres, self.sds, self.weights, strict=True)
        ]
        return self.offset + jnp.logaddexp(*terms)

    def exact_log_z(self) -> float:
        return self.offset + float(logsumexp([self._mode_log_mass(0), self._mode_log_mass(1)]))

    def far_mode_weight(self) -> float:
        masses = np.array([self._mode_log_mass(0), self._mode_log_mass(1)])
        return float(np.exp(masses[1] - logsumexp(masses)))

    def init(self) -> dict:
        return {"theta": self.centres[0][None, :]}


# --------------------------------------------------------------------------------------------
# Fixtures (module scope: one sampler compilation per problem)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linear() -> LinearGaussian:
    return LinearGaussian()


@pytest.fixture(scope="module")
def linear_result(linear: LinearGaussian) -> EvidenceResult:
    return replica_exchange(
        linear.log_prior, linear.log_likelihood, linear.init(), key=jax.random.key(0)
    )


# --------------------------------------------------------------------------------------------
# Replica exchange
# --------------------------------------------------------------------------------------------


def test_linear_gaussian_matches_closed_form(
    linear: LinearGaussian, linear_result: EvidenceResult
) -> None:
    exact = linear.exact_log_z()
    error = linear_result.log_z - exact
    assert abs(error) <= 0.2
    assert abs(error) <= 4.0 * linear_result.log_z_se + 0.05
    assert 0.0 < linear_result.log_z_se < 0.2
    assert abs(linear_result.log_z_bridge - exact) <= 0.2
    assert linear_result.free_energy == -linear_result.log_z
    assert linear_result.free_energy_se == linear_result.log_z_se


def test_linear_gaussian_posterior_draws(
    linear: LinearGaussian, linear_result: EvidenceResult
) -> None:
    samples = linear_result.samples
    assert samples["amplitude"].shape == (4 * 4000, 3)
    assert samples["baseline"].shape == (4 * 4000, 2)
    draws = np.concatenate([samples["amplitude"], samples["baseline"]], axis=1)
    sd = np.sqrt(np.diag(linear.post_cov))
    np.testing.assert_array_less(np.abs(draws.mean(axis=0) - linear.post_mean), 0.15 * sd)
    np.testing.assert_allclose(draws.std(axis=0), sd, rtol=0.1)


def test_result_fields(linear_result: EvidenceResult) -> None:
    res = linear_result
    n_temps = res.betas.size
    assert res.betas[0] == 0.0 and res.betas[-1] == 1.0
    assert np.all(np.diff(res.betas) > 0)
    assert res.swap_rates.shape == (n_temps - 1,)
    assert np.all((res.swap_rates > 0) & (res.swap_rates <= 1))
    assert np.all(res.swap_rates >= SWAP_RATE_MIN)
    # the adapted ladder evens the swap rates out
    assert res.swap_rates.max() - res.swap_rates.min() < 0.2
    assert np.all((res.accept_rates > 0.5) & (res.accept_rates < 0.95))
    assert res.round_trips > 0
    assert res.n_gradient_evals > 0 and res.n_likelihood_evals >= res.n_gradient_evals
    assert res.log_z_runs.shape == (4,)
    assert res.log_z_halves.shape == (2,) and np.all(np.isfinite(res.log_z_halves))
    assert abs(res.log_z_halves[1] - res.log_z_halves[0]) < 6.0 * res.log_z_se
    assert np.all(res.ess > 0) and res.ess.shape == (n_temps,)
    assert res.wall_time >= res.compile_time > 0
    # jumps from the Laplace approximation at the start, exact for this Gaussian posterior:
    # nearly always accepted at β = 1, rarely near the prior
    assert res.jump_rates.shape == (n_temps,)
    assert res.jump_rates[-1] > 0.8 and res.jump_rates[0] < 0.05


def test_narrow_posterior_2d_matches_closed_form() -> None:
    problem = NarrowGaussian2D()
    result = replica_exchange(
        problem.log_prior,
        problem.log_likelihood,
        problem.init(),
        key=jax.random.key(1),
        n_samples=8000,
    )
    assert abs(result.log_z - problem.exact_log_z()) <= 0.1
    assert result.log_z_se < 0.05


def test_starts_where_the_target_is_not_finite_are_dropped() -> None:
    """A start with log prior -inf but a finite likelihood (a log-gap of -inf, as from an
    optimiser that merged two ordered centres) never moves under HMC; kept, its likelihood
    travels along the ladder by swaps, collapses the step sizes and biases log Z."""
    problem = NarrowGaussian2D()

    def log_prior(theta: dict) -> jax.Array:  # plus a coordinate the data do not inform
        return problem.log_prior(theta) + _normal_logpdf(theta["free"], 1.0)

    def log_likelihood(theta: dict) -> jax.Array:
        return problem.log_likelihood(theta) + 0.0 * jnp.exp(theta["free"])

    starts = {
        "theta": np.array([problem.centre, problem.centre + 0.01]),
        "free": np.array([-np.inf, 0.0]),
    }
    result = replica_exchange(
        log_prior, log_likelihood, starts, key=jax.random.key(1), n_samples=2000
    )
    assert abs(result.log_z - problem.exact_log_z()) <= 0.15
    assert result.accept_rates.min() > 0.5
    stuck = {"theta": problem.centre[None, :], "free": np.array([-np.inf])}
    with pytest.raises(ValueError, match=r"init.*finite log prior, log likelihood and gradient"):
        replica_exchange(log_prior, log_likelihood, stuck, key=jax.random.key(1))


def test_respacing_gives_every_pair_the_same_share_of_the_swap_barrier() -> None:
    """Rates 1, 1, 0 on beta = 0, 1e-8, 2e-8, 1: barrier 0, 0.001, 0.002, 1.002 (rejections
    floored at 1e-3), so the interior temperatures move to 2e-8 + (1.002 k / 3 - 0.002)."""
    betas = jnp.array([0.0, 1e-8, 2e-8, 1.0])
    tuning = Tuning(
        jnp.log(jnp.diff(betas)), betas, jnp.zeros(4), jnp.ones((4, 1, 1)), jnp.zeros(()),
        jnp.ones((), bool),
    )  # fmt: skip
    swap_sum = 20.0 * jnp.array([1.0, 1.0, 0.0])
    laplace = LaplaceModel(jnp.zeros(1), jnp.eye(1), jnp.zeros(1), jnp.zeros(1))
    respaced = _respace_ladder(tuning, swap_sum, jnp.array(20.0), laplace)
    expected = [2e-8 + (1.002 * k / 3 - 0.002) * (1 - 2e-8) for k in (1, 2)]
    np.testing.assert_allclose(respaced.betas, [0.0, *expected, 1.0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.exp(respaced.log_gaps), np.diff(respaced.betas), rtol=1e-12)


def test_recovers_from_an_initial_ladder_crowded_at_zero(linear: LinearGaussian) -> None:
    """A ladder with all but the top temperature below 1e-7 (as a Laplace ladder built far
    from the bulk can be) has swap rate ~0 into beta = 1; re-spacing fixes it in a short
    warm-up, where the log-gap updates alone needed ~1000 sweeps."""
    crowded = np.concatenate([np.geomspace(1e-12, 1e-7, 11), [1.0]])
    result = replica_exchange(
        linear.log_prior, linear.log_likelihood, linear.init(), key=jax.random.key(4),
        betas=np.concatenate([[0.0], crowded]), n_warmup=200, n_samples=2000,
    )  # fmt: skip
    assert result.betas[-2] > 0.3
    assert result.swap_rates.min() > SWAP_RATE_MIN
    # a short run (se ~0.1): over keys 4-9 the error was -0.06..+0.22 (-0.11..+0.18 without
    # mode_jumps), so three standard errors
    assert abs(result.log_z - linear.exact_log_z()) <= 0.3


def test_bimodal_posterior_reaches_far_mode() -> None:
    problem = Bimodal2D()
    result = replica_exchange(
        problem.log_prior, problem.log_likelihood, problem.init(), key=jax.random.key(2)
    )
    assert abs(result.log_z - problem.exact_log_z()) <= 0.2
    far = np.mean(result.samples["theta"][:, 0] < 0.0)
    assert abs(far - problem.far_mode_weight()) < 0.1


def test_short_ladder_warns(linear: LinearGaussian) -> None:
    with pytest.warns(EvidenceWarning, match="swap rate") as record:
        result = replica_exchange(
            linear.log_prior,
            linear.log_likelihood,
            linear.init(),
            key=jax.random.key(3),
            n_temperatures=2,
            n_warmup=100,
            n_samples=200,
        )
    assert record[0].filename == __file__
    assert result.swap_rates.shape == (1,) and result.swap_rates[0] < 0.01
    assert list(result.betas) == [0.0, 1.0]


def test_single_run_uses_batch_means() -> None:
    problem = NarrowGaussian2D()
    with warnings.catch_warnings():
        warnings.simplefilter("error", EvidenceWarning)
        result = replica_exchange(
            problem.log_prior,
            problem.log_likelihood,
            problem.init(),
            key=jax.random.key(4),
            n_independent=1,
            n_warmup=500,
            n_samples=4000,
        )
    assert np.isfinite(result.log_z_se) and 0.0 < result.log_z_se < 0.2
    assert abs(result.log_z - problem.exact_log_z()) <= 4.0 * result.log_z_se + 0.05


@pytest.mark.parametrize("preconditioner", [p for p in PRECONDITIONERS if p != "gradient"])
def test_other_preconditioners_match_closed_form(preconditioner: str) -> None:
    problem = NarrowGaussian2D()
    result = replica_exchange(
        problem.log_prior,
        problem.log_likelihood,
        problem.init(),
        key=jax.random.key(6),
        n_warmup=500,
        n_samples=4000,
        preconditioner=preconditioner,
    )
    assert abs(result.log_z - problem.exact_log_z()) <= max(0.1, 4.0 * result.log_z_se)
    assert np.all(result.accept_rates > 0.5)


def test_leapfrog_cap_shortens_trajectories(linear: LinearGaussian) -> None:
    # a cap of one step must cut the trajectory, not enlarge the step: the acceptance stays
    # near its target and the estimate stays right (enlarged steps gave acceptance 0 before)
    result = replica_exchange(
        linear.log_prior,
        linear.log_likelihood,
        linear.init(),
        key=jax.random.key(7),
        max_leapfrog=1,
        n_warmup=500,
        n_samples=2000,
        trajectory_length=3.0,
    )
    assert np.all(result.accept_rates > 0.5)
    assert abs(result.log_z - linear.exact_log_z()) <= max(0.3, 4.0 * result.log_z_se)


def test_zero_acceptance_warns() -> None:
    # a likelihood that is finite only at the start: every HMC move at β > 0 is rejected
    problem = NarrowGaussian2D()
    start = jnp.asarray(problem.centre)

    def spike(theta: dict) -> jax.Array:
        return jnp.where(jnp.all(theta["theta"] == start), 0.0, -jnp.inf)

    with pytest.warns(EvidenceWarning, match="HMC acceptance") as record:
        result = replica_exchange(
            problem.log_prior,
            spike,
            problem.init(),
            key=jax.random.key(8),
            n_temperatures=4,
            n_warmup=50,
            n_samples=100,
        )
    ours = [w for w in record if issubclass(w.category, EvidenceWarning)]
    assert ours[0].filename == __file__
    assert np.min(result.accept_rates) < ACCEPT_MIN


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"betas": [0.1, 0.5, 1.0]}, ValueError),
        ({"betas": [0.0, 0.5, 0.4, 1.0]}, ValueError),
        ({"n_temperatures": 1}, ValueError),
        ({"n_independent": 0}, ValueError),
        ({"target_swap": 1.5}, ValueError),
        ({"preconditioner": "diagonal"}, ValueError),
        ({"swap_rounds": 0}, ValueError),
        ({"mode_jumps": "yes"}, TypeError),
    ],
)
def test_invalid_configuration_raises(
    linear: LinearGaussian, change: dict, error: type[Exception]
) -> None:
    with pytest.raises(error):
        replica_exchange(
            linear.log_prior, linear.log_likelihood, linear.init(), key=jax.random.key(0), **change
        )


def test_invalid_init_raises(linear: LinearGaussian) -> None:
    bad = {"amplitude": np.zeros((2, 3)), "baseline": np.zeros((3, 2))}
    with pytest.raises(ValueError, match="leading axis"):
        replica_exchange(linear.log_prior, linear.log_likelihood, bad, key=jax.random.key(0))


def test_bennett_ratio_with_unequal_draw_counts() -> None:
    # q_a = N(0, 1), q_b = e² N(1, 1) (same normaliser): log Z_b / Z_a = 2 exactly
    rng = np.random.default_rng(0)
    draws_a, draws_b = rng.standard_normal(20000), 1.0 + rng.standard_normal(1000)

    def log_ratio(x: np.ndarray) -> np.ndarray:
        return x - 0.5 + 2.0

    estimate = _bar_pair(log_ratio(draws_a), log_ratio(draws_b))
    assert estimate == pytest.approx(2.0, abs=0.03)


# --------------------------------------------------------------------------------------------
# WBIC
# --------------------------------------------------------------------------------------------


def test_wbic_linear_gaussian(linear: LinearGaussian) -> None:
    result = wbic(
        linear.log_prior,
        linear.log_likelihood,
        linear.init(),
        n_data=linear.n,
        key=jax.random.key(5),
    )
    assert result.beta == pytest.approx(1.0 / np.log(linear.n))
    # the sampler reproduces the closed-form tempered expectation ...
    assert abs(result.wbic - linear.exact_wbic()) <= max(0.5, 4.0 * result.wbic_se)
    # ... and WBIC is only a screen of F (documented bound; exact gap here is -8.7 nat)
    assert abs(result.wbic + linear.exact_log_z()) < 10.0
    assert result.free_energy == result.wbic and result.n_gradient_evals > 0


# --------------------------------------------------------------------------------------------
# Long statistical runs
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_linear_gaussian_seed_spread(linear: LinearGaussian) -> None:
    exact = linear.exact_log_z()
    errors, ses = [], []
    for seed in range(10, 22):
        res = replica_exchange(
            linear.log_prior, linear.log_likelihood, linear.init(), key=jax.random.key(seed)
        )
        errors.append(res.log_z - exact)
        ses.append(res.log_z_se)
    errors = np.array(errors)
    assert np.sqrt(np.mean(errors**2)) < 0.12
    assert abs(errors.mean()) < 0.08
    # the reported se matches the seed-to-seed spread (sd of 12 errors scatters by ~20 %)
    assert 0.4 < np.std(errors, ddof=1) / np.sqrt(np.mean(np.square(ses))) < 2.0
    assert np.all(np.abs(errors) < 4.0 * np.array(ses) + 0.05)


# --------------------------------------------------------------------------------------------
# Data as an argument: one compilation per structure, warm starts
# --------------------------------------------------------------------------------------------


def _data_log_prior(theta: dict, data: dict) -> jax.Array:
    coef = jnp.concatenate([theta["amplitude"], theta["baseline"]])
    return jnp.sum(_normal_logpdf(coef - data["prior_mean"], data["prior_sd"]))


def _data_log_likelihood(theta: dict, data: dict) -> jax.Array:
    coef = jnp.concatenate([theta["amplitude"], theta["baseline"]])
    resid = data["y"] - data["design"] @ coef
    n = data["y"].shape[0]
    return -0.5 * jnp.sum(resid**2) / data["sigma"] ** 2 - n * (
        jnp.log(data["sigma"]) + 0.5 * LOG_2PI
    )


def _noise_realisation(linear: LinearGaussian, seed: int) -> LinearGaussian:
    """The same design and prior with another draw of the noise (a neighbouring spectrum)."""
    other = LinearGaussian.__new__(LinearGaussian)
    other.design = linear.design
    truth = linear.post_mean + 0.02 * np.random.default_rng(seed).standard_normal(5)
    noise = linear.sigma * np.random.default_rng(seed + 1).standard_normal(linear.n)
    other.y = linear.design @ truth + noise
    other.post_mean, other.post_cov = other.posterior(beta=1.0)
    return other


def _as_data(problem: LinearGaussian) -> dict:
    return {
        "design": jnp.asarray(problem.design),
        "y": jnp.asarray(problem.y),
        "sigma": jnp.asarray(problem.sigma),
        "prior_mean": jnp.asarray(problem.prior_mean),
        "prior_sd": jnp.asarray(problem.prior_sd),
    }


def test_data_argument_compiles_once_and_warm_start_is_cheaper(linear: LinearGaussian) -> None:
    from deconv.evidence import SamplerState, compile_count

    name = _data_log_likelihood.__qualname__
    before = compile_count().get(name, 0)
    settings = {"n_samples": 2000, "n_temperatures": 12}
    first = replica_exchange(
        _data_log_prior,
        _data_log_likelihood,
        linear.init(),
        key=jax.random.key(1),
        data=_as_data(linear),
        **settings,
    )
    neighbour = _noise_realisation(linear, seed=5)
    cold = replica_exchange(
        _data_log_prior,
        _data_log_likelihood,
        neighbour.init(),
        key=jax.random.key(2),
        data=_as_data(neighbour),
        **settings,
    )
    warm = replica_exchange(
        _data_log_prior,
        _data_log_likelihood,
        neighbour.init(),
        key=jax.random.key(3),
        data=_as_data(neighbour),
        warm_start=first,
        n_warmup=50,
        n_samples=2000,
    )
    assert compile_count()[name] - before == 1  # three runs, cold and warm: one compilation
    assert cold.compile_time > 0 and warm.compile_time < 0.05
    for result, problem in ((first, linear), (cold, neighbour), (warm, neighbour)):
        assert abs(result.log_z - problem.exact_log_z()) <= 0.2
    assert isinstance(warm.state, SamplerState)
    np.testing.assert_array_equal(warm.betas, first.betas)  # the ladder is kept
    # 50 + 2000 sweeps against 500 + 2000 with the inherited ladder, metric and jump mixture.
    # Over keys 2-9 (measured): 1.82e5 against 2.19e5 gradient evaluations, mean se^2 0.0098
    # against 0.0096, error sd 0.078 against 0.092: the same precision for 17 % less work. One
    # key's se is too noisy (+-30 %) to compare the two per unit of work, so only a sanity bound.
    assert warm.n_gradient_evals < 0.9 * cold.n_gradient_evals
    assert warm.log_z_se < 2.0 * cold.log_z_se


def test_warm_start_rejects_mismatched_state(linear: LinearGaussian) -> None:
    from deconv.evidence import SamplerState

    state = SamplerState(
        np.zeros((2, 4, 3)), np.linspace(0, 1, 4), np.zeros(4), np.zeros((4, 3, 3))
    )
    with pytest.raises(ValueError, match=r"warm_start must hold positions of shape \(runs, L, 5\)"):
        replica_exchange(
            linear.log_prior, linear.log_likelihood, linear.init(), key=jax.random.key(0),
            warm_start=state,
        )  # fmt: skip
    from deconv import _reference

    wrong_jumps = state._replace(positions=np.zeros((2, 4, 5)), jumps=_reference.standard(3, 8))
    with pytest.raises(ValueError, match="warm_start must hold a jump mixture over 5 dimensions"):
        replica_exchange(
            linear.log_prior, linear.log_likelihood, linear.init(), key=jax.random.key(0),
            warm_start=wrong_jumps,
        )  # fmt: skip
    with pytest.raises(TypeError, match="warm_start must be an EvidenceResult or SamplerState"):
        replica_exchange(
            linear.log_prior, linear.log_likelihood, linear.init(), key=jax.random.key(0),
            warm_start={"positions": 1},
        )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Tempering from a Laplace-mixture reference instead of the prior
# --------------------------------------------------------------------------------------------


class SkewedHeavyTailed:
    """Two independent coordinates under N(0, 3²) priors: a Student-t likelihood (ν = 3, scale
    0.05: heavier tails than any Laplace approximation) and a Poisson log-rate likelihood (4
    counts: a skewed posterior). log Z is the sum of two 1-D integrals (SciPy quadrature)."""

    prior_sd = 3.0
    t_centre, t_scale, t_df = 1.0, 0.05, 3.0
    counts = 4.0
    offset = -200.0  # a constant, as from many data points

    def log_prior(self, theta: dict) -> jax.Array:
        return jnp.sum(_normal_logpdf(theta["theta"], self.prior_sd))

    def _log_t(self, a: jax.Array) -> jax.Array:
        return jax.scipy.stats.t.logpdf(a, self.t_df, self.t_centre, self.t_scale)

    def _log_poisson(self, b: jax.Array) -> jax.Array:
        return self.counts * b - jnp.exp(b) - jax.scipy.special.gammaln(self.counts + 1.0)

    def log_likelihood(self, theta: dict) -> jax.Array:
        a, b = theta["theta"][0], theta["theta"][1]
        return self.offset + self._log_t(a) + self._log_poisson(b)

    def exact_log_z(self) -> float:
        from scipy import integrate

        prior = stats.norm(0.0, self.prior_sd).pdf
        t = stats.t(self.t_df, self.t_centre, self.t_scale).pdf
        z_a = integrate.quad(lambda a: prior(a) * t(a), -40, 40, points=[1.0], limit=400)[0]
        counts = int(self.counts)
        poisson = stats.poisson.pmf
        z_b = integrate.quad(lambda b: prior(b) * poisson(counts, np.exp(b)), -30, 10, limit=400)[0]
        return self.offset + float(np.log(z_a) + np.log(z_b))

    def init(self) -> dict:
        return {"theta": np.array([[self.t_centre, np.log(self.counts)]])}


class NarrowGaussianMany:
    """A 10-D Gaussian likelihood of sd 1e-6 under N(0, 1) priors: ~140 nats of information,
    a prior path needing more than 64 temperatures."""

    dim, sd = 10, 1e-6
    centre = np.linspace(-0.5, 0.5, 10)

    def log_prior(self, theta: dict) -> jax.Array:
        return jnp.sum(_normal_logpdf(theta["theta"], 1.0))

    def log_likelihood(self, theta: dict) -> jax.Array:
        return jnp.sum(_normal_logpdf(theta["theta"] - self.centre, self.sd))

    def exact_log_z(self) -> float:
        return float(np.sum(stats.norm(0.0, np.sqrt(1.0 + self.sd**2)).logpdf(self.centre)))

    def init(self) -> dict:
        return {"theta": self.centre[None, :] / (1.0 + self.sd**2)}


def test_reference_path_is_exact_for_a_gaussian_posterior(linear: LinearGaussian) -> None:
    # q is then the posterior itself: every stepping-stone term is the constant log Z
    result = replica_exchange(
        linear.log_prior, linear.log_likelihood, linear.init(), key=jax.random.key(0),
        reference="laplace", n_samples=500,
    )  # fmt: skip
    assert result.reference == "laplace" and result.state.reference == "laplace"
    assert result.betas.size == 4
    assert abs(result.log_z - linear.exact_log_z()) < 1e-6


def test_auto_tempers_from_the_reference_when_the_prior_path_is_too_long() -> None:
    from deconv.tempering.paths import _prior_path_size
    from deconv.tempering.setup import _prepare

    problem = NarrowGaussianMany()
    prepared = _prepare(problem.log_prior, problem.log_likelihood, problem.init())
    assert _prior_path_size(prepared, 0.5) > 64
    result = replica_exchange(
        problem.log_prior, problem.log_likelihood, problem.init(), key=jax.random.key(0),
        n_samples=500,
    )  # fmt: skip
    assert result.reference == "laplace" and result.betas.size == 4
    assert abs(result.log_z - problem.exact_log_z()) < 1e-4


@pytest.mark.parametrize(
    ("spread", "chosen"), [(2.5, "laplace"), (14.0, "laplace"), (15.0, "prior")]
)
def test_auto_takes_the_reference_only_when_it_is_close_to_the_posterior(
    monkeypatch: pytest.MonkeyPatch, spread: float, chosen: str
) -> None:
    # a spread s of log p/q predicts ceil(s / 0.954) + 1 temperatures at swap rate 0.5, rounded
    # up to a multiple of 4: 14.0 -> 16 (taken), 15.0 -> 20 (the reference is too far off)
    from deconv.tempering import paths
    from deconv.tempering.setup import _prepare

    problem = NarrowGaussianMany()
    prepared = _prepare(problem.log_prior, problem.log_likelihood, problem.init())
    monkeypatch.setattr(paths, "_excess_spread", lambda *args: spread)
    path = paths._choose_path(
        problem.log_prior, problem.log_likelihood, prepared, None, reference="auto",
        target_swap=0.5, key=jax.random.key(0),
    )  # fmt: skip
    assert path.reference == chosen


def test_auto_keeps_the_prior_path_where_it_is_affordable(linear: LinearGaussian) -> None:
    assert replica_exchange(
        linear.log_prior, linear.log_likelihood, linear.init(), key=jax.random.key(0),
        n_samples=200,
    ).reference == "prior"  # fmt: skip


def test_reference_path_matches_quadrature_on_a_skewed_heavy_tailed_posterior() -> None:
    # measured over keys 0-3: errors +0.005, -0.015, -0.007, -0.003 (se 0.008-0.010, 4
    # temperatures, 1.2e5 gradient evaluations); the prior path: +0.017, +0.018, +0.041, -0.050
    # (se 0.015-0.022, 12 temperatures, 4e5)
    problem = SkewedHeavyTailed()
    result = replica_exchange(
        problem.log_prior, problem.log_likelihood, problem.init(), key=jax.random.key(0),
        reference="laplace",
    )  # fmt: skip
    error = result.log_z - problem.exact_log_z()
    assert result.log_z_se > 1e-3  # the reference is not the posterior: a real path
    assert abs(error) <= 0.05
    assert abs(error) <= 4.0 * result.log_z_se + 0.01


def test_reference_mixture_carries_both_modes_of_the_starts() -> None:
    # exact draws of the mixture at beta = 0 move replicas between its components
    problem = Bimodal2D()
    both = {"theta": np.stack(problem.centres)}
    result = replica_exchange(
        problem.log_prior, problem.log_likelihood, both, key=jax.random.key(2),
        reference="laplace",
    )  # fmt: skip
    assert abs(result.log_z - problem.exact_log_z()) <= 0.05
    far = np.mean(result.samples["theta"][:, 0] < 0.0)
    assert abs(far - problem.far_mode_weight()) < 0.05


def test_reference_path_misses_a_mode_that_no_start_reaches() -> None:
    # why "auto" keeps the prior path where it can: started in the minor mode only, the
    # reference path finds log Z of that mode alone (the prior path finds both; test above)
    problem = Bimodal2D()
    result = replica_exchange(
        problem.log_prior, problem.log_likelihood, problem.init(), key=jax.random.key(2),
        reference="laplace", n_samples=500,
    )  # fmt: skip
    missing = np.log1p(-problem.far_mode_weight())
    assert abs(result.log_z - problem.exact_log_z() - missing) < 0.02


def test_jump_move_leaves_the_tempered_target_invariant() -> None:
    """Independence jumps from a mixture unlike the target, 20000 chains started far off at
    x = -3, two temperatures: after 300 jumps the chains hold the tempered Gaussian
    N(0, 1) N(x; 2, 0.5)^β (mean 8β / (1 + 4β), variance 1 / (1 + 4β)) at both."""
    from deconv import _reference
    from deconv.tempering.moves import _jump_all
    from deconv.tempering.states import Densities, _evaluate

    flat = Densities(
        lambda x: jnp.sum(stats_norm_logpdf(x, 0.0, 1.0)),
        lambda x: jnp.sum(stats_norm_logpdf(x, 2.0, 0.5)),
    )
    roots = jnp.array([[[1.0]], [[0.3]]])
    log_weights = jnp.log(jnp.array([0.5, 0.5]))
    mixture = _reference.Reference(
        jnp.array([[0.0], [3.0]]), roots, 1.0 / roots, log_weights,
        log_weights - jnp.log(roots[:, 0, 0]) - 0.5 * np.log(2 * np.pi),
    )  # fmt: skip
    betas = jnp.array([0.5, 1.0])
    reps = jax.vmap(jax.vmap(lambda x: _evaluate(flat, x)))(jnp.full((20000, 2, 1), -3.0))
    step = jax.jit(lambda t, reps: _jump_all(flat, mixture, jax.random.key(7), t, reps, betas))
    accepted = 0.0
    for t in range(300):
        reps, jumped = step(t, reps)
        accepted += float(jnp.mean(jumped)) / 300
    x = np.asarray(reps.x[..., 0])
    precision = 1.0 + 4.0 * np.asarray(betas)
    np.testing.assert_allclose(x.mean(axis=0), 8.0 * np.asarray(betas) / precision, atol=0.02)
    np.testing.assert_allclose(x.var(axis=0), 1.0 / precision, rtol=0.04)
    np.testing.assert_allclose(reps.log_lik[..., 0], stats.norm.logpdf(x[:, 0], 2.0, 0.5))
    assert 0.1 < accepted < 0.9


def stats_norm_logpdf(x: jax.Array, mean: float, sd: float) -> jax.Array:
    return jax.scipy.stats.norm.logpdf(x, mean, sd)


def test_starts_are_shared_out_by_laplace_evidence() -> None:
    from deconv.tempering.setup import _tile

    points = np.arange(3.0)[:, None]
    # weights 0.3 : 0.6 : 0.1 -> 6 : 12 : 2 of 20 slots (systematic allocation over 4 runs),
    # the heaviest at the top of every ladder
    x0 = _tile(points, 4, 5, np.log([0.3, 0.6, 0.1]))[..., 0]
    np.testing.assert_array_equal(np.bincount(x0.ravel().astype(int), minlength=3), [6, 12, 2])
    assert np.all(x0[:, -1] == 1.0)
    # without weights the starts are cycled, one share each
    np.testing.assert_array_equal(_tile(points, 2, 3)[..., 0], [[0, 1, 2], [0, 1, 2]])


def test_reference_mixture_merges_repeated_optima_and_floors_weights() -> None:
    from deconv import _reference
    from deconv.tempering.setup import _posterior_root

    points = np.array([[0.0], [1e-3], [5.0]])  # the first two: one mode (posterior sd 0.1)
    log_targets = np.array([0.0, -0.1, -10.0])
    # prior precision 1, likelihood curvature 99
    roots = np.array([_posterior_root(x, np.ones((1, 1)), np.full((1, 1), 99.0)) for x in points])
    mixture = _reference.build(points, log_targets, roots)
    np.testing.assert_allclose(np.asarray(mixture.means), [[0.0], [5.0]])
    np.testing.assert_allclose(np.asarray(mixture.roots)[:, 0, 0], [0.1, 0.1])
    # Laplace weights 1 : exp(-10), floored at exp(-5) of the heaviest
    expected = np.array([0.0, -5.0]) - np.logaddexp(0.0, -5.0)
    np.testing.assert_allclose(np.asarray(mixture.log_weights), expected, atol=1e-12)
    x = jnp.array([0.3])
    density = sum(
        np.exp(w) * stats.norm(m, 0.1).pdf(0.3) for w, m in zip(expected, (0.0, 5.0), strict=True)
    )
    assert float(_reference.log_density(x, mixture)) == pytest.approx(np.log(density), abs=1e-10)


def test_jump_mixture_is_evened_and_padded_without_changing_its_components() -> None:
    """The jump proposal: the same two components at equal weights, padded with weightless
    ones to 8 (a fixed shape), which are never drawn and add nothing to the density."""
    from deconv import _reference

    roots = np.full((2, 1, 1), 0.1)
    mixture = _reference.build(np.array([[0.0], [5.0]]), np.array([0.0, -10.0]), roots)
    jumps = _reference.padded(_reference.evened(mixture), 8)
    assert jumps.means.shape == (8, 1) and jumps.roots.shape == (8, 1, 1)
    np.testing.assert_allclose(np.exp(np.asarray(jumps.log_weights[:2])), [0.5, 0.5])
    assert np.all(np.isneginf(np.asarray(jumps.log_weights[2:])))
    for x in (0.3, 4.8):
        expected = 0.5 * (stats.norm(0.0, 0.1).pdf(x) + stats.norm(5.0, 0.1).pdf(x))
        value = float(_reference.log_density(jnp.array([x]), jumps))
        assert value == pytest.approx(np.log(expected), abs=1e-10)
    draws = np.asarray(_reference.draw(jax.random.key(0), jumps, 4000))[:, 0]
    near_five = np.abs(draws - 5.0) < 0.6
    assert np.all(near_five | (np.abs(draws) < 0.6))
    assert abs(near_five.mean() - 0.5) < 0.03


def test_warm_start_from_a_reference_run_rebuilds_the_reference(linear: LinearGaussian) -> None:
    first = replica_exchange(
        _data_log_prior, _data_log_likelihood, linear.init(), key=jax.random.key(1),
        data=_as_data(linear), reference="laplace", n_samples=500,
    )  # fmt: skip
    neighbour = _noise_realisation(linear, seed=5)
    warm = replica_exchange(
        _data_log_prior, _data_log_likelihood, neighbour.init(), key=jax.random.key(3),
        data=_as_data(neighbour), warm_start=first, n_warmup=20, n_samples=500,
    )  # fmt: skip
    assert warm.reference == "laplace"
    assert abs(warm.log_z - neighbour.exact_log_z()) < 1e-6
    assert abs(warm.log_z - linear.exact_log_z()) > 1.0  # not the first data set's value


def test_warm_start_on_the_reference_path_restarts_from_the_new_starts() -> None:
    # The previous run's replicas sit in both modes; the new data set's starts reach only the
    # minor one. Replicas carried over into the mode the new reference misses could not leave
    # it at beta < 1, where log p/q is huge (scenario (b): F thousands of nats low); restarted
    # from the new starts, the run misses the far mode as a cold reference run does.
    problem = Bimodal2D()
    first = replica_exchange(
        problem.log_prior, problem.log_likelihood, {"theta": np.stack(problem.centres)},
        key=jax.random.key(2), reference="laplace", n_samples=500,
    )  # fmt: skip
    warm = replica_exchange(
        problem.log_prior, problem.log_likelihood, problem.init(), key=jax.random.key(3),
        warm_start=first, n_warmup=20, n_samples=500,
    )  # fmt: skip
    missing = np.log1p(-problem.far_mode_weight())
    assert abs(warm.log_z - problem.exact_log_z() - missing) < 0.05
