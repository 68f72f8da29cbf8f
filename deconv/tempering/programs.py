"""Compiling and running the sampler program: traced in the calling thread, compiled (and run)
ahead on background threads where asked, cached by structure when the densities take their data."""

from __future__ import annotations

import concurrent.futures
import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from deconv import _ahead, _reference
from deconv.tempering.kernel import _run_jit
from deconv.tempering.paths import _standard_jit
from deconv.tempering.states import (
    Array,
    Config,
    KernelState,
    LaplaceModel,
    LogDensity,
    PyTree,
    Schedule,
    Trace,
    Tuning,
    _internal_key,
)

_COMPILE_COUNTS: dict[str, int] = {}


def compile_count() -> dict[str, int]:
    """Compilations of the sampler with data passed as an argument, by density name."""
    return dict(_COMPILE_COUNTS)


def _density_name(log_likelihood: LogDensity) -> str:
    return getattr(log_likelihood, "__qualname__", type(log_likelihood).__name__)


class _Launched(NamedTuple):
    """A sampler traced in this thread, compiled (or compiling) and run (or running, or to
    be run by :func:`_run_launched`)."""

    run: Callable[[], tuple[KernelState, Trace, float]]  # waits for the program and runs it
    outcome: concurrent.futures.Future | None  # of ``run()`` on a background thread
    program: concurrent.futures.Future | None = None  # the compiled sampler (to redo runs)
    args: tuple = ()  # its arguments


def _launch(
    log_prior: LogDensity,
    log_likelihood: LogDensity,
    cfg: Config,
    key: Array,
    x0: np.ndarray,
    template: PyTree,
    tuning: Tuning,
    schedule: Schedule,
    laplace: LaplaceModel,
    data: PyTree,
    *,
    cache: bool,
    jumps: _reference.Reference | None = None,
    background: _ahead.Background | None = None,
) -> _Launched:
    """Trace the sampler here; with ``background``, compile and then run it on its threads
    while the caller goes on (tracing runs NumPyro's global handler stack, so it stays in
    the calling thread).

    With ``cache`` (the user's densities take their data as an argument) the compiled sampler
    is kept, keyed by the density functions, the static settings and the argument shapes, and
    reused for the next data set of that structure. Densities that close over their data are
    compiled afresh on every call.
    """
    if jumps is None:
        jumps = _standard_jit(x0.shape[-1], 1)
    args = (_internal_key(key), jnp.asarray(x0), template, tuning, schedule, laplace, data, jumps)
    start = time.perf_counter()
    static = (log_prior, log_likelihood, cfg)
    compiler = background.compiler if background else None
    program, new = _ahead.submit(_run_jit, static, args, compiler, keep=cache)
    if new and cache:
        name = _density_name(log_likelihood)
        _COMPILE_COUNTS[name] = _COMPILE_COUNTS.get(name, 0) + 1
    run = functools.partial(_run_program, program, args, time.perf_counter() - start)
    return _Launched(run, background.runner.submit(run) if background else None, program, args)


def _run_program(
    program: concurrent.futures.Future, args: tuple, tracing_s: float
) -> tuple[KernelState, Trace, float]:
    """Wait for the compiled sampler and run it; returns the final carry, the trace and the
    seconds spent on compilation (tracing, and waiting for the program)."""
    start = time.perf_counter()
    compiled = program.result()
    compile_time = tracing_s + time.perf_counter() - start
    carry, trace = compiled(*args)
    jax.block_until_ready(trace)
    return carry, trace, compile_time


def _run_launched(launched: _Launched) -> tuple[KernelState, Trace, float]:
    """The launched sampler's final carry, trace and compile seconds."""
    if launched.outcome is not None:
        return launched.outcome.result()
    return launched.run()


def _execute(*args: Any, **kwargs: Any) -> tuple[KernelState, Trace, float]:
    """:func:`_launch` and :func:`_run_launched` in one go."""
    return _run_launched(_launch(*args, **kwargs))
