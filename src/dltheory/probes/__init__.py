"""Probes: measurements that work on any model with a loss and data.

The curvature probes are re-exported here (``from dltheory.probes import
hessian_eigenvalues``); the other probes live in their modules (``dltheory.probes.spectra``,
``dltheory.probes.margins``, ...).
"""

from dltheory.probes.curvature import (
    Density,
    Spectrum,
    TraceEstimate,
    dense_hessian,
    hessian_eigenvalues,
    hessian_eigenvalues_by_block,
    hessian_operator,
    hessian_spectral_density,
    hessian_trace,
    hvp,
    loss_closure,
    make_hvp,
    sharpness_callback,
)
from dltheory.probes.gauss_newton import ggn_operator
from dltheory.probes.lanczos import SymmetricOperator, extreme_eigenvalues, lanczos_tridiagonal
from dltheory.probes.randomized import slq_density, stochastic_trace

__all__ = [
    "Density", "Spectrum", "SymmetricOperator", "TraceEstimate", "dense_hessian", "extreme_eigenvalues",
    "ggn_operator", "hessian_eigenvalues", "hessian_eigenvalues_by_block", "hessian_operator",
    "hessian_spectral_density", "hessian_trace", "hvp", "lanczos_tridiagonal", "loss_closure", "make_hvp",
    "sharpness_callback", "slq_density", "stochastic_trace",
]
