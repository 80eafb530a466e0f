r"""Dictionary learning on signals (patches): alternating Lasso codes and block-coordinate atoms.

Problem (Olshausen & Field, Nature 381, 1996, with the :math:`\ell_1` prior; Mairal, Bach, Ponce &
Sapiro, "Online dictionary learning for sparse coding", ICML 2009, and JMLR 11, 2010): for signals
:math:`y_1, \dots, y_B \in \mathbb R^n` (rows of ``Y``),

.. math:: \min_{D \in \mathcal C,\ X}\ F(D, X) = \frac1B \sum_{i=1}^B \Big(\tfrac12\|y_i - D x_i\|_2^2 + \lambda\|x_i\|_1\Big),
          \qquad \mathcal C = \{D \in \mathbb R^{n \times m}: \|d_j\|_2 \le 1\},

the Lasso objective **averaged over the signals**: scikit-learn's normalization
(``MiniBatchDictionaryLearning``'s batch cost, and ``DictionaryLearning``'s cost divided by the
number of samples, both with ``alpha = lam``).

For fixed codes the dictionary step uses the sufficient statistics :math:`A = X^\top X` (m, m) and
:math:`B = Y^\top X` (n, m): :math:`\tfrac12\|Y - XD^\top\|_F^2 = \tfrac12\operatorname{tr}(D^\top D A)
- \operatorname{tr}(D^\top B) + \text{const}`, minimized one atom at a time (Mairal et al. 2009,
Algorithm 2; block-coordinate descent, each block solved exactly):

.. math:: u_j = d_j + \frac{b_j - D a_j}{A_{jj}},\qquad d_j \leftarrow \frac{u_j}{\max(\|u_j\|_2, 1)} .

An atom never used (:math:`A_{jj} = 0`, its codes all zero) is replaced by a random signal scaled
to unit norm, which leaves F unchanged. After the sweep every atom is rescaled to unit norm and its
codes by the old norm (:math:`\le 1`): the fit is unchanged and :math:`\|x\|_1` cannot grow, so the
returned atoms are unit-norm.

- full batch (``batch_size=None``): each iteration runs ``code_steps`` of
  :func:`~dltheory.sparse.fista` from the previous codes (kept only if they lower F: FISTA is not
  monotone), then ``sweeps`` block-coordinate sweeps with the statistics of all signals; F never
  increases (every step is an exact or accepted descent step).
- minibatch (``batch_size=b``): Mairal et al.'s online algorithm. Each iteration codes ``b``
  signals (drawn without replacement, epoch by epoch, warm-started from their previous codes), adds
  their statistics to :math:`A, B` with scikit-learn's forgetting factor
  (:math:`\beta = (\theta + 1 - b)/(\theta + 1)`, :math:`\theta = (t+1)b` for :math:`t < b - 1`, else
  :math:`b^2 + t + 1 - b`), and runs the sweeps on :math:`A, B`.

Cost per iteration: :math:`4 b\,n m` flops per FISTA step (b = B in full batch), :math:`b m^2 + b n m`
for the statistics and :math:`O(n m^2)` per sweep (m small products: a Python loop over the atoms).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from dltheory.core.errors import DivergenceError, check_float, check_int
from dltheory.sparse._checks import check_codes, check_matrix, check_tensor
from dltheory.sparse.pursuit import _objective, fista


@dataclass(frozen=True)
class LearnedDictionary:
    r"""Result of :func:`learn_dictionary`.

    Attributes:
        dictionary: the learned atoms as unit-norm columns, (n, m).
        codes: codes of the training signals for that dictionary, (B, m): in full batch the last
            iteration's; in minibatch ``code_steps`` FISTA steps on all signals from their last codes.
        objective: F after each iteration, (iterations,): in full batch on all signals (non-increasing);
            in minibatch on that iteration's batch, with its fresh codes and the dictionary before the update.
    """

    dictionary: Tensor
    codes: Tensor
    objective: Tensor


def dictionary_objective(D: Tensor, Y: Tensor, X: Tensor, lam: float) -> Tensor:
    r""":math:`F(D, X) = \frac1B\sum_i \tfrac12\|y_i - Dx_i\|^2 + \lambda\|x_i\|_1` (the mean Lasso objective), a 0-d tensor."""
    D = check_matrix(D)
    Y = check_tensor("Y", Y, ndim=(2,), like=D)
    X = check_codes(D, X, Y.shape[0], "X")
    return _objective(D, Y, X, check_float("lam", lam, minimum=0.0)).mean()


def _sweeps(D: Tensor, A: Tensor, B: Tensor, sweeps: int, Y: Tensor, generator: torch.Generator | None) -> Tensor:
    """Block-coordinate sweeps over the atoms (Mairal et al. 2009, Algorithm 2) on a copy of D; unused atoms resampled from Y."""
    D = D.clone()
    diag = A.diagonal().tolist()  # one host transfer per update
    dev = generator.device if generator is not None else torch.device("cpu")
    for _ in range(sweeps):
        for j, ajj in enumerate(diag):
            if ajj > 0:
                u = D[:, j] + (B[:, j] - D @ A[:, j]) / ajj
            else:  # never used: any atom gives the same F; take a random signal (Gaussian if it is zero)
                i = int(torch.randint(Y.shape[0], (1,), generator=generator, device=dev))
                u = Y[i].clone()
                if float(u.norm()) == 0:
                    u = torch.randn(u.shape, generator=generator, dtype=u.dtype, device=dev).to(u.device)
                u = u / u.norm()
            D[:, j] = u / u.norm().clamp(min=1.0)
    return D


def dictionary_update(X: Tensor, Y: Tensor, D: Tensor, *, sweeps: int = 1) -> Tensor:
    r"""The dictionary step for fixed codes: ``sweeps`` block-coordinate sweeps on :math:`\min_{\|d_j\| \le 1}\tfrac12\|Y - XD^\top\|_F^2`.

    Codes ``X`` (B, m), signals ``Y`` (B, n), starting dictionary ``D`` (n, m); statistics
    :math:`A = X^\top X`, :math:`B = Y^\top X`; atom j is set to the exact minimizer over
    :math:`\|d_j\| \le 1` with the others fixed (see the module docstring). With many sweeps and the
    constraint inactive this is the least-squares solution :math:`D = B A^{-1}` (for A invertible).
    Atoms are not rescaled here (norms <= 1); unused atoms (:math:`A_{jj} = 0`) become random signals.
    Cost per sweep :math:`O(nm^2)`, plus :math:`O(B m (m + n))` for the statistics. Returns a new (n, m) tensor.
    """
    D = check_matrix(D)
    Y = check_tensor("Y", Y, ndim=(2,), like=D)
    if Y.shape[1] != D.shape[0]:
        raise ValueError(f"`Y` must have shape (B, {D.shape[0]}) for a dictionary of shape {tuple(D.shape)}; got {tuple(Y.shape)}.")
    X = check_codes(D, X, Y.shape[0], "X")
    sweeps = check_int("sweeps", sweeps, minimum=1)
    with torch.no_grad():
        return _sweeps(D, X.T @ X, Y.T @ X, sweeps, Y, None)


def _initial_dictionary(Y: Tensor, m: int, g: torch.Generator) -> Tensor:
    """m distinct random signals as unit columns (Gaussian columns where a signal is zero or B < m)."""
    B, n = Y.shape
    pick = torch.randperm(B, generator=g, device=g.device)[:m].to(Y.device)
    D = torch.randn(n, m, generator=g, dtype=Y.dtype, device=g.device).to(Y.device)
    D[:, : len(pick)] = Y[pick].T
    zero = D.norm(dim=0) == 0
    if bool(zero.any()):
        D[:, zero] = torch.randn(n, int(zero.sum()), generator=g, dtype=Y.dtype, device=g.device).to(Y.device)
    return D / D.norm(dim=0)


def _rescale(D: Tensor) -> tuple[Tensor, Tensor]:
    """Unit-norm atoms and the old norms (m,): D = D_unit * norms, so codes x_j -> x_j * norms_j keep the fit."""
    norms = D.norm(dim=0)
    return D / norms, norms


def learn_dictionary(Y: Tensor, num_atoms: int, lam: float, *, iterations: int, batch_size: int | None = None, code_steps: int = 20,
                     sweeps: int = 1, D0: Tensor | None = None, seed: int = 0, generator: torch.Generator | None = None,
                     nonnegative: bool = False, progress: Callable[[int, float], None] | None = None) -> LearnedDictionary:
    r"""Learn a dictionary of ``num_atoms`` unit atoms for the signals ``Y`` (B, n) with an :math:`\ell_1` penalty ``lam``.

    Minimizes the mean Lasso objective :math:`F(D, X)` of the module docstring (scikit-learn's
    normalization, ``alpha = lam``) by alternating FISTA codes and block-coordinate atom updates with
    the sufficient statistics :math:`A = \sum x x^\top`, :math:`B = \sum y x^\top` (Mairal, Bach,
    Ponce, Sapiro, ICML 2009); full batch (``batch_size=None``: F is non-increasing) or minibatch
    (their online algorithm, scikit-learn's forgetting factor).

    Args:
        Y: signals, one per row (B, n), float32/float64 on any device (everything follows it).
        num_atoms: m >= 1.
        lam: :math:`\lambda \ge 0`.
        iterations: outer iterations (full batch: alternations over all signals; minibatch: batches).
        batch_size: None for full batch, else the minibatch size (1 <= b <= B).
        code_steps: FISTA steps per coding (warm-started from the previous codes).
        sweeps: block-coordinate sweeps over the atoms per dictionary update.
        D0: initial dictionary (n, m) (rescaled to unit atoms); default m random signals (seeded).
        seed: seeds the initial atoms, the batches and the resampling, unless ``generator`` is given.
        generator: a torch.Generator (its device is used for the draws).
        nonnegative: codes constrained to :math:`x \ge 0` (the atoms are not).
        progress: optional callable ``(iteration, objective)``.

    Returns:
        :class:`LearnedDictionary`.

    Raises:
        ValueError / TypeError: bad shapes, dtypes or option values, naming them.
        DivergenceError: a non-finite objective.
    """
    Y = check_tensor("Y", Y, ndim=(2,))
    Bn, n = Y.shape
    if Bn < 1 or n < 1:
        raise ValueError(f"`Y` must have at least one signal and one feature; got shape {tuple(Y.shape)}.")
    m = check_int("num_atoms", num_atoms, minimum=1)
    lam = check_float("lam", lam, minimum=0.0)
    iterations = check_int("iterations", iterations, minimum=1)
    code_steps = check_int("code_steps", code_steps, minimum=1)
    sweeps = check_int("sweeps", sweeps, minimum=1)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, minimum=1, maximum=Bn)
    if generator is None:
        generator = torch.Generator(device=Y.device).manual_seed(check_int("seed", seed, minimum=0))
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator or None; got {type(generator).__name__}.")
    if D0 is None:
        D = _initial_dictionary(Y, m, generator)
    else:
        D = check_matrix(D0, "D0")
        if tuple(D.shape) != (n, m) or D.dtype != Y.dtype or D.device != Y.device:
            raise ValueError(f"`D0` must have shape {(n, m)} (n, num_atoms) and Y's dtype and device ({Y.dtype}, {Y.device}); got {tuple(D.shape)}, {D.dtype}, {D.device}.")
        if bool((D.norm(dim=0) == 0).any()):
            raise ValueError(f"`D0` must have no zero atoms (columns); atom {int((D.norm(dim=0) == 0).nonzero()[0])} is zero.")
        D = D / D.norm(dim=0)
    X = torch.zeros(Bn, m, dtype=Y.dtype, device=Y.device)
    history = []
    with torch.no_grad():
        if batch_size is None:
            for it in range(iterations):
                f_old = _objective(D, Y, X, lam).sum()
                sol = fista(D, Y, lam, code_steps, x0=X, nonnegative=nonnegative)
                if float(sol.objective.sum()) <= float(f_old):
                    X = sol.codes
                D, norms = _rescale(_sweeps(D, X.T @ X, Y.T @ X, sweeps, Y, generator))
                X = X * norms
                history.append(_objective(D, Y, X, lam).mean())
                _report(history[-1], it, progress)
        else:
            A = torch.zeros(m, m, dtype=Y.dtype, device=Y.device)
            Bs = torch.zeros(n, m, dtype=Y.dtype, device=Y.device)
            order, pos = torch.randperm(Bn, generator=generator, device=generator.device).to(Y.device), 0
            for it in range(iterations):
                if pos + batch_size > Bn:
                    order, pos = torch.randperm(Bn, generator=generator, device=generator.device).to(Y.device), 0
                idx = order[pos:pos + batch_size]
                pos += batch_size
                Yb = Y[idx]
                sol = fista(D, Yb, lam, code_steps, x0=X[idx], nonnegative=nonnegative)
                Xb = sol.codes
                history.append(sol.objective.mean())
                theta = (it + 1) * batch_size if it < batch_size - 1 else batch_size**2 + it + 1 - batch_size
                beta = (theta + 1 - batch_size) / (theta + 1)
                A.mul_(beta).addmm_(Xb.T, Xb, alpha=1 / batch_size)
                Bs.mul_(beta).addmm_(Yb.T, Xb, alpha=1 / batch_size)
                D, norms = _rescale(_sweeps(D, A, Bs, sweeps, Yb, generator))
                X[idx] = Xb
                X.mul_(norms)
                A.mul_(norms[:, None] * norms[None, :])
                Bs.mul_(norms)
                _report(history[-1], it, progress)
            X = fista(D, Y, lam, code_steps, x0=X, nonnegative=nonnegative).codes
    return LearnedDictionary(D, X, torch.stack(history))


def _report(f: Tensor, it: int, progress) -> None:
    if not bool(torch.isfinite(f)):
        raise DivergenceError(it + 1, float(f), "dictionary learning produced a non-finite objective (check the scale of Y and lam).")
    if progress is not None:
        progress(it + 1, float(f))
