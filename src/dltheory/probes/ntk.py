r"""Neural tangent kernels: empirical (any module) and infinite-width (fully connected networks).

For a network :math:`f_\theta: \mathbb R^d \to \mathbb R^k` the neural tangent kernel (Jacot, Gabriel,
Hongler, NeurIPS 2018) is :math:`\Theta(x, x') = J_\theta f(x)\,J_\theta f(x')^\top \in \mathbb R^{k\times k}`.

- :func:`empirical_ntk`: of any module at its current (or given) parameters, or of a named subset of
  them, for two batches of inputs. ``method="jacobian"`` contracts per-example Jacobians
  (``torch.func.jacrev`` under ``vmap``: memory :math:`O(n k P)`); ``method="ntvp"`` forms kernel columns
  by NTK-vector products, one vector-Jacobian product then one Jacobian-vector product per column of
  the second batch (Novak, Sohl-Dickstein, Schoenholz, ICML 2022: memory O(P) per column);
  ``method="structured"`` (networks whose differentiated parameters are all weights and biases of nn.Linear,
  nn.Conv2d or their NTK-parameterized versions): the gradient of a Linear weight is the outer product of the
  layer's output gradient and its input, so each layer contributes
  :math:`\langle\delta(x), \delta(x')\rangle\,\langle a(x), a(x')\rangle` and no parameter-sized Jacobian is formed; the
  gradient of a convolution's weight is the output gradient times the unfolded input patches, one batched
  matrix product per layer instead of a backward pass per example (k backward passes per chunk in all; the
  structured derivatives of Novak et al. 2022); ``"auto"`` picks it when it applies (and, with convolutions,
  their per-example weight gradients fit in ``max_memory`` bytes), else the Jacobian route when its Jacobians
  fit there, else the NTK-vector products. Rows are computed
  in chunks of ``chunk_size`` inputs. ``output="trace"`` gives the mean over the k outputs of the diagonal
  blocks, (n1, n2) (the scalar kernel of an infinite-width network, whose output covariance is
  :math:`\Theta \otimes I_k`); ``"full"`` gives (n1, n2, k, k).
- :func:`fc_kernels`: the infinite-width NNGP kernel :math:`\Sigma^{(L)}` and NTK :math:`\Theta^{(L)}` of a fully
  connected network with L hidden layers in the NTK parameterization
  :math:`h^{l+1} = \frac{\sigma_w}{\sqrt{n_l}} W^{l+1}\phi(h^l) + \sigma_b b^{l+1}` (Jacot et al. 2018; Lee et al.
  2019; Arora et al. 2019, eq. 4):

  .. math:: \Sigma^{(0)}(x, x') = \frac{\sigma_w^2}{d}x^\top x' + \sigma_b^2,\quad
            \Sigma^{(h)} = \sigma_w^2\,\mathbb E[\phi(u)\phi(v)] + \sigma_b^2,\quad
            \dot\Sigma^{(h)} = \sigma_w^2\,\mathbb E[\phi'(u)\phi'(v)],\quad
            \Theta^{(h)} = \Theta^{(h-1)}\dot\Sigma^{(h)} + \Sigma^{(h)},

  :math:`(u, v) \sim N(0, \Sigma^{(h-1)}\text{ on } \{x, x'\})`. ReLU (the arc-cosine kernels of Cho & Saul 2009)
  and erf (Williams 1997) in closed form; any other activation by Gauss-Hermite quadrature
  (``quadrature`` nodes per dimension). ``parameterization="standard"`` gives the same NNGP and the standard
  parameterization's width-dependent NTK (Sohl-Dickstein et al. 2020; see :func:`fc_kernels`).
- :func:`cnn_kernels`: the same two kernels for a CNN of q x q convolutions (the convolutional NTK, CNTK, of Arora,
  Du, Hu, Li, Salakhutdinov, Wang, NeurIPS 2019): the recursion runs on pixel-pair covariances, patch-summed
  over the filter window at every layer.
- :class:`LinearizedModel`, :func:`mse_gd_trajectory` (:func:`mse_flow_trajectory`), :func:`kernel_regression`: the linearized network, its
  gradient-descent (gradient-flow) trajectory on the squared loss in closed form and its infinite-time limit (Lee, Xiao,
  Schoenholz, Bahri, Novak, Sohl-Dickstein, Pennington, NeurIPS 2019).
- :func:`kernel_distance`: the relative Frobenius distance between kernels (finite vs infinite width, or after vs
  before training).
- :func:`dltheory.models.ntk.ntk_mlp` is the network those kernels describe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from dltheory.core.errors import check_choice, check_float, check_int

__all__ = ["LinearizedModel", "cnn_kernels", "empirical_ntk", "fc_kernels", "kernel_regression", "mse_gd_trajectory"]


# --------------------------------------------------------------------------- empirical


def _params(model: nn.Module, params: Mapping[str, Tensor] | None, names: Sequence[str] | None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(the parameters to differentiate, the other parameters and buffers held fixed)."""
    allp = {k: v.detach() for k, v in model.named_parameters()}
    if params is not None:
        unknown = sorted(set(params) - set(allp))
        if unknown:
            raise ValueError(f"`params` has names the model does not have: {unknown[:5]}.")
        allp.update({k: v.detach() for k, v in params.items()})
    if names is None:
        diff = allp
    else:
        if isinstance(names, str) or not names:
            raise ValueError(f"`names` must be a non-empty list of parameter names (or prefixes); got {names!r}.")
        diff = {k: v for k, v in allp.items() if any(k == n or k.startswith(n + ".") for n in names)}
        missing = [n for n in names if not any(k == n or k.startswith(n + ".") for k in allp)]
        if missing:
            raise ValueError(f"`names` {missing} match no parameter of the model; it has {list(allp)[:10]}.")
    fixed = {k: v for k, v in allp.items() if k not in diff}
    fixed.update({k: v.detach() for k, v in model.named_buffers()})
    return diff, fixed


