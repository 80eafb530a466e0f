"""Probes: measurements that work on any model with a loss and data.

The curvature probes are re-exported here (``from dltheory.probes import
hessian_eigenvalues``); the other probes live in their modules (``dltheory.probes.spectra``,
``dltheory.probes.margins``, ...).
"""

from dltheory.probes.connectivity import (
    Barrier,
    Curve,
    CurveProfile,
    barrier,
    curve_profile,
    fit_curve,
)
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
from dltheory.probes.landscape import (
    Landscape,
    PCADirections,
    loss_line,
    loss_plane,
    pca_directions,
    random_direction,
    top1_accuracy,
    top1_error,
)
from dltheory.probes.permutation import (
    PermutationSpec,
    activation_matching,
    apply_permutation,
    permutation_spec,
    repair,
    weight_matching,
)
from dltheory.probes.randomized import slq_density, stochastic_trace
from dltheory.probes.similarity import (
    cka,
    layer_activations,
    minibatch_cka,
    procrustes_distance,
    pwcca,
    svcca,
)

__all__ = [
    "Density", "Spectrum", "SymmetricOperator", "TraceEstimate", "dense_hessian", "extreme_eigenvalues",
    "ggn_operator", "hessian_eigenvalues", "hessian_eigenvalues_by_block", "hessian_operator",
    "hessian_spectral_density", "hessian_trace", "hvp", "lanczos_tridiagonal", "loss_closure", "make_hvp",
    "sharpness_callback", "slq_density", "stochastic_trace",
    # loss landscapes and mode connectivity
    "Barrier", "Curve", "CurveProfile", "Landscape", "PCADirections", "barrier", "curve_profile", "fit_curve",
    "loss_line", "loss_plane", "pca_directions", "random_direction", "top1_accuracy", "top1_error",
    # permutation symmetry: re-basin and REPAIR
    "PermutationSpec", "activation_matching", "apply_permutation", "permutation_spec", "repair", "weight_matching",
    # representation similarity
    "cka", "layer_activations", "minibatch_cka", "procrustes_distance", "pwcca", "svcca",
]
