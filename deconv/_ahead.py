"""Compiled programs kept by argument signature, compiled ahead of need on another thread.

A model selection compiles a few large programs per model structure (MAP optimisers, the
Laplace set-up, the sampler): most of a new process's first selection. XLA compiles outside
the GIL, so these can compile on a background thread while this one fits or samples the
previous structure. Tracing cannot move: NumPyro runs models through one global handler
stack, so two threads tracing at once corrupt each other. :func:`submit` therefore traces and
lowers in the calling thread and hands only the compilation to the executor.

A program is keyed by the jitted function, its static arguments and the structure, shapes
and dtypes of its dynamic arguments, as ``jax.jit`` keys its own cache. The results are those
of calling the jitted function: the same program runs either way.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from deconv import _jax

_PROGRAMS: dict[tuple, concurrent.futures.Future] = {}
_jax.keeps_programs(_PROGRAMS.clear)


class Background:
    """Two worker threads: ``compiler`` compiles programs (:func:`submit`), ``runner`` runs
    them (a compiled program releases the GIL while it runs). A context manager."""

    def __init__(self) -> None:
        self.compiler = concurrent.futures.ThreadPoolExecutor(1, "specbayes-compile")
        self.runner = concurrent.futures.ThreadPoolExecutor(1, "specbayes-run")

    def __enter__(self) -> Background:
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        # On an error or an interrupt, return at once: a running program cannot be stopped,
        # and waiting for it would hold up the exception for as long as it runs.
        for pool in (self.runner, self.compiler):
            pool.shutdown(wait=kind is None, cancel_futures=kind is not None)


def signature(args: tuple) -> tuple:
    """Structure, shapes and dtypes of the dynamic arguments (what a compilation depends on)."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    return treedef, tuple((np.shape(a), str(jnp.result_type(a))) for a in leaves)


def _done(value: Any) -> concurrent.futures.Future:
    future: concurrent.futures.Future = concurrent.futures.Future()
    future.set_result(value)
    return future


def submit(
    jitted: Any,
    static: tuple,
    dynamic: tuple,
    compiler: concurrent.futures.Executor | None = None,
    *,
    keep: bool = True,
) -> tuple[concurrent.futures.Future, bool]:
    """The compiled program of ``jitted(*static, *dynamic)``; traced here, compiled on
    ``compiler`` if given, else here.

    Returns the program (a future) and whether this call created it. With ``keep`` it is kept
    for later calls with the same static arguments and signature; without, it is compiled
    afresh (functions that close over their data).
    """
    key = (jitted, static, signature(dynamic)) if keep else None
    program = _PROGRAMS.get(key) if keep else None
    if program is not None:
        return program, False
    lowered = jitted.lower(*static, *dynamic)
    program = compiler.submit(lowered.compile) if compiler else _done(lowered.compile())
    if keep:
        _PROGRAMS[key] = program
        program.add_done_callback(lambda done: _forget_failed(key, done))
    return program, True


def _forget_failed(key: tuple, done: concurrent.futures.Future) -> None:
    if done.exception() is not None and _PROGRAMS.get(key) is done:
        del _PROGRAMS[key]


def call(jitted: Any, static: tuple, *dynamic: Any) -> Any:
    """``jitted(*static, *dynamic)`` through the kept programs (compiling here if no one
    submitted it)."""
    program, _ = submit(jitted, static, dynamic)
    return program.result()(*dynamic)


def caller(jitted: Any, static: tuple) -> Callable[..., Any]:
    """``lambda *dynamic: call(jitted, static, *dynamic)``."""
    return lambda *dynamic: call(jitted, static, *dynamic)


def program_count(jitted: Any) -> int:
    """How many programs of ``jitted`` are kept (ready or compiling)."""
    return sum(1 for key in list(_PROGRAMS) if key[0] is jitted)