def empirical_ntk(model: nn.Module, x1: Tensor, x2: Tensor | None = None, *, params: Mapping[str, Tensor] | None = None,
                  names: Sequence[str] | None = None, output: str = "trace", method: str = "auto", chunk_size: int = 64,
                  max_memory: float = 1e9) -> Tensor:
    r"""The empirical NTK :math:`J f(x_1) J f(x_2)^\top` of ``model``, (n1, n2) (``output="trace"``) or (n1, n2, k, k).

    Args:
        model: any module mapping a batch (n, ...) to outputs (n, k) (or (n,), read as k = 1). It is not
            changed; it runs in its current mode (use ``eval()`` for BatchNorm/dropout).
        x1, x2: input batches (x2 defaults to x1: the Gram matrix).
        params: parameter values to use instead of the module's (a dict by name, any subset).
        names: differentiate only these parameters (names or module prefixes, e.g. ``["0", "2.weight"]``);
            the kernel of a subset of the parameters.
        output: ``"trace"`` (mean over outputs of the diagonal blocks) or ``"full"``.
        method: ``"jacobian"``, ``"ntvp"`` or ``"auto"``.
        chunk_size: inputs per chunk (rows for the Jacobians; columns for the NTK-vector products).
        max_memory: bytes the Jacobians of one chunk of each batch may take for ``"auto"`` to use them.

    Cost: jacobian: n1 + n2 backward passes (vectorized) and an O(n1 n2 k^2 P) contraction; ntvp: one
    vjp of a chunk of x2 and one jvp over x1 per kernel column, n2 k columns.
    """
    output = check_choice("output", output, ("trace", "full"))
    method = check_choice("method", method, ("auto", "jacobian", "ntvp", "structured"))
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    max_memory = check_float("max_memory", max_memory, minimum=0.0)
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module; got {type(model).__name__}.")
    same = x2 is None
    x2 = x1 if same else x2
    for name, x in (("x1", x1), ("x2", x2)):
        if not isinstance(x, Tensor) or x.ndim < 1 or x.shape[0] < 1:
            raise ValueError(f"`{name}` must be a tensor batch (n, ...) with n >= 1; got {type(x).__name__} {getattr(x, 'shape', '')}.")
    diff, fixed = _params(model, params, names)
    if not diff:
        raise ValueError("there are no parameters to differentiate (`names` selects none, or the model has none).")

    def f(p: dict[str, Tensor], x: Tensor) -> Tensor:
        out = functional_call(model, {**fixed, **p}, (x,))
        if not isinstance(out, Tensor):
            raise TypeError(f"the model must return a tensor; got {type(out).__name__}.")
        return out.reshape(out.shape[0], -1)

    with torch.no_grad():
        k = f(diff, x1[:1]).shape[1]
    P = sum(v.numel() for v in diff.values())
    itemsize = next(iter(diff.values())).element_size()
    layers = _structured_layers(model, diff)
    if method == "structured" and layers is None:
        raise ValueError("`method`='structured' needs every differentiated parameter to be a weight or bias of nn.Linear layers applied to "
                         "(batch, features) inputs or of nn.Conv2d layers (groups 1, numeric padding; or dltheory.models.ntk's NTKLinear, "
                         "NTKConv2d); use 'jacobian' or 'ntvp'.")
    rows = 2 * min(chunk_size, max(len(x1), len(x2))) * k * itemsize
    if method == "auto":
        conv_p = sum(diff[n].numel() for n in diff if layers is not None and n.rpartition(".")[0] in layers and layers[n.rpartition(".")[0]][2])
        if layers is not None and rows * conv_p <= max_memory:
            method = "structured"
        else:
            method = "jacobian" if rows * P <= max_memory else "ntvp"
    if method == "structured":
        F1 = [_structured_features(model, fixed, diff, layers, x1[i:i + chunk_size], k) for i in range(0, len(x1), chunk_size)]
        F2 = F1 if same else [_structured_features(model, fixed, diff, layers, x2[j:j + chunk_size], k) for j in range(0, len(x2), chunk_size)]
        return torch.cat([torch.cat([_structured_block(a, b, output, k) for b in F2], dim=1) for a in F1], dim=0)
    if method == "jacobian":
        return _ntk_jacobian(f, diff, x1, x2, same, k, output, chunk_size)
    return _ntk_ntvp(f, diff, x1, x2, k, output, chunk_size)


def _structured_layers(model: nn.Module, diff: dict[str, Tensor]) -> dict[str, tuple[bool, bool, bool]] | None:
    """module name -> (weight differentiated, bias differentiated, is a convolution) if every differentiated parameter is a
    weight or bias of a Linear or a supported Conv2d; else None."""
    from dltheory.models.ntk import NTKConv2d, NTKLinear

    mods = dict(model.named_modules())
    out: dict[str, tuple[bool, bool, bool]] = {}
    for name in diff:
        mod_name, _, leaf = name.rpartition(".")
        m = mods.get(mod_name)
        conv = isinstance(m, NTKConv2d) or (isinstance(m, nn.Conv2d) and m.groups == 1 and not isinstance(m.padding, str))
        if not (conv or isinstance(m, (nn.Linear, NTKLinear))) or leaf not in ("weight", "bias"):
            return None
        w, b, _ = out.get(mod_name, (False, False, conv))
        out[mod_name] = (w or leaf == "weight", b or leaf == "bias", conv)
    return out


def _patches(m: nn.Module, a: Tensor) -> Tensor:
    """The input patches a convolution multiplies its weight with: (n, C_in q_h q_w, L), L its output pixels."""
    import torch.nn.functional as F

    from dltheory.models.ntk import NTKConv2d

    if isinstance(m, NTKConv2d):
        return F.unfold(m.pad(a), m.kernel_size)
    ph, pw = m.padding
    if m.padding_mode != "zeros" and (ph or pw):
        return F.unfold(F.pad(a, (pw, pw, ph, ph), mode=m.padding_mode), m.kernel_size, dilation=m.dilation, stride=m.stride)
    return F.unfold(a, m.kernel_size, dilation=m.dilation, padding=m.padding, stride=m.stride)


