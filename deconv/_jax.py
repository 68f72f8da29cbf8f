"""JAX set-up shared by every module that computes: float64 unless the user opted out.

Free energies of ~1e3 nats are differences of large sums, so float64 is the default. Set the
environment variable ``SPECBAYES_FLOAT32=1`` before importing to keep JAX's float32 default.
:func:`enable_compilation_cache` keeps compiled programs on disk between processes;
:func:`clear_compiled_programs` lets go of those this process holds.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from pathlib import Path

import jax

if os.environ.get("SPECBAYES_FLOAT32", "") not in ("1", "true", "yes"):
    jax.config.update("jax_enable_x64", True)

CACHE_MAX_BYTES = 2**30

# The clear() of every module-level store of compiled programs; each module registers its own
# with keeps_programs() when it is imported, so this module imports none of them.
_STORES: list[Callable[[], None]] = []


def keeps_programs(clear: Callable[[], None]) -> Callable[[], None]:
    """Register ``clear``, which empties a store of compiled programs (returns it unchanged)."""
    _STORES.append(clear)
    return clear


def clear_compiled_programs() -> None:
    """Let go of every compiled program this process keeps; the next fit compiles again.

    Each model structure and spectrum length compiles its own optimisers and samplers, and
    they are kept for the life of the process, so that the next fit of the same model starts at
    once. A long session that fits many different models or lengths (a notebook, a batch
    over hundreds of files of different lengths) accumulates them: each holds memory and a few
    memory maps, and at the kernel's map limit (``vm.max_map_count``, often 65 530) XLA's
    compiler crashes the process. Call this between unrelated pieces of work to release them;
    results do not change (the same programs compile again when needed).
    """
    for clear in _STORES:
        clear()
    jax.clear_caches()


# Past this share of the kernel's map limit, the programs are let go before the next model.
MAP_SHARE = 0.5
_LOG = logging.getLogger("deconv")


def make_room_for_programs() -> bool:
    """Let go of the compiled programs if this process holds more than :data:`MAP_SHARE` of
    the kernel's memory-map limit (Linux; elsewhere nothing is done).

    Called where a new model starts (a fit, a candidate's free energy, a batch chunk), so that
    a long selection or batch never reaches the limit at which XLA's compiler crashes. Results
    do not change; programs needed again are compiled again. Returns whether it let go.
    """
    limit, used = _map_limit(), _maps_in_use()
    if limit is None or used is None or used < MAP_SHARE * limit:
        return False
    clear_compiled_programs()
    gc.collect()
    _LOG.info("released compiled programs: %d of %d memory maps were in use", used, limit)
    return True


def _map_limit() -> int | None:
    try:
        with open("/proc/sys/vm/max_map_count", "rb") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return None


def _maps_in_use() -> int | None:
    try:
        with open("/proc/self/maps", "rb") as handle:
            return handle.read().count(b"\n")
    except OSError:
        return None


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> Path:
    """Keep compiled samplers and optimisers on disk, for later processes to reuse.

    Every model structure (peak count, shape, baseline, noise) compiles its optimiser, its
    sampler and its Laplace set-up once per process, about 10-15 s per structure on a laptop
    core; with this cache a later process loads them instead (JAX's persistent compilation
    cache, keyed by the program, the JAX version and the machine). The ``specbayes`` command
    turns it on by itself unless ``SPECBAYES_COMPILATION_CACHE=0``; a script or notebook calls
    this once, before its first fit.

    Parameters
    ----------
    directory : str or path-like, optional
        Where to keep the programs. Default: ``$SPECBAYES_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/specbayes/jax``, else ``~/.cache/specbayes/jax``. A directory the
        user already gave JAX (``jax_compilation_cache_dir``) is kept.

    Returns
    -------
    pathlib.Path
        The directory in use.
    """
    current = jax.config.jax_compilation_cache_dir
    if current and directory is None:
        return Path(current)
    if directory is None:
        directory = os.environ.get("SPECBAYES_CACHE_DIR") or _user_cache() / "specbayes" / "jax"
    path = Path(directory).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Every program, the small ones too: ~140 of 0.03 s per structure add up (Nagata K = 1-5:
    # a later process ran select in 77 s keeping all, 94 s keeping those over 0.5 s, 125 s
    # without); ~1.2 MB per structure, the least recently used dropped beyond 1 GB.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    return path


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
