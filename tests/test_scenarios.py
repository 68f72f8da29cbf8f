"""Property-informed selection on scenario (b): the property flips a misled spectral choice.

Slow: every seed runs 20 free energies (10 samples x K = 2, 3) at the study's sampler
settings, several minutes per seed on one core. See ``benchmarks/bench_scenarios.py`` and the
section "Property-informed selection: scenarios (a) and (b)" of ``docs/benchmarks.md``.

The acceptance target of issue 4 on three seeds; expected to fail until scenario (b) is
recalibrated (marked xfail, not strict): the property term prefers the truth by 12-15 nat, but
single samples can move sum F by more. No fast
test of scenario (a) flipping the choice exists: the measurements in the docs show the
property term does not favour K = 2 where the weak band is near detectability.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scenarios.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_scenarios", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.xfail(
    reason="scenario (b) at its documented settings does not fool the spectra, and no setting "
    "measured meets the acceptance with 10 samples: the spurious peak's F scatters by ~8 nat "
    "per sample against a property term of ~1.4-2.5 nat per sample (docs/benchmarks.md)",
    strict=False,
)
def test_scenario_b_property_term_corrects_spectrum_only_choice():
    bench = _bench()
    rows = [bench.run_seed("b", seed, bench.STUDY) for seed in range(3)]
    counts = bench.summary(rows)
    assert counts["spectrum_only_wrong"] >= 2
    assert counts["combined_right"] == 3
    for row in rows:
        # the property term prefers the true structure, beyond its Monte Carlo error
        assert row["d_prop"] < -3 * row["d_prop_se"]