def _structured_features(model: nn.Module, fixed: dict[str, Tensor], diff: dict[str, Tensor], layers: dict[str, tuple[bool, bool, bool]], x: Tensor,
                     k: int) -> list[tuple]:
    """Per layer, what its block of the kernel is made of: for a Linear, ``("outer", a, delta, s_w, s_b, has_w, has_b)``
    with its inputs a (n, in) and the output gradients delta (n, k, out) of each network output; for a convolution,
    ``("explicit", G)`` with its per-example parameter gradients G (n, k, P_layer)."""
    from dltheory.models.ntk import NTKConv2d, NTKLinear

    mods = dict(model.named_modules())
    kept: dict[str, tuple[Tensor, Tensor]] = {}

    def hook(name: str):
        def fn(_m, inp, out):
            kept[name] = (inp[0], out)
        return fn

    handles = [mods[n].register_forward_hook(hook(n)) for n in layers]
    try:
        p = {n: v.detach().requires_grad_(True) for n, v in diff.items()}
        with torch.enable_grad():
            y = functional_call(model, {**fixed, **p}, (x,))
            y = y.reshape(y.shape[0], -1)
            zs = [kept[n][1] for n in layers]
            for n, (_, _, conv) in layers.items():
                if kept[n][0].ndim != (4 if conv else 2):
                    raise ValueError(f"layer {n!r} is applied to inputs of shape {tuple(kept[n][0].shape)}; method='structured' needs "
                                     f"{'(batch, channels, height, width)' if conv else '(batch, features)'}.")
            deltas = [[] for _ in layers]
            for c in range(k):
                gs = torch.autograd.grad(y[:, c].sum(), zs, retain_graph=c < k - 1, allow_unused=True)
                for i, g in enumerate(gs):
                    deltas[i].append(torch.zeros_like(zs[i]) if g is None else g)
    finally:
        for h in handles:
            h.remove()
    feats = []
    for i, (n, (has_w, has_b, conv)) in enumerate(layers.items()):
        m = mods[n]
        a, d = kept[n][0].detach(), torch.stack(deltas[i], 1).detach()
        if isinstance(m, (NTKLinear, NTKConv2d)):
            fan_in = m.fan_in if isinstance(m, NTKLinear) else m.in_channels * m.kernel_size ** 2
            ws, bs = m.sigma_w / math.sqrt(fan_in), m.sigma_b
        else:
            ws, bs = 1.0, 1.0
        if not conv:
            feats.append(("outer", a, d, ws, bs, has_w, has_b))
            continue
        d = d.reshape(d.shape[0], k, d.shape[2], -1)  # (n, k, out, L)
        parts = []
        if has_w:  # dz(l)/dW[o, i] = s_w * patch_i(l): the weight gradient is delta times the patches, summed over the pixels l
            parts.append(torch.einsum("nkol,nil->nkoi", d, _patches(m, a) * ws).reshape(d.shape[0], k, -1))  # the scale on the smaller factor
        if has_b:
            parts.append(d.sum(3) * bs)
        feats.append(("explicit", parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)))
    return feats


def _structured_block(F1: list, F2: list, output: str, k: int) -> Tensor:
    r"""Sum over the layers of their kernel blocks: for a Linear,
    :math:`\langle\delta_c(x), \delta_{c'}(x')\rangle (s_w^2\langle a(x), a(x')\rangle + s_b^2)` (the weight gradient is the outer
    product of the output gradient and the input); for a convolution, the contraction of its per-example gradients."""
    total = None
    for f1, f2 in zip(F1, F2, strict=True):
        if f1[0] == "explicit":
            term = _contract(f1[1], f2[1], output)
        else:
            _, a1, d1, ws, bs, has_w, has_b = f1
            a2, d2 = f2[1], f2[2]
            inner = (ws ** 2) * (a1 @ a2.T) if has_w else torch.zeros(len(a1), len(a2), dtype=a1.dtype, device=a1.device)
            if has_b:
                inner = inner + bs ** 2
            if output == "trace":
                term = torch.einsum("nko,mko->nm", d1, d2) * inner / k
            else:
                term = torch.einsum("nko,mlo->nmkl", d1, d2) * inner[:, :, None, None]
        total = term if total is None else total + term
    return total


def _jac(f: Callable, diff: dict[str, Tensor], x: Tensor) -> Tensor:
    """(n, k, P) Jacobian of the outputs for a chunk of inputs, flattened over the parameters."""
    def single(xi: Tensor) -> dict[str, Tensor]:
        return jacrev(lambda p: f(p, xi[None])[0])(diff)

    J = vmap(single)(x)
    return torch.cat([J[name].reshape(x.shape[0], J[name].shape[1], -1) for name in diff], dim=2)


def _contract(J1: Tensor, J2: Tensor, output: str) -> Tensor:
    if output == "trace":
        return torch.einsum("akp,bkp->ab", J1, J2) / J1.shape[1]
    return torch.einsum("akp,blp->abkl", J1, J2)


def _ntk_jacobian(f: Callable, diff: dict[str, Tensor], x1: Tensor, x2: Tensor, same: bool, k: int, output: str, chunk: int) -> Tensor:
    J2s = [_jac(f, diff, x2[j:j + chunk]) for j in range(0, len(x2), chunk)] if not same or len(x1) > chunk else None
    rows = []
    for i in range(0, len(x1), chunk):
        J1 = _jac(f, diff, x1[i:i + chunk])
        if J2s is None:
            rows.append(_contract(J1, J1, output))
        else:
            rows.append(torch.cat([_contract(J1, J2, output) for J2 in J2s], dim=1))
    return torch.cat(rows, dim=0)


