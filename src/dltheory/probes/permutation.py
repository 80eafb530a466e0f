r"""Permutation symmetry of networks: applying it, weight and activation matching, REPAIR.

Permuting the hidden units of a network leaves its function unchanged (Hecht-Nielsen 1990).
:func:`permutation_spec` derives which parameter axes share one permutation from the module's
``torch.fx`` graph (residual adds tie permutations together, zero-padded shortcuts and
channel concatenations split them into blocks, a flatten after a conv moves blocks of
``H*W`` features; see :mod:`dltheory.probes._permutation_graph`). With the resulting
:class:`PermutationSpec`:

- :func:`apply_permutation` acts on a state dict (the permuted network computes the same
  function);
- :func:`weight_matching` and :func:`activation_matching` align network B to network A
  (Ainsworth, Hayase, Srinivasa, "Git Re-Basin", ICLR 2023, Sec. 3.1-3.2);
- :func:`repair` restores the per-unit statistics of an interpolated network (Jordan,
  Sedghi, Saukh, Entezari, Neyshabur, "REPAIR", ICLR 2023, Sec. 4).

Convention: a permutation ``p`` of a group of size k maps the new unit ``j`` to the old unit
``p[j]`` (a gather: ``W_new[j] = W_old[p[j]]``); matching returns the ``p`` with which
``apply_permutation(spec, params_b, p)`` is aligned to A. Index tensors live on the
parameters' device. Interpolating parameters is left to the landscape probes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
import torch.fx as fx
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from dltheory.core.errors import check_float, check_int
from dltheory.core.rng import numpy_generator
from dltheory.probes._permutation_graph import (
    SUPPORTED,
    PermutationGroup,
    PermutationSpec,
    PermutedAxis,
    UnsupportedModuleError,
    _analyze,
    _RepairSite,
    permutation_spec,
)

__all__ = [
    "SUPPORTED", "PermutationGroup", "PermutationSpec", "PermutedAxis", "UnsupportedModuleError",
    "activation_matching", "apply_permutation", "identity_permutation", "permutation_spec", "random_permutation",
    "repair", "weight_matching",
]

Perms = dict[str, Tensor]


# --------------------------------------------------------------------------- applying permutations


def identity_permutation(spec: PermutationSpec, *, device: torch.device | str | None = None) -> Perms:
    """The identity permutation of every group."""
    return {g.name: torch.arange(g.size, device=device) for g in spec.groups}


def random_permutation(spec: PermutationSpec, *, generator: torch.Generator) -> Perms:
    """A uniformly random permutation of every group (on the generator's device)."""
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator; got {type(generator).__name__}.")
    return {g.name: torch.randperm(g.size, generator=generator, device=generator.device) for g in spec.groups}


def _check_spec(spec: Any) -> PermutationSpec:
    if not isinstance(spec, PermutationSpec):
        raise TypeError(f"`spec` must be a PermutationSpec (from permutation_spec); got {type(spec).__name__}.")
    return spec


def _check_perms(spec: PermutationSpec, perms: Mapping[str, Tensor]) -> dict[str, Tensor]:
    if not isinstance(perms, Mapping):
        raise TypeError(f"`perms` must be a dict of group name -> index tensor; got {type(perms).__name__}.")
    sizes = {g.name: g.size for g in spec.groups}
    out = {}
    for k, p in perms.items():
        if k not in sizes:
            raise ValueError(f"`perms` key {k!r} is not a group of the spec; groups are {list(sizes)}.")
        p = torch.as_tensor(p)
        if p.ndim != 1 or p.numel() != sizes[k] or not torch.equal(torch.sort(p.long().cpu()).values, torch.arange(sizes[k])):
            raise ValueError(f"`perms[{k!r}]` must be a permutation of range({sizes[k]}); got {p.tolist()}.")
        out[k] = p.long()
    return out


def _axis_maps(spec: PermutationSpec, perms: Mapping[str, Tensor], state: Mapping[str, Tensor]) -> dict[tuple[str, int], Tensor]:
    """For every permuted ``(name, axis)``: the gather index over the whole axis."""
    maps: dict[tuple[str, int], Tensor] = {}
    for g in spec.groups:
        if g.name not in perms:
            continue
        for ax in g.axes:
            if ax.name not in state:
                if ax.buffer:
                    continue
                raise ValueError(f"the spec permutes '{ax.name}' but the parameters have no such key; keys are {list(state)[:8]}...")
            t = state[ax.name]
            need = (max(ax.units) + 1) * ax.inner
            if t.ndim <= ax.axis or t.shape[ax.axis] < need:
                raise ValueError(f"'{ax.name}' has shape {tuple(t.shape)}; the spec needs >= {need} entries on axis {ax.axis}.")
            key = (ax.name, ax.axis)
            if key not in maps:
                maps[key] = torch.arange(t.shape[ax.axis], device=t.device)
            pos = ax.positions(t.device)
            p = perms[g.name].to(t.device)
            src = pos.view(g.size, ax.inner)[p].reshape(-1)
            maps[key][pos] = src
    return maps


def apply_permutation(spec: PermutationSpec, params: Mapping[str, Tensor], perms: Mapping[str, Tensor]) -> dict[str, Tensor]:
    r"""The parameters (or full state dict) with every group's permutation applied.

    :math:`W'[\ldots, j, \ldots] = W[\ldots, p[j], \ldots]` along every axis of the group
    (``inner`` entries moved together per unit). The permuted network computes the same
    function. Keys not in the spec are passed through (same tensors); the input is not
    modified. Groups missing from ``perms`` stay as they are. Cost: one gather per permuted
    tensor axis.

    Args:
        spec: from :func:`permutation_spec`.
        params: parameter dict or ``state_dict()`` (buffers such as BatchNorm running
            statistics are permuted with their channel).
        perms: group name -> index tensor of size ``group.size``.
    """
    spec = _check_spec(spec)
    perms = _check_perms(spec, perms)
    maps = _axis_maps(spec, perms, params)
    out = dict(params)
    for (name, axis), idx in maps.items():
        out[name] = out[name].index_select(axis, idx)
    return out


# --------------------------------------------------------------------------- weight matching


def _unit_rows(w: Tensor, ax: PermutedAxis, k: int) -> Tensor:
    """The entries of ``w`` belonging to the group's units, as a (k, -1) matrix."""
    return w.movedim(ax.axis, 0).index_select(0, ax.positions(w.device)).reshape(k, -1)


def weight_matching(
    spec: PermutationSpec,
    params_a: Mapping[str, Tensor],
    params_b: Mapping[str, Tensor],
    *,
    max_iter: int = 100,
    seed: int = 0,
) -> Perms:
    r"""Permutations of B maximizing its weight inner product with A (Git Re-Basin, Algorithm 1).

    .. math:: \max_{\pi}\ \sum_{(W, \text{axes})} \langle W_A,\ \pi(W_B) \rangle

    Coordinate descent: groups are visited in a random order (from ``seed``); each solves the
    linear assignment :math:`\max_P \langle C, P\rangle`, :math:`C = \sum_{\text{axes of }g}
    W_A^{(g)}\,(W_B^{(g)})^\top` with the other axes of each tensor permuted by the current
    permutations (``scipy.optimize.linear_sum_assignment``), and is kept only if it raises the
    objective. Stops after a sweep with no improvement or ``max_iter`` sweeps. The result is a
    coordinate-wise maximum (the problem is NP-hard in general; Ainsworth et al. 2023, Sec. 3.2).

    Every tensor of the dicts that the spec permutes counts: pass ``named_parameters()`` for
    the weights only, or ``state_dict()`` to include BatchNorm running statistics. A tensor
    with the same group on two axes (a layer applied twice) enters through the current
    permutation of its other axis, as in Algorithm 1.

    Cost: per sweep, one assignment of size k per group (:math:`O(k^3)`) and one pass over
    the weights. Products run in the parameters' dtype; each cost matrix is summed in float64,
    and a step counts as an improvement only above 100 ulps of that dtype.

    Returns:
        group name -> permutation ``p`` (on the parameters' device) such that
        ``apply_permutation(spec, params_b, p)`` is aligned with ``params_a``.

    References: S. Ainsworth, J. Hayase, S. Srinivasa, "Git Re-Basin: merging models modulo
    permutation symmetries", ICLR 2023, Sec. 3.2, Algorithm 1.
    """
    spec = _check_spec(spec)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    for g in spec.groups:
        for ax in g.axes:
            if ax.buffer and ax.name not in params_a and ax.name not in params_b:
                continue
            for nm, d in (("params_a", params_a), ("params_b", params_b)):
                if ax.name not in d:
                    raise ValueError(f"`{nm}` has no tensor '{ax.name}', which the spec permutes.")
            if params_a[ax.name].shape != params_b[ax.name].shape:
                raise ValueError(f"'{ax.name}' has shape {tuple(params_a[ax.name].shape)} in A and {tuple(params_b[ax.name].shape)} in B.")
    device = next(iter(params_a.values())).device
    perms = identity_permutation(spec, device=device)
    rng = numpy_generator(seed, "weight_matching")
    # products in the parameters' dtype (float32 matmuls are twice as fast as float64), each
    # group's cost matrix accumulated in float64; an improvement must beat that dtype's rounding
    a64 = {k: v.detach() for k, v in params_a.items()}
    b64 = {k: v.detach().to(a64[k].dtype) if k in a64 else v.detach() for k, v in params_b.items()}
    rel_tol = 100 * max(torch.finfo(v.dtype).eps for v in a64.values() if v.is_floating_point())
    # Each term W_A W_B^T of a cost matrix depends only on the permutations of the groups on the
    # tensor's other axes: it is cached and recomputed when one of those changes, and a group whose
    # cost matrix is unchanged since its last assignment is skipped (the assignment would be the same).
    owners: dict[tuple[str, int], set[str]] = {}
    for g in spec.groups:
        for ax in g.axes:
            owners.setdefault((ax.name, ax.axis), set()).add(g.name)
    terms = {g.name: [(i, ax, sorted({h for (nm, axis), hs in owners.items() if nm == ax.name and axis != ax.axis for h in hs}))
                      for i, ax in enumerate(g.axes) if ax.name in b64] for g in spec.groups}
    a_rows = {(g.name, i): _unit_rows(a64[ax.name], ax, g.size) for g in spec.groups for i, ax, _ in terms[g.name]}
    version = {g.name: 0 for g in spec.groups}
    cache: dict[tuple[str, int], tuple[tuple[int, ...], Tensor]] = {}
    solved: dict[str, tuple] = {}
    for _ in range(max_iter):
        improved = False
        for gi in rng.permutation(len(spec.groups)):
            g = spec.groups[gi]
            keys = tuple(tuple(version[h] for h in deps) for _, _, deps in terms[g.name])
            if solved.get(g.name) == keys:
                continue
            maps = None
            C = torch.zeros(g.size, g.size, dtype=torch.float64, device=device)
            for (i, ax, _), key in zip(terms[g.name], keys, strict=True):
                hit = cache.get((g.name, i))
                if hit is None or hit[0] != key:
                    maps = _axis_maps(spec, perms, b64) if maps is None else maps
                    wb = b64[ax.name]
                    for (nm, axis), idx in maps.items():
                        if nm == ax.name and axis != ax.axis:
                            wb = wb.index_select(axis, idx)
                    hit = (key, (a_rows[(g.name, i)] @ _unit_rows(wb, ax, g.size).T).to(device, torch.float64))
                    cache[(g.name, i)] = hit
                C += hit[1]
            C_np = C.cpu().numpy()
            _, col = linear_sum_assignment(C_np, maximize=True)
            rows = np.arange(g.size)
            old = C_np[rows, perms[g.name].cpu().numpy()].sum()
            new = C_np[rows, col].sum()
            if new > old + rel_tol * max(1.0, abs(old)):
                perms[g.name] = torch.as_tensor(col, dtype=torch.long, device=device)
                version[g.name] += 1
                improved = True
            solved[g.name] = tuple(tuple(version[h] for h in deps) for _, _, deps in terms[g.name])
        if not improved:
            break
    return perms


# --------------------------------------------------------------------------- activations


def _iter_input_batches(data: Any) -> Iterator[tuple[Tensor, ...]]:
    """Tensor -> one batch; tuple/list of tensors -> one batch (inputs first); else an iterable of batches, read lazily."""
    def inputs(batch: Any) -> tuple[Tensor, ...]:
        if isinstance(batch, Tensor):
            return (batch,)
        if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
            return (batch[0],)
        raise TypeError(f"each batch must be a tensor or a tuple (inputs, ...) of tensors; got {type(batch).__name__}.")

    if isinstance(data, Tensor) or (isinstance(data, (tuple, list)) and data and all(isinstance(t, Tensor) for t in data)):
        yield inputs(data)
        return
    if not isinstance(data, Iterable):
        raise TypeError(f"`data` must be a tensor, a tuple of tensors or an iterable of batches; got {type(data).__name__}.")
    empty = True
    for b in data:
        empty = False
        yield inputs(b)
    if empty:
        raise ValueError("`data` must hold at least one batch; got an empty iterable.")


def _input_batches(data: Any) -> list[tuple[Tensor, ...]]:
    """:func:`_iter_input_batches` as a list (for probes that pass over the data more than once)."""
    return list(_iter_input_batches(data))


class _Recorder(fx.Interpreter):
    """Runs a traced module and keeps the outputs of chosen nodes; buffers are restored after each run."""

    def __init__(self, module: nn.Module, *, copy_module: bool = True):
        self.module_ = copy.deepcopy(module) if copy_module else module
        gm = fx.symbolic_trace(self.module_)
        super().__init__(gm)
        self.want: set[str] = set()
        self.kept: dict[str, Tensor] = {}
        self.names = {n.name for n in gm.graph.nodes}

    def record(self, want: Iterable[str], inputs: tuple[Tensor, ...]) -> dict[str, Tensor]:
        self.want, self.kept = set(want), {}
        missing = self.want - self.names
        if missing:
            raise ValueError(f"the model's graph has no node(s) {sorted(missing)}: it is not the architecture the spec was made for.")
        saved = {k: b.clone() for k, b in self.module_.named_buffers()}
        with torch.no_grad():
            self.run(*inputs)
            for k, b in self.module_.named_buffers():
                b.copy_(saved[k])
        return self.kept

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        if n.name in self.want:
            self.kept[n.name] = out
        return out


def _check_modules(**modules: Any) -> None:
    for name, m in modules.items():
        if not isinstance(m, nn.Module):
            raise TypeError(f"`{name}` must be a torch.nn.Module; got {type(m).__name__}.")


def _units_last(x: Tensor, dim: int) -> Tensor:
    """(samples, units): the unit dim moved last, everything else flattened into samples."""
    return x.movedim(dim, -1).reshape(-1, x.shape[dim]).double()


def activation_matching(model_a: nn.Module, model_b: nn.Module, spec: PermutationSpec, data: Any) -> Perms:
    r"""Permutations of B maximizing the correlation of its units with A's (Git Re-Basin, Sec. 3.1).

    For each group, the Pearson correlation :math:`\rho_{ij} = \mathrm{cov}(z^A_i, z^B_j) /
    (\sigma^A_i \sigma^B_j)` of unit i of A and unit j of B over the data (every example and
    spatial position a sample) at the group's sites (post-activation outputs; for residual
    groups the summed stream; correlations of several sites are summed), then
    :math:`\max_P \sum_i \rho_{i, p(i)}` by ``scipy.optimize.linear_sum_assignment``. Units
    with zero variance correlate 0. Each group is solved once (activations do not depend on
    the permutation of other groups).

    Cost: one forward pass of each model per batch; :math:`O(k^2)` memory per site.
    Models run in their current mode on deep copies (use ``eval()`` for BatchNorm running
    statistics and to turn dropout off); the inputs are not modified.

    Args:
        model_a, model_b: networks of the architecture ``spec`` was made for.
        spec: from :func:`permutation_spec`.
        data: input tensor, tuple ``(inputs, ...)``, or iterable of such batches.

    Returns:
        group name -> ``p`` such that ``apply_permutation(spec, model_b.state_dict(), p)`` is
        aligned with A.

    References: S. Ainsworth, J. Hayase, S. Srinivasa, "Git Re-Basin", ICLR 2023, Sec. 3.1
    (after Li et al. 2016, "Convergent learning").
    """
    spec = _check_spec(spec)
    _check_modules(model_a=model_a, model_b=model_b)
    batches = _input_batches(data)
    rec_a, rec_b = _Recorder(model_a), _Recorder(model_b)
    sites = {(n, d) for g in spec.groups for n, d, _ in g.sites}
    acc: dict[str, dict[str, Tensor]] = {}
    for inputs in batches:
        za = rec_a.record({n for n, _ in sites}, inputs)
        zb = rec_b.record({n for n, _ in sites}, inputs)
        for n, d in sites:
            A, B = _units_last(za[n], d), _units_last(zb[n], d)
            s = acc.setdefault(n, {"n": torch.zeros((), dtype=torch.float64, device=A.device), "sa": 0, "sb": 0, "saa": 0, "sbb": 0, "sab": 0})
            s["n"] = s["n"] + A.shape[0]
            s["sa"] = s["sa"] + A.sum(0)
            s["sb"] = s["sb"] + B.sum(0)
            s["saa"] = s["saa"] + (A * A).sum(0)
            s["sbb"] = s["sbb"] + (B * B).sum(0)
            s["sab"] = s["sab"] + A.T @ B
    corr: dict[str, Tensor] = {}
    for n, s in acc.items():
        ma, mb = s["sa"] / s["n"], s["sb"] / s["n"]
        sa = (s["saa"] / s["n"] - ma * ma).clamp_min(0).sqrt()
        sb = (s["sbb"] / s["n"] - mb * mb).clamp_min(0).sqrt()
        cov = s["sab"] / s["n"] - ma[:, None] * mb[None, :]
        den = sa[:, None] * sb[None, :]
        corr[n] = torch.where(den > 0, cov / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(cov))
    device = next(iter(model_a.parameters())).device
    perms: Perms = {}
    for g in spec.groups:
        if not g.sites:
            perms[g.name] = torch.arange(g.size, device=device)
            continue
        C = sum(corr[n][list(u)][:, list(u)] for n, _, u in g.sites)
        _, col = linear_sum_assignment(C.cpu().numpy(), maximize=True)
        perms[g.name] = torch.as_tensor(col, dtype=torch.long, device=device)
    return perms


# --------------------------------------------------------------------------- REPAIR


def _site_stats(rec: _Recorder, sites: list[_RepairSite], batches: list[tuple[Tensor, ...]]) -> dict[str, tuple[Tensor, Tensor]]:
    """Per-unit mean and (population) std of each site's output over all batches (float64)."""
    acc: dict[str, list[Tensor]] = {}
    for inputs in batches:
        z = rec.record({s.node for s in sites}, inputs)
        for s in sites:
            A = _units_last(z[s.node], s.dim)
            a = acc.setdefault(s.node, [torch.zeros((), dtype=torch.float64, device=A.device), 0, 0])
            a[0], a[1], a[2] = a[0] + A.shape[0], a[1] + A.sum(0), a[2] + (A * A).sum(0)
    out = {}
    for s in sites:
        n, s1, s2 = acc[s.node]
        mean = s1 / n
        out[s.node] = (mean, (s2 / n - mean * mean).clamp_min(0).sqrt())
    return out


def repair(model_interp: nn.Module, model_a: nn.Module, model_b: nn.Module, alpha: float, data: Any) -> nn.Module:
    r"""REPAIR: give each unit of the interpolated network the interpolated statistics of A and B.

    For every Linear/Conv layer whose units are hidden (pre-activation outputs; when a
    BatchNorm directly follows, its output), the per-unit mean and standard deviation of the
    interpolated network are set, layer by layer in graph order, to

    .. math:: \mu^\ast = (1-\alpha)\mu_A + \alpha\mu_B,\qquad \sigma^\ast = (1-\alpha)\sigma_A + \alpha\sigma_B

    by the affine map :math:`z \mapsto \sigma^\ast (z - \mu)/\sigma + \mu^\ast` folded into the
    layer's weight rows and bias (or the BatchNorm's weight and bias; a missing bias is
    added). A unit with :math:`\sigma = 0` is only shifted. Statistics are over all examples
    and spatial positions of ``data`` (population std), in float64.

    Cost: one forward pass over ``data`` for each of A and B, plus one per corrected layer
    for the interpolated network (each correction changes the statistics after it).
    Models run in their current mode; in train mode BatchNorm uses batch statistics and its
    running statistics are left as they were. Nothing passed in is modified.

    Args:
        model_interp: the interpolated network (e.g. from averaging aligned parameters).
        model_a, model_b: the end points, aligned to each other (same architecture).
        alpha: interpolation weight of B, in [0, 1].
        data: input tensor, tuple ``(inputs, ...)``, or iterable of such batches.

    Returns:
        a new module: a deep copy of ``model_interp`` with corrected parameters.

    References: K. Jordan, H. Sedghi, O. Saukh, R. Entezari, B. Neyshabur, "REPAIR:
    REnormalizing Permuted Activations for Interpolation Repair", ICLR 2023, Sec. 4.
    """
    _check_modules(model_interp=model_interp, model_a=model_a, model_b=model_b)
    alpha = check_float("alpha", alpha, minimum=0.0, maximum=1.0)
    batches = _input_batches(data)
    sites = _analyze(model_interp, batches[0]).repair_sites
    stats_a = _site_stats(_Recorder(model_a), sites, batches)
    stats_b = _site_stats(_Recorder(model_b), sites, batches)
    out = copy.deepcopy(model_interp)
    rec = _Recorder(out, copy_module=False)
    for s in sites:
        mu, sd = _site_stats(rec, [s], batches)[s.node]
        (ma, sa), (mb, sb) = stats_a[s.node], stats_b[s.node]
        mu_t, sd_t = (1 - alpha) * ma + alpha * mb, (1 - alpha) * sa + alpha * sb
        scale = torch.where(sd > 0, sd_t / torch.where(sd > 0, sd, torch.ones_like(sd)), torch.ones_like(sd))
        m = out.get_submodule(s.module)
        w_axis = 1 if isinstance(m, nn.modules.conv._ConvNd) and m.transposed else 0
        with torch.no_grad():
            w = m.weight
            shape = [1] * w.ndim
            shape[w_axis] = -1
            new_w = (w.double() * scale.view(shape)).to(w.dtype)
            bias = m.bias.double() if m.bias is not None else torch.zeros_like(mu)
            new_b = (scale * (bias - mu) + mu_t).to(w.dtype)
        m.weight = nn.Parameter(new_w, requires_grad=w.requires_grad)
        m.bias = nn.Parameter(new_b, requires_grad=w.requires_grad)
    return out
