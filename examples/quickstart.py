"""Fit the bundled IR spectrum and save the figure shown in the README.

Run from the repository root: ``python examples/quickstart.py [FIGURE]`` (NUTS, about a
minute; FIGURE defaults to ``docs/figures/quickstart.png``).
"""

import sys

import datasets
import deconv

figure = sys.argv[1] if len(sys.argv) > 1 else "docs/figures/quickstart.png"
spectrum = datasets.load("ir_carbonyl_demo")  # or deconv.read_spectrum("my_spectrum.csv")
fit = deconv.fit(spectrum, n_peaks=3, shape="pseudo_voigt", baseline="linear", key=0)
print(fit.report())  # model, priors, diagnostics, peak table (mean, sd, 94 % HDI)
peaks = fit.peak_table  # centre, FWHM, height, area of every peak: mean, sd, HDI
posterior = fit.idata  # the posterior as arviz InferenceData, in your units
axes = fit.plot()  # data, posterior mean with credible band, components, residuals
axes[0].figure.savefig(figure, dpi=110)