def _ntk_ntvp(f: Callable, diff: dict[str, Tensor], x1: Tensor, x2: Tensor, k: int, output: str, chunk: int) -> Tensor:
    n1, n2 = len(x1), len(x2)
    full = x1.new_zeros(n1, n2, k, k) if output == "full" else x1.new_zeros(n1, n2)
    for j in range(0, n2, chunk):
        xb = x2[j:j + chunk]
        _, pullback = vjp(lambda p, xb=xb: f(p, xb), diff)
        m = len(xb)
        for c in range(k):  # columns (b, c) for b in the chunk, batched over b
            basis = torch.zeros(m, m, k, dtype=x1.dtype, device=x1.device)
            basis[torch.arange(m), torch.arange(m), c] = 1

            def column(e: Tensor, pullback=pullback) -> Tensor:
                (u,) = pullback(e)  # J(x2)^T e, parameter-shaped
                return jvp(lambda p: f(p, x1), (diff,), (u,))[1]  # J(x1) u: (n1, k)

            cols = vmap(column)(basis)  # (m, n1, k): Theta(x1_a, x2_b)[:, c]
            if output == "full":
                full[:, j:j + m, :, c] = cols.permute(1, 0, 2)
            else:
                full[:, j:j + m] += cols[:, :, c].T / k
    return full


# --------------------------------------------------------------------------- infinite width


def _relu_expect(K11: Tensor, K22: Tensor, K12: Tensor) -> tuple[Tensor, Tensor]:
    s = (K11 * K22).clamp_min(1e-300).sqrt()
    rho = (K12 / s).clamp(-1.0, 1.0)
    # the angle from atan2 of (sqrt(det), K12): exactly 0 when K12 = K11 = K22 (the diagonal of a Gram matrix),
    # where arccos of a rounded rho = 1 - 1e-16 would give 1.5e-8
    theta = torch.atan2((K11 * K22 - K12 * K12).clamp_min(0).sqrt(), K12)
    e = s / (2 * math.pi) * (torch.sin(theta) + (math.pi - theta) * rho)
    ed = (math.pi - theta) / (2 * math.pi)
    return e, ed


def _erf_expect(K11: Tensor, K22: Tensor, K12: Tensor) -> tuple[Tensor, Tensor]:
    a, b = 1 + 2 * K11, 1 + 2 * K22
    e = 2 / math.pi * torch.arcsin((2 * K12 / (a * b).sqrt()).clamp(-1.0, 1.0))
    ed = 4 / math.pi / (a * b - 4 * K12 ** 2).clamp_min(1e-300).sqrt()
    return e, ed


def _quad_expect(phi: Callable[[Tensor], Tensor], dphi: Callable[[Tensor], Tensor], K11: Tensor, K22: Tensor, K12: Tensor, nodes: int) -> tuple[Tensor, Tensor]:
    z, w = np.polynomial.hermite_e.hermegauss(nodes)  # probabilists' Hermite: weight exp(-z^2/2)
    z = torch.tensor(z, dtype=K11.dtype, device=K11.device)
    w = torch.tensor(w / math.sqrt(2 * math.pi), dtype=K11.dtype, device=K11.device)
    a = K11.clamp_min(0).sqrt()
    c = torch.where(a > 0, K12 / torch.where(a > 0, a, torch.ones_like(a)), torch.zeros_like(a))
    d = (K22 - c ** 2).clamp_min(0).sqrt()
    u = a[..., None, None] * z[:, None]  # (…, i, 1)
    v = c[..., None, None] * z[:, None] + d[..., None, None] * z[None, :]  # (…, i, j)
    W = w[:, None] * w[None, :]
    e = (phi(u) * phi(v) * W).sum((-2, -1))
    ed = (dphi(u) * dphi(v) * W).sum((-2, -1))
    return e, ed


