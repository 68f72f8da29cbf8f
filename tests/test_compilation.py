"""Compiled programs: the same in every process, and kept on disk between processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import datasets
from deconv import _ahead, _structured
from deconv.inference import make_problem

REPO = Path(__file__).resolve().parents[1]

# One K = 1 MAP in a fresh process, with the persistent cache in argv[1].
_ONE_MAP = textwrap.dedent(
    """
    import sys
    import deconv
    deconv.enable_compilation_cache(sys.argv[1])
    import datasets
    from deconv.inference import make_problem, multi_start_map
    spectrum = datasets.nagata2012(seed=0).spectrum
    problem = make_problem(spectrum, 1, shape="gaussian", baseline="none", priors="nagata2012")
    multi_start_map(problem, n_starts=1, n_polish=1)
    """
)


def _run(script: str, *args: str, hash_seed: int, **env: str) -> str:
    inherited = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    environment = {**inherited, "PYTHONHASHSEED": str(hash_seed), **env}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("shape, baseline", [("pseudo_voigt", "linear"), ("voigt", "quadratic")])
def test_prior_arrays_travel_in_name_order_and_come_back(shape, baseline):
    problem = make_problem(datasets.nagata2012(seed=0).spectrum, 2, shape=shape, baseline=baseline)
    structure, data = problem.structured
    tree = _structured.internal_priors(problem)
    named = dict(_structured._named_leaves(tree))
    assert len(data["leaves"]) == len(named) >= 30
    for name, leaf in zip(sorted(named), data["leaves"], strict=True):
        np.testing.assert_array_equal(np.asarray(leaf), np.asarray(named[name], dtype=float))
    back = _structured._flattening_order(structure, data["leaves"])
    for leaf, original in zip(back, jax.tree_util.tree_leaves(tree), strict=True):
        np.testing.assert_array_equal(np.asarray(leaf), np.asarray(original, dtype=float))


def test_the_order_of_the_prior_arrays_does_not_depend_on_string_hashing():
    script = textwrap.dedent(
        """
        import datasets
        from deconv.inference import make_problem
        spectrum = datasets.nagata2012(seed=0).spectrum
        problem = make_problem(spectrum, 2, shape="pseudo_voigt", baseline="linear")
        print([float(x) for leaf in problem.structured[1]["leaves"] for x in leaf.ravel()])
        """
    )
    runs = {_run(script, hash_seed=seed) for seed in (1, 2, 3)}
    assert len(runs) == 1  # NumPyro's own flattening order changes with the hash seed


def test_a_second_process_loads_the_compiled_optimiser(tmp_path):
    cache = tmp_path / "jax"
    _run(_ONE_MAP, str(cache), hash_seed=1)
    first = sorted(p.name for p in cache.glob("jit__structured_bfgs-*-cache"))
    _run(_ONE_MAP, str(cache), hash_seed=2)
    second = sorted(p.name for p in cache.glob("jit__structured_bfgs-*-cache"))
    assert len(first) == 1
    assert second == first  # a miss would have written a second program under another key


def test_enable_compilation_cache_resolves_its_directory(tmp_path):
    script = textwrap.dedent(
        """
        import sys, jax, deconv
        print(deconv.enable_compilation_cache())
        print(jax.config.jax_persistent_cache_min_compile_time_secs)
        """
    )
    lines = _run(
        script, hash_seed=0, SPECBAYES_CACHE_DIR=str(tmp_path / "here"), XDG_CACHE_HOME="/nowhere"
    ).split()
    assert lines == [str(tmp_path / "here"), "0.0"]
    assert (tmp_path / "here").is_dir()
    environment = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "SPECBAYES_CACHE_DIR": ""}
    lines = _run(script, hash_seed=0, **environment).split()
    assert lines[0] == str(tmp_path / "xdg" / "specbayes" / "jax")
    given = _run(script, hash_seed=0, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "mine"))
    assert given.split()[0] == str(tmp_path / "mine")  # the user's own choice is kept


def test_a_new_number_of_starts_does_not_recompile_the_set_up():
    from deconv.inference import multi_start_map
    from deconv.selection import _densities, _inits
    from deconv.tempering import setup
    from deconv.tempering.states import flat_densities

    spectrum = datasets.nagata2012(seed=0).spectrum
    problem = make_problem(spectrum, 2, shape="gaussian", baseline="none", priors="nagata2012")
    log_prior, log_likelihood, data = _densities(problem)
    optima, table = multi_start_map(problem, n_starts=4, seed=0)
    best = jax.tree_util.tree_map(lambda a: np.asarray(a[:1]), _inits(problem, optima, table))
    shifts = np.linspace(0.0, 0.04, 5)
    init = jax.tree_util.tree_map(lambda a: a + shifts.reshape(-1, *[1] * (a.ndim - 1)), best)
    before = _ahead.program_count(setup._inspect_jit)
    firsts = [{name: a[:n] for name, a in init.items()} for n in (3, 5)]
    prepared = [setup._prepare(log_prior, log_likelihood, i, data) for i in firsts]
    assert _ahead.program_count(setup._inspect_jit) - before <= 1  # both padded to 8 starts
    points, template = setup._init_points(init)
    flat = flat_densities(log_prior, log_likelihood, template, data)
    expected = [float(flat.log_prior(x) + flat.log_lik(x)) for x in points]
    for n, problem_n in zip((3, 5), prepared, strict=True):
        assert problem_n.points.shape == (n, points.shape[1])
        np.testing.assert_allclose(problem_n.log_targets, expected[:n], rtol=0, atol=1e-9)


class _Unbuildable:
    """Lowers, then fails to compile."""

    def lower(self, *args):
        return self

    def compile(self):
        raise RuntimeError("no program")


def test_programs_compiled_on_another_thread_are_kept_by_signature():
    scaled_sine = jax.jit(lambda scale, x: jnp.sin(x) * scale, static_argnums=0)
    x = jnp.linspace(0.0, 1.0, 7)
    with ThreadPoolExecutor(1) as compiler:
        program, new = _ahead.submit(scaled_sine, (2.0,), (x,), compiler)
        again, new_again = _ahead.submit(scaled_sine, (2.0,), (x + 1.0,), compiler)
    assert new and not new_again and again is program
    np.testing.assert_array_equal(_ahead.call(scaled_sine, (2.0,), x), scaled_sine(2.0, x))
    assert _ahead.program_count(scaled_sine) == 1
    assert _ahead.submit(scaled_sine, (3.0,), (x,))[1]  # another static argument
    assert _ahead.submit(scaled_sine, (2.0,), (x[:3],))[1]  # another shape
    assert _ahead.submit(scaled_sine, (2.0,), (np.float32(1.0),))[1]  # another shape and dtype
    assert _ahead.submit(scaled_sine, (2.0,), (x,), keep=False)[1]  # not kept: compiled afresh
    assert _ahead.program_count(scaled_sine) == 4


def test_a_program_that_failed_to_compile_is_not_kept():
    broken = _Unbuildable()
    with ThreadPoolExecutor(1) as compiler:
        program, _ = _ahead.submit(broken, (), (np.ones(3),), compiler)
        with pytest.raises(RuntimeError, match="no program"):
            program.result()
    assert _ahead.program_count(broken) == 0
    with pytest.raises(RuntimeError, match="no program"):
        _ahead.call(broken, (), np.ones(3))  # tried again, here


def test_an_error_leaves_the_background_threads_at_once():
    started = threading.Event()

    def long_task():
        started.set()
        time.sleep(2.0)

    begun = time.perf_counter()
    with pytest.raises(KeyError), _ahead.Background() as background:
        background.runner.submit(long_task)
        queued = background.runner.submit(long_task)
        started.wait()
        raise KeyError("interrupted")
    assert time.perf_counter() - begun < 1.0
    assert queued.cancelled()


_MAPS_RELEASED = textwrap.dedent(
    """
    import gc, json
    import deconv
    import datasets
    from deconv.inference import make_problem, multi_start_map

    def maps():
        with open("/proc/self/maps") as handle:
            return sum(1 for _ in handle)

    spectrum = datasets.nagata2012(seed=0).spectrum
    def best(n_peaks):
        problem = make_problem(spectrum, n_peaks, shape="gaussian", baseline="none",
                               priors="nagata2012")
        _, table = multi_start_map(problem, n_starts=4, n_polish=1)
        return float(table["neg_log_posterior"].iloc[0])

    start = maps()
    first = [best(k) for k in (1, 2)]
    held = maps()
    deconv.clear_compiled_programs()
    gc.collect()
    released = maps()
    again = [best(k) for k in (1, 2)]
    print(json.dumps({"start": start, "held": held, "released": released,
                      "first": first, "again": again}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_clearing_the_compiled_programs_releases_their_memory_maps():
    import json

    counts = json.loads(_run(_MAPS_RELEASED, hash_seed=0).splitlines()[-1])
    compiled = counts["held"] - counts["start"]
    assert compiled > 100  # two structures' optimisers hold hundreds of maps
    assert counts["held"] - counts["released"] > 0.5 * compiled
    np.testing.assert_allclose(counts["again"], counts["first"], rtol=0, atol=1e-9)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_programs_are_let_go_only_near_the_memory_map_limit(monkeypatch):
    from deconv import _jax
    from deconv.inference import multi_start_map

    problem = make_problem(datasets.nagata2012(seed=0).spectrum, 1, shape="gaussian",
                           baseline="none", priors="nagata2012")  # fmt: skip
    multi_start_map(problem, n_starts=2, n_polish=1)
    kept = len(_ahead._PROGRAMS)
    assert kept >= 2
    monkeypatch.setattr(_jax, "_map_limit", lambda: 10**9)
    assert not _jax.make_room_for_programs() and len(_ahead._PROGRAMS) == kept
    monkeypatch.setattr(_jax, "_map_limit", lambda: 2 * _jax._maps_in_use() - 10)
    assert _jax.make_room_for_programs() and len(_ahead._PROGRAMS) == 0
