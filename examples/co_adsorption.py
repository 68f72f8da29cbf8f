"""Property-informed model choice on a real IR series: CO adsorbed on sulfided Mo/Al2O3.

Nineteen difference spectra of CO adsorbed at increasing pressure (SpectroChemPy example data;
see ``shared/data/spectrochempy-co-adsorption-ir/README.md``). In 2040-2240 cm^-1 they show
overlapping bands of CO on different sites (~2116, ~2159, ~2188 cm^-1) whose weights change with
coverage. Candidates: K = 2, 3 or 4 pseudo-Voigt bands on a linear baseline. The property is
log10 of the CO pressure (areas grow with pressure like an adsorption isotherm, over three
decades). Spectrum 5 is titled 0.26 torr but was measured between 0.021 and 0.036 torr and its
band area lies between theirs: it is read as 0.026 torr (``--source-pressures`` keeps 0.26).

For every candidate the free energies F_i of all spectra (replica exchange, each spectrum
warm-started from the previous one) and the Gaussian-process likelihood of the pressures given
the band areas give F_total = sum F_i - log L_prop. The script prints the three columns, writes
the table and a figure, and returns the :class:`gp_property.SeriesSelection`.

Run from the repository root::

    python examples/co_adsorption.py [--quick] [--out co_adsorption]

(about 20 minutes on two cores; ``--quick``: 4 spectra at coarse resolution, about two minutes.)
The shared data are found in ``$SPECBAYES_SHARED_DATA`` or in ``../shared/data`` beside the
repository.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np

DATA = "spectrochempy-co-adsorption-ir"
WINDOW = (2040.0, 2240.0)  # cm^-1
TYPO = (5, 0.26, 0.026)  # spectrum index, source pressure, corrected pressure (torr)


def data_folder() -> Path:
    """The shared data folder: ``$SPECBAYES_SHARED_DATA`` or ``../shared/data``."""
    root = os.environ.get("SPECBAYES_SHARED_DATA")
    folder = Path(root) if root else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = folder / DATA / "co_ir_spectra.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: set SPECBAYES_SHARED_DATA to the data folder")
    return path


def load_series(*, step: int, samples: list[int] | None, source_pressures: bool):
    """The cropped, decimated series and log10 pressures (corrected unless asked not to)."""
    from deconv import SpectrumSeries
    from deconv.io import read_series

    full = read_series(data_folder())
    pressures = full.properties["co_pressure_torr"].to_numpy(dtype=float).copy()
    index, source, corrected = TYPO
    if not source_pressures and pressures[index] == source:
        pressures[index] = corrected
    keep = (full.x >= WINDOW[0]) & (full.x <= WINDOW[1])
    rows = list(range(len(full))) if samples is None else samples
    ids = [f"co-{i:02d}" for i in rows]
    series = SpectrumSeries(  # on the file's descending wavenumber axis, as IR is drawn
        full.x[keep][::step][::-1],
        np.stack([full[i].y[keep][::step][::-1] for i in rows]),
        sample_ids=ids,
        x_unit="wavenumber / cm^-1",
        y_unit="absorbance",
    )
    return series, np.log10(pressures[rows])


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 spectra, coarse, short runs")
    parser.add_argument("--out", type=Path, default=Path("co_adsorption"))
    parser.add_argument("--source-pressures", action="store_true", help="keep 0.26 torr")
    args = parser.parse_args(argv)

    import matplotlib.pyplot as plt

    from gp_property import select_series

    if args.quick:
        samples, step, candidates = [0, 6, 12, 18], 4, [2, 3]
        sampler = {"n_warmup": 500, "n_samples": 300, "n_independent": 2}
    else:
        samples, step, candidates = None, 2, [2, 3, 4]
        sampler = {"n_samples": 1000, "n_independent": 2}
    series, log_pressure = load_series(
        step=step, samples=samples, source_pressures=args.source_pressures
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short runs trip the evidence warnings; se is reported
        selection = select_series(
            series,
            log_pressure,
            [{"n_peaks": k, "shape": "pseudo_voigt", "baseline": "linear"} for k in candidates],
            features=("area",),
            key=0,
            sampler=sampler,
            n_starts=12,
            progress=not args.quick,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    table = selection.table
    table.to_csv(args.out / "co_selection.csv", index=False)
    axes = selection.plot()
    axes.flat[0].figure.savefig(args.out / "co_selection.png", dpi=110)
    plt.close("all")
    columns = ["model", "sum_F", "sum_F_se", "neg_log_L_prop", "F_total", "probability"]
    print(table[columns].to_string(index=False, float_format=lambda f: f"{f:.2f}"))
    for label, evidences in selection.evidences.items():
        centres = np.mean([e.fit.peak_table["centre"].to_numpy() for e in evidences], axis=0)
        print(f"{label}: mean band centres " + ", ".join(f"{c:.0f}" for c in centres) + " cm^-1")
    print(f"spectrum-only choice: {selection.spectrum_only_choice}")
    print(f"combined choice:      {selection.chosen}")
    return selection


if __name__ == "__main__":
    main()
    sys.exit(0)