def fc_kernels(x1: Tensor, x2: Tensor | None = None, *, depth: int = 1, activation: str | tuple[Callable, Callable] = "relu",
               sigma_w: float = 1.0, sigma_b: float = 0.0, quadrature: int = 64, parameterization: str = "ntk",
               widths: int | Sequence[int] | None = None) -> tuple[Tensor, Tensor]:
    r"""Infinite-width (NNGP, NTK) kernels of a fully connected network with ``depth`` hidden layers, NTK parameterization.

    ``x1`` (n1, d), ``x2`` (n2, d) (default x1); returns two (n1, n2) float64 tensors on x1's device: the
    NNGP kernel of the outputs :math:`\Sigma^{(L)}` and the NTK :math:`\Theta^{(L)}` (recursions in the module
    docstring; the readout layer is linear with weights :math:`\sigma_w/\sqrt{n_L}` and bias :math:`\sigma_b`).
    ``activation``: ``"relu"``, ``"erf"`` (closed forms) or ``(phi, dphi)`` (callables on tensors:
    Gauss-Hermite quadrature with ``quadrature`` nodes per dimension). The networks this describes:
    :class:`dltheory.models.ntk.NTKMLP`. Cost: O(n1 n2 (d + depth)) (quadrature: x nodes^2).

    ``parameterization="standard"`` (Sohl-Dickstein, Novak, Schoenholz, Lee 2020): the network
    :math:`h^{l+1} = W^{l+1}\phi(h^l) + b^{l+1}` with :math:`W_{ij} \sim N(0, \sigma_w^2/n_l)`,
    :math:`b_i \sim N(0, \sigma_b^2)`, trained with the raw gradients (PyTorch's layers with a Gaussian init).
    Its NNGP is the same; its NTK is not width-free: a weight gradient contributes the *sum* over the
    layer's inputs instead of their mean, and a bias gradient contributes 1,

    .. math:: \Theta^{(0)} = x^\top x' + [\sigma_b > 0],\qquad
              \Theta^{(h)} = \Theta^{(h-1)}\dot\Sigma^{(h)} + n_h\,\mathbb E[\phi(u)\phi(v)] + [\sigma_b > 0],

    with ``widths`` = :math:`(n_1, \dots, n_L)` the hidden widths (an int: all equal). It grows like the
    width, which is why a fixed step size does not have a wide-network limit in this parameterization
    (the step must shrink like 1/n). A bias counts iff ``sigma_b > 0``.
    """
    depth = check_int("depth", depth, minimum=0)
    sigma_w = check_float("sigma_w", sigma_w, minimum=0.0)
    sigma_b = check_float("sigma_b", sigma_b, minimum=0.0)
    quadrature = check_int("quadrature", quadrature, minimum=2)
    parameterization = check_choice("parameterization", parameterization, ("ntk", "standard"))
    if parameterization == "standard":
        if widths is None:
            if depth > 0:
                raise ValueError(f"`widths` (the hidden widths) is required with parameterization='standard' and depth={depth}.")
            widths = []
        widths = [widths] * depth if isinstance(widths, int) else list(widths)
        if len(widths) != depth or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in widths):
            raise ValueError(f"`widths` must be a positive int or {depth} positive ints (one per hidden layer); got {widths!r}.")
    elif widths is not None:
        raise ValueError(f"`widths` applies only to parameterization='standard' (the NTK parameterization's kernels do not depend on them); got {widths!r}.")
    if isinstance(activation, str):
        activation = check_choice("activation", activation, ("relu", "erf"))
        expect = _relu_expect if activation == "relu" else _erf_expect
    elif isinstance(activation, tuple) and len(activation) == 2 and all(callable(a) for a in activation):
        phi, dphi = activation

        def expect(K11, K22, K12):
            return _quad_expect(phi, dphi, K11, K22, K12, quadrature)
    else:
        raise ValueError(f"`activation` must be 'relu', 'erf' or a pair (phi, dphi) of callables; got {activation!r}.")
    same = x2 is None
    x1 = torch.as_tensor(x1).to(torch.float64).reshape(len(x1), -1)
    x2 = x1 if x2 is None else torch.as_tensor(x2).to(torch.float64).reshape(len(x2), -1)
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"`x1` and `x2` must have the same number of features; got {x1.shape[1]} and {x2.shape[1]}.")
    d = x1.shape[1]
    S12 = sigma_w ** 2 * (x1 @ x2.T) / d + sigma_b ** 2
    S11 = sigma_w ** 2 * (x1 * x1).sum(1) / d + sigma_b ** 2
    S22 = sigma_w ** 2 * (x2 * x2).sum(1) / d + sigma_b ** 2
    if same:
        S12.diagonal().copy_(S11)  # x . x by the same reduction on both sides, so the recursion sees rho = 1 exactly
    standard = parameterization == "standard"
    bias = 1.0 if sigma_b > 0 else 0.0
    if standard:
        T12 = x1 @ x2.T + bias
        if same:
            T12.diagonal().copy_((x1 * x1).sum(1) + bias)
    else:
        T12 = S12.clone()
    for h in range(depth):
        e12, ed12 = expect(S11[:, None].expand_as(S12), S22[None, :].expand_as(S12), S12)
        e11, _ = expect(S11, S11, S11)
        e22, _ = expect(S22, S22, S22)
        S12_new = sigma_w ** 2 * e12 + sigma_b ** 2
        T12 = T12 * sigma_w ** 2 * ed12 + (widths[h] * e12 + bias if standard else S12_new)
        S12, S11, S22 = S12_new, sigma_w ** 2 * e11 + sigma_b ** 2, sigma_w ** 2 * e22 + sigma_b ** 2
        if same:
            S12.diagonal().copy_(S11)
    return S12, T12


def _expectations(activation: str | tuple[Callable, Callable], quadrature: int) -> Callable:
    if isinstance(activation, str):
        activation = check_choice("activation", activation, ("relu", "erf"))
        return _relu_expect if activation == "relu" else _erf_expect
    if isinstance(activation, tuple) and len(activation) == 2 and all(callable(a) for a in activation):
        phi, dphi = activation

        def expect(K11, K22, K12):
            return _quad_expect(phi, dphi, K11, K22, K12, quadrature)
        return expect
    raise ValueError(f"`activation` must be 'relu', 'erf' or a pair (phi, dphi) of callables; got {activation!r}.")


def _pad(M: Tensor, dims: Sequence[int], r: int, padding: str) -> Tensor:
    """M padded by r on each side of the given image dims: zeros, or wrapped around (circular, any r)."""
    for d in dims:
        n = M.shape[d]
        if padding == "circular":
            M = M.index_select(d, torch.arange(-r, n + r, device=M.device) % n)
        else:
            shape = list(M.shape)
            shape[d] = r
            z = M.new_zeros(shape)
            M = torch.cat([z, M, z], dim=d)
    return M


def _patch_sum(M: Tensor, q: int, padding: str) -> Tensor:
    r"""The patch sum :math:`S(p, p') = \sum_{\delta} M(p + \delta, p' + \delta)` over the q x q offsets, for M (N, H, W)
    (the diagonal p = p' only) or (N, H, W, H, W) (all pixel pairs)."""
    r = q // 2
    if r == 0:
        return M.clone()
    full = M.ndim == 5
    H, W = M.shape[1], M.shape[2]
    Mp = _pad(M, (1, 2, 3, 4) if full else (1, 2), r, padding)
    S = torch.zeros_like(M)
    for a in range(q):
        for b in range(q):
            if full:
                S += Mp[:, a:a + H, b:b + W, a:a + H, b:b + W]
            else:
                S += Mp[:, a:a + H, b:b + W]
    return S


