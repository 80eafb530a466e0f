r"""Curvature probes: Hessian-vector products, extreme eigenvalues, trace, spectral density.

Every probe is a function of a loss closure and a parameter dict (see
:func:`dltheory.core.functionalize`):

- ``loss_fn(params) -> scalar`` when ``data`` is None, or
- ``loss_fn(params, batch) -> scalar`` (the mean loss on ``batch``, the same closure the
  training loop takes) with ``data`` a tuple of tensors (one batch) or an iterable of
  batches; the Hessian is then that of the size-weighted mean over batches,
  :math:`L = \sum_b n_b L_b / \sum_b n_b`, accumulated batch by batch.

The solvers act on any :class:`~dltheory.probes.lanczos.SymmetricOperator`: eigenpairs in
:mod:`dltheory.probes.lanczos`, trace and density in :mod:`dltheory.probes.randomized`; the
products in :mod:`dltheory.probes.hvp` (:func:`hvp`, :func:`make_hvp`,
:func:`hessian_operator`, re-exported here) and :mod:`dltheory.probes.gauss_newton`
(:func:`~dltheory.probes.gauss_newton.ggn_operator`). For the Gauss-Newton matrix::

    op = ggn_operator(fm, params, X, y, loss="cross_entropy")
    extreme_eigenvalues(op, k=5); stochastic_trace(op, matvecs=99); slq_density(op)

**BatchNorm and dropout.** Probes evaluate the closure exactly as given; the module's mode
is the user's choice. :func:`loss_closure` builds a closure from ``(model, loss, data)`` in
``eval`` mode (running statistics: the loss is a fixed function of the parameters) or
``train`` mode (batch statistics, running statistics never updated); dropout makes the loss
random, so its curvature is undefined and ``train`` mode with active dropout is refused.

Vectors, dtypes and devices follow the parameters (float32 or float64, any device).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dltheory.core.errors import check_choice, check_float, check_int
from dltheory.core.params import (
    FunctionalModel,
    Params,
    flatten,
    functionalize,
    num_params,
    unflatten,
)
from dltheory.probes.hvp import (
    LossFn,
    _check_names,
    _check_params,
    _check_vector_dict,
    _closure_gradient,
    _hessian_operator,
    _is_single_batch,
    hessian_operator,
    hvp,
    make_hvp,
)
from dltheory.probes.lanczos import Spectrum, extreme_eigenvalues
from dltheory.probes.randomized import Density, TraceEstimate, slq_density, stochastic_trace

__all__ = [
    "Density", "Spectrum", "TraceEstimate", "dense_hessian", "hessian_eigenvalues",
    "hessian_eigenvalues_by_block", "hessian_operator", "hessian_spectral_density", "hessian_trace",
    "hvp", "loss_closure", "make_hvp", "sharpness_callback",
]


def dense_hessian(loss_fn: LossFn, params: Mapping[str, Tensor]) -> Tensor:
    r"""The full Hessian :math:`\nabla^2 L` as a (P, P) matrix over the flattened parameters.

    :math:`H_{ij} = \partial^2 L / \partial\theta_i \partial\theta_j`, symmetrized. Uses
    ``torch.autograd.functional.hessian``; cost: P Hessian-vector products and :math:`P^2`
    memory, so for small models and as the reference the iterative probes are tested against.
    The closure is checked first as in :func:`hessian_operator` (names, a loss that reaches
    the parameters, a deterministic loss; one gradient and one forward more).
    """
    like = {k: v.detach() for k, v in params.items()}
    _check_names(loss_fn, like)
    _closure_gradient(loss_fn, like, create_graph=False, check_deterministic=True)
    x0 = flatten(like)

    def f(vec: Tensor) -> Tensor:
        return loss_fn(unflatten(vec, like))

    H = torch.autograd.functional.hessian(f, x0)
    return 0.5 * (H + H.T)


# --------------------------------------------------------------------------- solvers


def hessian_eigenvalues(
    loss_fn: LossFn,
    params: Mapping[str, Tensor],
    *,
    k: int = 1,
    which: str = "largest",
    tol: float = 1e-3,
    max_iter: int | None = None,
    v0: Mapping[str, Tensor] | Tensor | None = None,
    generator: torch.Generator | None = None,
    data: Any = None,
    method: str = "auto",
    block_size: int = 1,
    max_basis: int | None = None,
    eigenvectors: bool = True,
) -> Spectrum:
    r"""Extreme eigenpairs of the loss Hessian :math:`\nabla^2 L(\theta)`.

    Thick-restart block Lanczos with full reorthogonalization
    (:func:`dltheory.probes.lanczos.extreme_eigenvalues`): stops when every pair has
    :math:`\|Hv_i-\lambda_i v_i\| \le \mathrm{tol}\,|\lambda_i|`. "largest" is largest
    algebraic (the sharpness), "smallest" smallest algebraic (most negative), "both" gives
    k of each. Eigenvectors are returned as a (k, P) tensor over the flattened parameters
    (``unflatten(spec.eigenvectors[i], params)`` for a dict).

    Args:
        loss_fn, params, data, method: as in :func:`hvp`.
        k, which, tol, max_iter, block_size, max_basis, eigenvectors: see
            :func:`~dltheory.probes.lanczos.extreme_eigenvalues` (``eigenvectors=False``
            with k = 1: the sharpness alone, holding 3 P-vectors instead of a Krylov basis).
        v0: warm start (a dict, a (P,) or (b, P) tensor; e.g. a previous ``eigenvectors``).
            The residual test certifies an eigenvalue near each returned value, not that it
            is among the k extreme ones: a start close to another eigenvector can stop there
            (see :func:`sharpness_callback`). Default: a random start. A random start can
            also miss: when the top two eigenvalues stand apart from the rest, a start nearly
            orthogonal to the top eigenvector lets the second converge first (54 of 23000 draws
            on one such spectrum); ``block_size=2``, or the larger of two solves, makes that rare.
        generator: draws the random start (default: a new generator seeded with 0).

    Returns:
        :class:`~dltheory.probes.lanczos.Spectrum` (eigenvalues, eigenvectors, residuals,
        hvps, iterations).

    Cost: ``spectrum.hvps`` HVPs, typically 15-40 for the top eigenvalue of a network
    Hessian to tol 1e-3 (power iteration needs several times more).

    References: C. Lanczos (1950); K. Wu, H. Simon (2000); compare Z. Yao, A. Gholami,
    K. Keutzer, M. Mahoney, "PyHessian", IEEE BigData 2020.
    """
    op = hessian_operator(loss_fn, params, data=data, method=method)
    if isinstance(v0, Mapping):
        v0 = flatten(_check_vector_dict(v0, _check_params(params)))
    return extreme_eigenvalues(op, k=k, which=which, tol=tol, max_iter=max_iter, max_basis=max_basis, block_size=block_size, v0=v0, generator=generator, eigenvectors=eigenvectors)


def hessian_trace(
    loss_fn: LossFn,
    params: Mapping[str, Tensor],
    *,
    method: str = "adaptive",
    matvecs: int | None = None,
    rtol: float | None = None,
    generator: torch.Generator | None = None,
    data: Any = None,
    hvp_method: str = "auto",
    max_sketch: int = 64,
) -> TraceEstimate:
    r"""Trace of the loss Hessian, :math:`\mathrm{tr}\,\nabla^2 L = \sum_i \lambda_i`.

    ``adaptive`` (default): Hutch++ whose deflation sketch grows only while it lowers the
    predicted error, else Hutchinson reusing the sketch products, so it is never much
    worse than Hutchinson on a flat spectrum and close to Hutch++ on a low effective rank
    one; with ``rtol`` it stops once a 95% interval is within ``rtol`` of the estimate.
    ``hutchpp`` (a third of the budget sketching, error :math:`O(1/m)` on low effective rank)
    and ``hutchinson`` (:math:`\frac1m \sum z^\top H z`, error :math:`O(1/\sqrt m)`) as
    before. See :func:`~dltheory.probes.randomized.stochastic_trace`.

    Args:
        matvecs: HVP budget (default 99; with ``rtol`` the cap, default 2000).
        rtol: target relative error (``adaptive`` only), e.g. 0.01.
        max_sketch: most deflation vectors held (``adaptive`` and ``hutchpp``).

    Cost: ``estimate.hvps`` HVPs; memory independent of the budget: the probes are drawn
    and applied 8 at a time (16 vectors of P scalars), plus at most ``max_sketch`` sketch
    vectors (up to 3x during Hutch++'s QR), plus one gradient graph. References: Hutchinson (1989); Meyer, Musco, Musco,
    Woodruff, "Hutch++", SOSA 2021; Persson, Cortinovis, Kressner, SIMAX 2022; compare
    PyHessian (Yao et al. 2020, Hutchinson).
    """
    op = hessian_operator(loss_fn, params, data=data, method=hvp_method)
    return stochastic_trace(op, method=method, matvecs=matvecs, rtol=rtol, max_sketch=max_sketch, generator=generator)


def hessian_spectral_density(
    loss_fn: LossFn,
    params: Mapping[str, Tensor],
    *,
    num_probes: int = 1,
    lanczos_steps: int = 80,
    sigma: float | None = None,
    grid: Tensor | int = 1000,
    generator: torch.Generator | None = None,
    data: Any = None,
    method: str = "auto",
    reorthogonalize: str = "none",
) -> Density:
    r"""Eigenvalue density of the loss Hessian by stochastic Lanczos quadrature.

    :math:`\phi_\sigma(t) \approx \frac1P \sum_i \mathcal N(t; \lambda_i, \sigma^2)` from
    ``num_probes`` Lanczos runs of ``lanczos_steps`` steps; see
    :func:`~dltheory.probes.randomized.slq_density` (``reorthogonalize``: ``none``, the
    default, or ``full``; see :func:`~dltheory.probes.lanczos.lanczos_tridiagonal`).

    Cost: ``num_probes * lanczos_steps`` HVPs. References: Ghorbani, Krishnan, Xiao, ICML
    2019; compare PyHessian (Yao et al. 2020).
    """
    op = hessian_operator(loss_fn, params, data=data, method=method)
    return slq_density(op, num_probes=num_probes, lanczos_steps=lanczos_steps, sigma=sigma, grid=grid, generator=generator, reorthogonalize=reorthogonalize)


def hessian_eigenvalues_by_block(
    loss_fn: LossFn,
    params: Mapping[str, Tensor],
    *,
    blocks: str | Mapping[str, Sequence[str]] = "module",
    k: int = 1,
    which: str = "largest",
    tol: float = 1e-3,
    max_iter: int | None = None,
    generator: torch.Generator | None = None,
    data: Any = None,
    method: str = "auto",
) -> dict[str, Spectrum]:
    r"""Extreme eigenvalues of the diagonal blocks :math:`\nabla^2_{\theta_B\theta_B} L` of the Hessian.

    Args:
        blocks: ``"module"`` (group parameters by module: ``"0.weight"`` and ``"0.bias"``
            form block ``"0"``), ``"parameter"`` (one block per tensor), or a dict
            ``{block name: [parameter names]}``.
        k: eigenpairs per block (capped at the block's size).
        Others: as in :func:`hessian_eigenvalues`.

    Returns:
        ``{block name: Spectrum}``; eigenvectors are over the block's flattened parameters.

    Cost: the HVPs of one :func:`hessian_eigenvalues` call per block (each HVP
    differentiates only the block, the rest held fixed), after the closure checks of
    :func:`hessian_operator` on the whole ``params`` (a block the loss does not reach then
    gets eigenvalue 0, not an error).
    """
    p = _check_params(params)
    method = check_choice("method", method, ("auto", "reverse", "forward"))
    if isinstance(blocks, str):
        check_choice("blocks", blocks, ("module", "parameter"))
        groups: dict[str, list[str]] = {}
        for name in p:
            key = name.rsplit(".", 1)[0] if blocks == "module" and "." in name else name
            groups.setdefault(key, []).append(name)
    elif isinstance(blocks, Mapping):
        groups = {b: list(names) for b, names in blocks.items()}
        for b, names in groups.items():
            unknown = [n for n in names if n not in p]
            if unknown or not names:
                raise ValueError(f"`blocks['{b}']` must list parameter names among {list(p)}; got {names}.")
    else:
        raise TypeError(f"`blocks` must be 'module', 'parameter' or a dict; got {type(blocks).__name__}.")
    _check_names(loss_fn, p)
    _hessian_operator(loss_fn, p, data, "forward", check_deterministic=True, check_connected=True)  # the checks only: no graph kept
    out = {}
    for b, names in groups.items():
        fixed = {n: v for n, v in p.items() if n not in names}
        sub = {n: p[n] for n in names}

        def block_loss(q: Params, *batch: Any, fixed: Params = fixed) -> Tensor:
            full = {n: q[n] if n in q else fixed[n] for n in p}
            return loss_fn(full, *batch)

        kb = min(k, num_params(sub) // (2 if which == "both" else 1)) if num_params(sub) > 1 else 1
        op = _hessian_operator(block_loss, sub, data, method, check_deterministic=False, check_connected=False)
        out[b] = extreme_eigenvalues(op, k=kb, which=which, tol=tol, max_iter=max_iter, generator=generator)
    return out


# --------------------------------------------------------------------------- conveniences


def sharpness_callback(
    loss_fn: LossFn,
    *,
    every: int = 1,
    tol: float = 1e-3,
    data: Any = None,
    max_iter: int | None = None,
    generator: torch.Generator | None = None,
    method: str = "auto",
    warm_start: bool = False,
    starts: int = 2,
):
    r"""A training-loop :class:`~dltheory.train.Callback` recording the sharpness.

    Every ``every`` steps computes :math:`\lambda_{\max}(\nabla^2 L(\theta_t))` with
    :func:`hessian_eigenvalues` and returns
    ``{"sharpness": lambda, "two_over_eta": 2 / lr, "sharpness_hvps": hvps}``; compare to
    :math:`2/\eta`, the edge of stability of GD (Cohen et al., ICLR 2021).

    Each evaluation starts Lanczos from a fresh random vector (as Cohen et al.'s ``eigsh``
    does). Lanczos certifies that its value is within ``tol`` of *an* eigenvalue, not of
    the largest: started from the previous top eigenvector (``warm_start=True``) it stops
    at once on that vector's eigenvalue when two top eigenvalues have crossed since, and
    reports the second one (seen at the edge of stability, where the top pair is often
    within 1%: 10.11 reported for a top eigenvalue of 10.22). A random start has a
    component along every eigenvector, and a near-degenerate top pair then keeps the
    residual large until the two are resolved. But when the top two eigenvalues stand
    apart from the rest, a start nearly orthogonal to the top eigenvector lets the second
    converge first, in a few products, and pass the test: on a 300-parameter MLP at the edge
    (top eigenvalues 10.85, 9.49, then 1.27) one random start stopped at 9.49 in 54 of 23000
    draws (2.3e-3), and a sharpness trace of hundreds of evaluations then holds a wrong point. So
    each evaluation runs ``starts`` independent Lanczos solves and keeps the largest value: a miss
    needs every start to miss (with two: 1 of 23000 pairs); with ``warm_start`` the first start is the
    previous top eigenvector and the others random, which also catches a crossing.

    Args:
        loss_fn: ``loss_fn(params)`` (data None) or ``loss_fn(params, batch)`` with ``data``
            (pass the full training set to measure the full-batch sharpness).
        every: steps between evaluations.
        tol, max_iter, method: as in :func:`hessian_eigenvalues`.
        generator: draws every random start of the trace (default: one generator seeded with 0).
        warm_start: start from the previous top eigenvector: fewer products per evaluation,
            but alone (``starts=1``) the value may be the second eigenvalue after a crossing (see above).
        starts: Lanczos solves per evaluation (the first from the previous eigenvector with
            ``warm_start``, the others from random vectors); the largest eigenvalue is kept.

    Cost: ``sharpness_hvps`` HVPs per evaluation, summed over the starts (about ``starts``
    times one solve's); memory: three P-vectors per solve without ``warm_start``, a Krylov basis with it.
    """
    from dltheory.train.loop import Callback  # train is a sibling layer; imported lazily

    every = check_int("every", every, minimum=1)
    tol = check_float("tol", tol, minimum=0.0, strict_min=True)
    starts = check_int("starts", starts, minimum=1, maximum=100)
    if generator is None:  # one stream for the whole trace, so that the starts differ (a fresh seed-0 generator each call would repeat one vector)
        generator = torch.Generator().manual_seed(0)
    state: dict[str, Tensor | None] = {"v": None}

    def fn(info) -> dict[str, float]:
        specs = [hessian_eigenvalues(loss_fn, info.params, k=1, tol=tol, max_iter=max_iter, v0=state["v"] if i == 0 else None, generator=generator,
                                     data=data, method=method, eigenvectors=warm_start) for i in range(starts)]
        best = max(specs, key=lambda sp: float(sp.eigenvalues[0]))
        if warm_start:
            state["v"] = best.eigenvectors[0]
        return {"sharpness": float(best.eigenvalues[0]), "two_over_eta": 2.0 / float(info.optimizer.lr),
                "sharpness_hvps": float(sum(sp.hvps for sp in specs))}

    return Callback(fn, every=every)


def loss_closure(model: nn.Module, loss: Callable[..., Tensor], data: Any = None, *, mode: str = "eval") -> LossFn:
    r"""``loss_fn(params)`` (or ``loss_fn(params, batch)``) for ``model`` and a loss on its outputs.

    The batch is ``(*inputs, targets)``: ``loss(model(*inputs), targets)``. ``model`` is
    copied (never modified) and run functionally through :func:`dltheory.core.functionalize`
    with its buffers; pass ``functionalize(model).params`` (or any dict with the same keys)
    as ``params``. The closure carries the model's names (``parameter_names``): the probes
    raise ValueError for a dict with names the model does not have (which the forward pass
    would silently ignore); a dict with some names left out differentiates only those given
    (the others stay at the model's values).

    Args:
        model: any module.
        loss: e.g. ``torch.nn.functional.cross_entropy`` (mean over the batch).
        data: one batch (tuple of tensors): returns ``loss_fn(params)``; None: returns
            ``loss_fn(params, batch)`` (for ``data=`` of the probes or the training loop).
        mode: ``eval``: BatchNorm uses its running statistics, dropout is off (the loss is
            a deterministic function of the parameters). ``train``: BatchNorm normalizes
            with the batch statistics (the Hessian then includes their dependence on the
            parameters) and its running statistics are not updated; with several batches
            each is normalized by its own statistics (the Hessian of the mean per-batch loss,
            which depends on the batching). A model with active dropout raises ValueError
            (a random loss has no well-defined curvature); functional dropout
            (``F.dropout(x, training=self.training)``) is not visible here and is refused
            by the probes, which evaluate the closure twice when they build the operator.

    .. math:: L(\theta) = \ell(f_\theta(x), y)

    Cost: one forward pass per evaluation (plus one copy of the module when built).

    Example:
        >>> loss_fn = loss_closure(model, F.cross_entropy, (X, y))   # doctest: +SKIP
        >>> hessian_eigenvalues(loss_fn, functionalize(model).params, k=5)  # doctest: +SKIP
    """
    mode = check_choice("mode", mode, ("eval", "train"))
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module; got {type(model).__name__}.")
    # copy the module (its mode and buffers) but share its parameters: the closure always
    # receives the parameters as arguments, so a second copy would only cost memory
    net = copy.deepcopy(model, memo={id(p): p for p in model.parameters()}).train(mode == "train")
    if mode == "train":
        drop = [n for n, m in net.named_modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]
        if drop:
            raise ValueError(f"`mode` must be 'eval' for a model with dropout (modules {drop}): dropout makes the loss random, so its Hessian is undefined; got 'train'.")
        torch.func.replace_all_batch_norm_modules_(net)  # batch statistics, no running-stat updates
    fm = functionalize(net)
    if data is not None and (not _is_single_batch(data) or len(data) < 2):
        raise ValueError("`data` must be a tuple (*inputs, targets) of tensors or None.")
    return _ModelLoss(fm, loss, None if data is None else tuple(data))


class _ModelLoss:
    """``loss(model(params, *inputs), targets)``: the closure :func:`loss_closure` returns.

    Carries ``parameter_names`` (the model's trainable parameters) and ``buffer_names`` so
    that the probes can refuse a parameter dict of another model
    (:func:`~dltheory.probes.hvp.hessian_operator`).
    """

    def __init__(self, fm: FunctionalModel, loss: Callable[..., Tensor], batch: tuple[Tensor, ...] | None) -> None:
        self.fm, self.loss, self.batch = fm, loss, batch
        self.parameter_names = tuple(fm.params)
        self.buffer_names = tuple(fm.buffers)

    def __call__(self, params: Params, *batch: Any) -> Tensor:
        if self.batch is not None:
            if batch:
                raise TypeError("this closure was built with `data` and takes only `params`; got a batch too.")
            b = self.batch
        elif len(batch) == 1:
            b = tuple(batch[0])
        else:
            raise TypeError(f"this closure takes `(params, batch)` (built with data=None); got {len(batch)} batch arguments.")
        return self.loss(self.fm(params, *b[:-1]), b[-1])
