r"""Sparse coding in torch: pursuit algorithms batched over signals, dictionaries, and LISTA.

Conventions: a dictionary ``D`` is (n, m) with unit-norm atoms as columns (where a routine
needs them normalized it says so and checks); signals ``Y`` are (B, n), one per row; codes are
(B, m) with ``Y ~ X @ D.T``. Everything follows the inputs' dtype (float32/float64) and device
and is differentiable where that makes sense (thresholds, unrolled ISTA/FISTA, LISTA, and OMP's
least-squares coefficients for a fixed support).

Modules: ``pursuit`` (thresholds, ISTA/FISTA for the Lasso, OMP), ``layered`` (the multi-layer
sparse model: layered thresholding and layered basis pursuit), ``lista`` (learned ISTA), ``residual`` (a residual network of dilated Conv1d blocks that is ISTA),
``dictionary`` (normalization, mutual coherence, Babel function), ``learning`` (dictionary learning
on signals: FISTA codes and block-coordinate atoms, full batch or online), ``convolutional`` (convolutional
sparse coding: filters (m, C, \*k), signals (B, C, \*N), codes (B, m, \*N); the convolutional Lasso
by FFT-domain ADMM and FISTA, convolutional dictionary learning, the stripe norm, coherence). Independent references:
:mod:`dltheory.oracles.lasso` (scikit-learn, cvxpy, duality gap) and
:func:`dltheory.oracles.interpolation.min_l1_interpolant` (basis pursuit as an LP), :func:`dltheory.oracles.convolution.circulant_dictionary` (a convolutional
dictionary as an explicit matrix).
"""

from dltheory.sparse.convolutional import (
    ConvDictionary,
    conv_adjoint,
    conv_admm,
    conv_filter_gram,
    conv_filter_update,
    conv_fista,
    conv_lasso_objective,
    conv_lipschitz,
    conv_mutual_coherence,
    conv_reconstruct,
    learn_conv_dictionary,
    stripe_norm,
)
from dltheory.sparse.dictionary import babel, check_dictionary, mutual_coherence, normalize_atoms
from dltheory.sparse.layered import layered_basis_pursuit, layered_thresholding
from dltheory.sparse.learning import (
    LearnedDictionary,
    dictionary_objective,
    dictionary_update,
    learn_dictionary,
)
from dltheory.sparse.lista import LISTA
from dltheory.sparse.pursuit import (
    LassoSolution,
    OMPSolution,
    fista,
    hard_threshold,
    ista,
    lasso_objective,
    lipschitz_constant,
    omp,
    soft_threshold,
)
from dltheory.sparse.residual import ResidualPursuit, stuffed_filters

__all__ = [
    "ConvDictionary", "LISTA", "LassoSolution", "LearnedDictionary", "OMPSolution", "babel", "check_dictionary", "conv_adjoint", "conv_admm",
    "conv_filter_gram", "conv_filter_update", "conv_fista", "conv_lasso_objective", "conv_lipschitz", "conv_mutual_coherence", "conv_reconstruct",
    "dictionary_objective", "dictionary_update", "fista", "learn_dictionary", "learn_conv_dictionary", "hard_threshold", "ista",
    "lasso_objective", "layered_basis_pursuit", "layered_thresholding", "lipschitz_constant", "mutual_coherence",
    "normalize_atoms", "omp", "ResidualPursuit", "soft_threshold", "stripe_norm", "stuffed_filters",
]