def cnn_kernels(x1: Tensor, x2: Tensor | None = None, *, depth: int = 1, kernel_size: int = 3, pooling: str = "flatten",
                activation: str | tuple[Callable, Callable] = "relu", padding: str = "circular", sigma_w: float = math.sqrt(2.0),
                sigma_b: float = 0.0, quadrature: int = 64, chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    r"""Infinite-width (NNGP, NTK) kernels of a CNN: the convolutional NTK (CNTK) of Arora et al. 2019.

    The network (:func:`dltheory.models.ntk.ntk_cnn`, NTK parameterization, every weight N(0, 1)): ``depth``
    convolutions of size q x q (q = ``kernel_size``, odd; stride 1; ``padding`` ``"circular"`` or ``"zeros"``),

    .. math:: z^{(h)}_c(p) = \frac{\sigma_w}{\sqrt{C_{h-1} q^2}}\sum_{c',\delta} W^{(h)}_{c c'\delta}\,a^{(h-1)}_{c'}(p+\delta) + \sigma_b b^{(h)}_c,
       \quad a^{(0)} = x,\ a^{(h)} = \phi(z^{(h)}),

    then ``pooling`` = ``"flatten"`` (readout :math:`\frac{\sigma_w}{\sqrt{C_L P}}\sum_{c,p} w_{cp} a^{(L)}_c(p) + \sigma_b b`) or
    ``"gap"`` (readout of the pixel means :math:`\frac{\sigma_w}{\sqrt{C_L}}\sum_c w_c \frac1P\sum_p a^{(L)}_c(p) + \sigma_b b`),
    P = H W pixels. As the channels :math:`C_1..C_L \to \infty` (Arora et al. 2019, Sec. 4 and App.; Novak et al. 2019),
    with :math:`\mathcal P` the patch sum :math:`(\mathcal P M)(p, p') = \sum_\delta M(p+\delta, p'+\delta)` over the q x q offsets:

    .. math:: \Sigma^{(1)} = \tfrac{\sigma_w^2}{C_0 q^2}\mathcal P\big[\textstyle\sum_c x_c(p)\,x'_c(p')\big] + \sigma_b^2,\quad \Theta^{(1)} = \Sigma^{(1)},

              \Sigma^{(h)} = \tfrac{\sigma_w^2}{q^2}\mathcal P\,\mathbb E[\phi(u)\phi(v)] + \sigma_b^2,\quad
              \Theta^{(h)} = \Sigma^{(h)} + \tfrac{\sigma_w^2}{q^2}\mathcal P\big[\Theta^{(h-1)}\,\mathbb E[\phi'(u)\phi'(v)]\big],

    :math:`(u, v) \sim N(0, [[\Sigma^{(h-1)}(x, x)_{pp}, \Sigma^{(h-1)}(x, x')_{pp'}], [\cdot, \Sigma^{(h-1)}(x', x')_{p'p'}]])`; the output
    kernels apply :math:`E = \mathbb E[\phi\phi]`, :math:`\dot E = \mathbb E[\phi'\phi']` once more at layer L and reduce over
    pixels: flatten :math:`\Sigma = \sigma_w^2\,\mathrm{mean}_p E(p, p) + \sigma_b^2`, :math:`\Theta = \Sigma + \sigma_w^2\,
    \mathrm{mean}_p(\Theta^{(L)}\dot E)(p, p)` (the paper's trace); gap: the same with the mean over all pairs (p, p').

    Conventions against the paper: its :math:`c_\sigma = 2` for ReLU is :math:`\sigma_w^2` here (the default); its first
    layer is unscaled and its readout carries :math:`c_\sigma / q^2` instead of :math:`\sigma_w^2 / P`, so for ReLU and
    :math:`\sigma_b = 0` (both kernels positively homogeneous in the input covariance) these kernels are the paper's
    times :math:`2 / (C_0 P)` (flatten) or :math:`2 / C_0` (gap): a constant, which kernel regression ignores. The
    displacement p' - p is kept by the patch sum, so flatten only needs the P diagonal entries of each pair
    (Novak et al. 2019); gap needs all P^2. A 1 x 1 image with circular padding gives :func:`fc_kernels` exactly.

    Args:
        x1, x2: images (n1, C, H, W), (n2, C, H, W) (x2 defaults to x1).
        depth: convolution layers L >= 1.
        kernel_size: q, odd.
        pooling: ``"flatten"`` or ``"gap"``.
        activation: ``"relu"``, ``"erf"`` or ``(phi, dphi)`` (Gauss-Hermite quadrature, ``quadrature`` nodes per dimension).
        padding: ``"circular"`` or ``"zeros"``.
        sigma_w, sigma_b: the weight and bias scales of every layer.
        chunk_size: images per block on each side; a block holds chunk_size^2 P^2 (gap) or chunk_size^2 P (flatten) numbers per
            tensor. Default: the largest with chunk_size^2 P^2 (or P) <= 2^18 (2 MB of float64 per tensor: larger blocks were no faster).

    Returns:
        (NNGP, NTK), two (n1, n2) float64 tensors on x1's device.

    Cost: O(n1 n2 P^2 q^2 L) (gap) or O(n1 n2 P q^2 L) (flatten) operations, memory O(chunk_size^2 P^2) (gap).
    """
    depth = check_int("depth", depth, minimum=1)
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    if kernel_size % 2 == 0:
        raise ValueError(f"`kernel_size` must be an odd int >= 1; got {kernel_size}.")
    pooling = check_choice("pooling", pooling, ("flatten", "gap"))
    padding = check_choice("padding", padding, ("circular", "zeros"))
    sigma_w = check_float("sigma_w", sigma_w, minimum=0.0)
    sigma_b = check_float("sigma_b", sigma_b, minimum=0.0)
    quadrature = check_int("quadrature", quadrature, minimum=2)
    expect = _expectations(activation, quadrature)
    same = x2 is None
    x1 = torch.as_tensor(x1).to(torch.float64)
    x2 = x1 if same else torch.as_tensor(x2).to(device=x1.device, dtype=torch.float64)
    for name, x in (("x1", x1), ("x2", x2)):
        if x.ndim != 4:
            raise ValueError(f"`{name}` must be images (n, C, H, W); got shape {tuple(x.shape)}.")
    if x1.shape[1:] != x2.shape[1:]:
        raise ValueError(f"`x1` and `x2` must have the same (C, H, W); got {tuple(x1.shape[1:])} and {tuple(x2.shape[1:])}.")
    C, q = x1.shape[1], kernel_size
    w2, b2 = sigma_w ** 2, sigma_b ** 2

    def variances(x: Tensor) -> list[Tensor]:
        """Sigma^(h)(x, x)_{pp} for h = 1..L, each (n, H, W): the diagonal recursion on each image with itself."""
        V = w2 / (C * q * q) * _patch_sum(torch.einsum("ncij,ncij->nij", x, x), q, padding) + b2
        out = [V]
        for _ in range(depth - 1):
            e, _ = expect(V, V, V)
            V = w2 / (q * q) * _patch_sum(e, q, padding) + b2
            out.append(V)
        return out

    V1 = variances(x1)
    V2 = V1 if same else variances(x2)
    full = pooling == "gap"
    per_pair = (x1.shape[2] * x1.shape[3]) ** (2 if full else 1)
    chunk_size = max(1, int(math.sqrt(2 ** 18 / per_pair))) if chunk_size is None else check_int("chunk_size", chunk_size, minimum=1)
    n1, n2 = len(x1), len(x2)
    S_out = x1.new_zeros(n1, n2)
    T_out = x1.new_zeros(n1, n2)
    for i in range(0, n1, chunk_size):
        for j in range(i if same else 0, n2, chunk_size):
            a, b = x1[i:i + chunk_size], x2[j:j + chunk_size]
            na, nb = len(a), len(b)
            if full:
                G = torch.einsum("acij,bckl->abijkl", a, b).reshape(na * nb, *a.shape[2:], *b.shape[2:])
            else:
                G = torch.einsum("acij,bcij->abij", a, b).reshape(na * nb, *a.shape[2:])

            def sides(h: int, i=i, j=j, na=na, nb=nb) -> tuple[Tensor, Tensor]:
                A, B = V1[h][i:i + na], V2[h][j:j + nb]
                if full:  # (na nb, H, W, H, W): the variance of the first image at p, of the second at p'
                    K11 = A[:, None, :, :, None, None].expand(na, nb, *A.shape[1:], *B.shape[1:])
                    K22 = B[None, :, None, None, :, :].expand(na, nb, *A.shape[1:], *B.shape[1:])
                else:
                    K11 = A[:, None].expand(na, nb, *A.shape[1:])
                    K22 = B[None, :].expand(na, nb, *B.shape[1:])
                return K11.reshape(na * nb, *K11.shape[2:]), K22.reshape(na * nb, *K22.shape[2:])

            S = w2 / (C * q * q) * _patch_sum(G, q, padding) + b2
            T = S
            for h in range(1, depth):
                e, ed = expect(*sides(h - 1), S)
                S = w2 / (q * q) * _patch_sum(e, q, padding) + b2
                T = S + w2 / (q * q) * _patch_sum(T * ed, q, padding)
            e, ed = expect(*sides(depth - 1), S)
            dims = tuple(range(1, e.ndim))
            s_blk = (w2 * e.mean(dims) + b2).reshape(na, nb)
            t_blk = s_blk + w2 * (T * ed).mean(dims).reshape(na, nb)
            S_out[i:i + na, j:j + nb], T_out[i:i + na, j:j + nb] = s_blk, t_blk
            if same and j != i:
                S_out[j:j + nb, i:i + na], T_out[j:j + nb, i:i + na] = s_blk.T, t_blk.T
    return S_out, T_out


# --------------------------------------------------------------------------- linearized dynamics


def kernel_distance(K: Tensor, K_ref: Tensor) -> float:
    r"""Relative Frobenius distance :math:`\|K - K_{ref}\|_F / \|K_{ref}\|_F` of two kernel (Gram) matrices.

    The measure of the NTK literature for both questions it asks of a finite network: how far its kernel at
    initialization is from the infinite-width one (``K_ref`` the analytic kernel; Jacot et al. 2018, Arora et
    al. 2019) and how much it moves in training (``K`` after, ``K_ref`` at initialization; Lee et al. 2019,
    Thm 2.1: :math:`O(m^{-1/2})`). Shapes must match; a zero reference is an error.
    """
    K, K_ref = torch.as_tensor(K), torch.as_tensor(K_ref)
    if K.shape != K_ref.shape:
        raise ValueError(f"`K` and `K_ref` must have the same shape; got {tuple(K.shape)} and {tuple(K_ref.shape)}.")
    ref = float(torch.linalg.vector_norm(K_ref.double()))
    if not ref > 0:
        raise ValueError(f"`K_ref` must be nonzero (its Frobenius norm is {ref}).")
    return float(torch.linalg.vector_norm(K.double() - K_ref.double())) / ref


class LinearizedModel:
    r"""The first-order Taylor expansion of a module around parameters :math:`\theta_0` (Lee et al., NeurIPS 2019, eq. 6):

    .. math:: f^{lin}_\theta(x) = f_{\theta_0}(x) + J_{\theta_0}(x)\,(\theta - \theta_0),

    computed by one Jacobian-vector product per call (no Jacobian is stored). Call it as
    ``lin(params, x)`` with a dict of the same names as ``lin.params`` (the expansion point, detached
    copies); it trains through :func:`dltheory.train.loop.train` like any functional model. Buffers and
    parameters not in ``params`` stay at their values in the module.
    """

    def __init__(self, model: nn.Module, params: Mapping[str, Tensor] | None = None, names: Sequence[str] | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"`model` must be a torch.nn.Module; got {type(model).__name__}.")
        diff, fixed = _params(model, params, names)
        self.model, self.fixed = model, fixed
        self.params = {k: v.clone() for k, v in diff.items()}
        self._theta0 = {k: v.clone() for k, v in diff.items()}

    def _f(self, p: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self.model, {**self.fixed, **p}, (x,))

    def __call__(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        if set(params) != set(self._theta0):
            raise ValueError(f"`params` must have the names of the expansion point {sorted(self._theta0)[:5]}...; got {sorted(params)[:5]}...")
        delta = {k: params[k] - self._theta0[k] for k in self._theta0}
        f0, df = jvp(lambda p: self._f(p, x), (self._theta0,), (delta,))
        return f0 + df


def kernel_regression(K_train: Tensor, y: Tensor, K_test: Tensor | None = None, *, ridge: float = 0.0, f0_train: Tensor | None = None,
                      f0_test: Tensor | None = None) -> Tensor:
    r"""Kernel (ridge) regression, the infinite-time limit of gradient flow on the squared loss for a linearized network:

    .. math:: f_\infty(X_*) = f_0(X_*) + K_{*X}(K_{XX} + \lambda I)^{-1}(y - f_0(X)).

    ``K_train`` (n, n), ``y`` (n,) or (n, k), ``K_test`` (n_*, n) (default: the training inputs),
    optional initial outputs ``f0_*`` (zero by default; with them, the prediction of the linearized network
    trained to convergence, Lee et al. 2019 eq. 9). Solved by a Cholesky factorization (float64).
    """
    ridge = check_float("ridge", ridge, minimum=0.0)
    K = K_train.to(torch.float64)
    n = K.shape[0]
    if K.shape != (n, n):
        raise ValueError(f"`K_train` must be square; got {tuple(K.shape)}.")
    Y = y.to(torch.float64).reshape(n, -1)
    R = Y - (f0_train.to(torch.float64).reshape(n, -1) if f0_train is not None else 0)
    L, info = torch.linalg.cholesky_ex(K + ridge * torch.eye(n, dtype=K.dtype, device=K.device))
    if int(info) != 0:
        raise ValueError("`K_train` (+ ridge) is not positive definite: add a ridge > 0.")
    alpha = torch.cholesky_solve(R, L)
    Ks = K if K_test is None else K_test.to(torch.float64)
    out = Ks @ alpha
    if f0_test is not None:
        out = out + f0_test.to(torch.float64).reshape(len(Ks), -1)
    elif K_test is None and f0_train is not None:
        out = out + f0_train.to(torch.float64).reshape(n, -1)
    return out


def mse_gd_trajectory(K_train: Tensor, y: Tensor, f0_train: Tensor, lr: float, steps: Sequence[int] | int, *, K_test: Tensor | None = None,
                      f0_test: Tensor | None = None) -> Tensor:
    r"""Outputs of a linearized network after t steps of gradient descent on :math:`\tfrac{1}{2n}\sum_i\|f(x_i) - y_i\|^2`, in closed form.

    With the (trace) NTK Gram matrix :math:`K = \Theta(X, X)` and :math:`A = I - \eta K / n`:

    .. math:: f_t(X) = y + A^t (f_0(X) - y),\qquad f_t(X_*) = f_0(X_*) + K_{*X}K^{-1}(I - A^t)(y - f_0(X))

    (Lee et al. 2019, eqs. 8-9, in discrete time). Returns (len(steps), n, k) on the training inputs, or on
    ``K_test``'s rows (n_*, n) with ``f0_test``. Exact for one output (k = 1) with the empirical NTK of
    :class:`LinearizedModel`'s expansion point; for k > 1 it assumes the output kernel :math:`K\otimes I_k` (the
    infinite-width limit). Cost: one symmetric eigendecomposition of K. Gradient flow: :func:`mse_flow_trajectory`.
    """
    lr = check_float("lr", lr, minimum=0.0, strict_min=True)
    ts = [steps] if isinstance(steps, int) else list(steps)
    for t in ts:
        check_int("steps", t, minimum=0)
    n = K_train.shape[0]

    def decay(lam: Tensor, t: int) -> tuple[Tensor, float]:
        return (1 - lr * lam / n) ** t, lr * t / n

    return _mse_trajectory(K_train, y, f0_train, ts, decay, K_test, f0_test)


def mse_flow_trajectory(K_train: Tensor, y: Tensor, f0_train: Tensor, times: Sequence[float] | float, *, K_test: Tensor | None = None,
                        f0_test: Tensor | None = None) -> Tensor:
    r"""The same under gradient flow :math:`\dot\theta = -\nabla_\theta \tfrac{1}{2n}\sum_i\|f(x_i) - y_i\|^2` at times t (step size x steps):

    .. math:: f_t(X) = y + e^{-tK/n}(f_0(X) - y),\qquad f_t(X_*) = f_0(X_*) + K_{*X}K^{-1}(I - e^{-tK/n})(y - f_0(X))

    (Lee et al. 2019, eqs. 8-9; Jacot et al. 2018). Gradient descent with step :math:`\eta` approaches it at
    :math:`t = \eta\cdot\text{steps}` as :math:`\eta \to 0`.
    """
    ts = [times] if isinstance(times, int | float) else list(times)
    for t in ts:
        check_float("times", t, minimum=0.0)
    n = K_train.shape[0]

    def decay(lam: Tensor, t: float) -> tuple[Tensor, float]:
        return torch.exp(-t * lam / n), t / n

    return _mse_trajectory(K_train, y, f0_train, ts, decay, K_test, f0_test)


def _mse_trajectory(K_train: Tensor, y: Tensor, f0_train: Tensor, ts: list, decay: Callable, K_test: Tensor | None, f0_test: Tensor | None) -> Tensor:
    """Shared eigenbasis evaluation: ``decay(lam, t)`` gives the residual factor d per eigenvalue and the limit of (1 - d) / lam at lam = 0."""
    if K_test is not None and f0_test is None:
        raise ValueError("`f0_test` must be given with `K_test`.")
    K = K_train.to(torch.float64)
    n = K.shape[0]
    Y = y.to(torch.float64).reshape(n, -1)
    R0 = f0_train.to(torch.float64).reshape(n, -1) - Y
    lam, V = torch.linalg.eigh(K)
    c = V.T @ R0  # residual in the eigenbasis
    out = []
    for t in ts:
        d, at_zero = decay(lam, t)
        if K_test is None:
            out.append(Y + V @ (d[:, None] * c))
        else:
            with torch.no_grad():
                gain = torch.where(lam.abs() > 1e-12 * lam.abs().max(), (1 - d) / lam, at_zero * torch.ones_like(lam))
            out.append(f0_test.to(torch.float64).reshape(len(K_test), -1) - K_test.to(torch.float64) @ (V @ (gain[:, None] * c)))
    return torch.stack(out)
