"""Typed warnings and errors of specbayes."""

from __future__ import annotations


class SpecbayesWarning(UserWarning):
    """Base class of every warning specbayes emits."""


class ConvergenceWarning(SpecbayesWarning):
    """A sampler or optimiser finished with poor diagnostics (r-hat, ESS, divergences...)."""


class EvidenceWarning(SpecbayesWarning):
    """A free-energy estimate has poor diagnostics (swap rates, round trips, ESS)."""


class MisfitWarning(SpecbayesWarning):
    """A fitted model does not describe the data at the noise level: its residuals are
    structured or larger than the stated noise (see :func:`deconv.misfit.misfit_check`)."""


class ReadError(ValueError):
    """A file could not be read; the message names the file and the line or field."""
