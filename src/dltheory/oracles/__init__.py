"""Independent reference solutions (convex programs, closed forms) that experiments are checked against.

Submodules:

- ``interpolation``: min-l1 / min-l2 / :math:`Q_\\alpha` interpolants of ``X beta = y`` (diagonal nets).
- ``nuclear``: min-nuclear-norm matrix sensing and completion, min-trace PSD sensing, and the
  min-Frobenius (least-norm) solutions they are contrasted with (cvxpy).
- ``lasso``: the Lasso by scikit-learn's coordinate descent and by cvxpy, its objective and duality
  gap (sparse coding, Lecture 5; basis pursuit is ``interpolation.min_l1_interpolant``).
- ``convolution``: convolutional dictionaries as explicit (banded-circulant) matrices, the reference
  for the FFT solvers of :mod:`dltheory.sparse.convolutional`.
- ``trace_norm``: weighted trace norms and the equalized factorizations that attain them (dropout, Lecture 3).
"""
